"""`make bench` rows for the store: a busy account's drain and per-login cost, the history query, kill -9.

Every time is shown beside the floor measured in the same run (`python3 -S -c pass`) as a ratio.
"""

import collections
import json
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

from bench import PYTHON, PYZ, check_command, make_home, median_ms, timed
from support.mailsink import MailSink

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.store import history  # noqa: E402
from app.store.store import opened  # noqa: E402

Row = Tuple[str, str, str]


def floor_ms(environ: Dict[str, str], rounds: int = 15) -> float:
    return median_ms([timed([PYTHON, "-S", "-c", "pass"], environ)[0] for _ in range(rounds)])


def login_line(number: int, addresses: int, epoch: float) -> bytes:
    address = "10.{}.{}.{}".format(number % addresses // 62500, number % addresses // 250 % 250, number % 250 + 1)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S +0000", time.gmtime(epoch))
    return "{} {} deploy publickey cport={} saddr=10.0.0.1 sport=22 tty=none hook=bashrc kind=command epoch={:.0f}\n"\
        .format(stamp, address, 20000 + number % 40000, epoch).encode()


def append(home: Path, lines: List[bytes]) -> None:
    with open(str(home / ".local" / "state" / "ssh-alert" / "logins.log"), "ab") as handle:
        handle.write(b"".join(lines))


def one_login_samples(home: Path, environ: Dict[str, str], sink: MailSink, rounds: int,
                      first: int) -> List[Tuple[float, int]]:
    samples = []
    for number in range(first, first + rounds):
        append(home, [login_line(number, 1 << 30, time.time())])
        sink.clear()
        samples.append(timed(check_command(), environ))
        sink.wait_for(1, timeout=30)
    return samples


def bench_busy_account(base: Path, sink: MailSink, logins: int = 100_000, addresses: int = 20_000,
                       rounds: int = 15) -> List[Row]:
    """Drain 100,000 pending logins from 20,000 addresses; then one new login there and on a fresh account."""
    policy = "max_per_hour = 10000\n"  # the default digest_after: the backlog goes out as digests
    busy, busy_environ = make_home(base, sink, "busy", policy=policy)
    fresh, fresh_environ = make_home(base, sink, "fresh", policy=policy)
    for environ in (busy_environ, fresh_environ):
        subprocess.run(check_command(), env=environ, check=True)  # seed
    start = time.time() - logins
    append(busy, [login_line(number, addresses, start + number) for number in range(logins)])
    sink.clear()
    drain, _ = timed(check_command(), busy_environ)
    emails = len(sink.wait_for(1, timeout=30))
    time.sleep(0.5)
    emails = len(sink.messages)
    floor = floor_ms(fresh_environ)
    samples = {"busy": [], "fresh": []}  # type: Dict[str, List[Tuple[float, int]]]
    for round_number in range(rounds):  # interleaved: drift in machine load hits both alike
        samples["busy"] += one_login_samples(busy, busy_environ, sink, 1, logins + round_number)
        samples["fresh"] += one_login_samples(fresh, fresh_environ, sink, 1, logins + round_number)
    busy_ms, fresh_ms = (median_ms([sample[0] for sample in samples[name]]) for name in ("busy", "fresh"))
    peak = max(sample[1] for sample in samples["busy"]) / 1024
    return [("drain {:,} pending logins from {:,} addresses".format(logins, addresses),
             "{:.1f} s, {} email(s)".format(drain, emails), "≤ 30 s"),
            ("one login's check, fresh account", "{:.0f} ms ({:.1f}x floor)".format(fresh_ms, fresh_ms / floor), ""),
            ("one login's check, after those 100,000", "{:.0f} ms, {:.1f} MiB peak".format(busy_ms, peak),
             "≤ 40 MiB"),
            ("  ratio busy / fresh", "{:.2f}x".format(busy_ms / fresh_ms), "≤ 1.2x"),
            ("  floor: python3 -S -c pass", "{:.1f} ms".format(floor), "")]


def bench_history_query(base: Path, sink: MailSink, recorded: int = 1_000_000) -> List[Row]:
    """`history --since 1h --ip ADDR` over 1,000,000 recorded logins written straight into a store."""
    home, environ = make_home(base, sink, "history")
    store_file = home / ".local" / "state" / "ssh-alert" / "store.db"
    now = time.time()
    template = dict(time="", epoch=0.0, user="deploy", ip="", rdns="", methods=["publickey"],
                    key="ssh-ed25519 SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s", key_comment="ci@deploy",
                    kind="command", outcome=history.EMAILED, new_ip=False, trusted=False, log_key="", raw="")
    with opened(store_file) as store:
        with store.transaction():
            store.set_position(None)
        for chunk in range(0, recorded, 100_000):
            rows = []
            for number in range(chunk, chunk + 100_000):
                epoch = now - (recorded - number) * 30.0  # one login every 30 s: about a year
                address = "10.{}.{}.{}".format(number % 20000 // 62500, number % 20000 // 250 % 250,
                                               number % 250 + 1)
                entry = dict(template, time=time.strftime("%Y-%m-%d %H:%M:%S +0000", time.gmtime(epoch)),
                             epoch=epoch, ip=address, log_key="1:2:{}".format(number))
                rows.append((entry["log_key"], epoch, address, json.dumps(entry, sort_keys=True)))
            with store.transaction():
                store.add_history(rows)
    target = "10.0.0.{}".format((recorded - 1) % 250 + 1)
    command = [PYTHON, str(PYZ), "history", "--since", "1h", "--ip", target]
    subprocess.run(command, env=environ, check=True, capture_output=True)
    samples = [timed(command, environ) for _ in range(7)]
    elapsed = median_ms([sample[0] for sample in samples])
    floor = floor_ms(environ)
    return [("history --since 1h --ip ADDR, {:,} recorded".format(recorded),
             "{:.0f} ms ({:.1f}x floor)".format(elapsed, elapsed / floor), "≤ 300 ms"),
            ("  store size", "{:.0f} MB ({:.0f} bytes a login)".format(
                store_file.stat().st_size / 1e6, store_file.stat().st_size / recorded), "")]


def bench_kill_nine(base: Path, sink: MailSink, per_run: int = 30, kills: int = 60, seed: int = 2026) -> List[Row]:
    """kill -9 check 60 times at a random moment while it sends alerts one by one (30 new logins before each
    run, so every kill finds work); count lost and duplicated logins."""
    home, environ = make_home(base, sink, "kill", policy="max_per_hour = 10000\ndigest_after = 1000\n"
                              "reverse_dns = no\n")  # every kill lands while sending, not in a DNS wait
    subprocess.run(check_command(), env=environ, check=True)
    sink.clear()
    chooser = random.Random(seed)
    killed_while_pending = 0
    for round_number in range(kills):
        append(home, [login_line(number, 1 << 30, time.time())
                      for number in range(round_number * per_run, (round_number + 1) * per_run)])
        process = subprocess.Popen(check_command(), env=environ, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        time.sleep(chooser.uniform(0.1, 0.3))
        if process.poll() is None:
            killed_while_pending += 1
        process.send_signal(signal.SIGKILL)
        process.wait()
    subprocess.run(check_command(), env=environ, check=True)
    time.sleep(0.5)
    # A login counts as delivered when an email names its address: its own alert's subject, or a digest's body
    # (a kill that lands before the first send leaves the logins to a later run, which may send a digest).
    copies = collections.defaultdict(list)
    for received in sink.messages:
        subject = received.message["Subject"]
        if "SSH logins: " in subject:  # a digest: one line per login, "deploy@ADDRESS ..."
            addresses = set(re.findall(r"deploy@([0-9.]+) ", received.message.get_body(("plain",)).get_content()))
        else:  # one login: "SSH login: deploy@HOST from ADDRESS"
            addresses = {subject.rsplit(" ", 1)[-1]}
        for address in addresses:
            copies[address].append(received.message["Message-ID"])
    duplicated = sum(len(ids) - 1 for ids in copies.values())
    new_ids = sum(len(set(ids)) - 1 for ids in copies.values())
    # One digest sent again after a kill repeats every login it lists: count the emails too.
    repeated_emails = sum(count - 1 for count in collections.Counter(
        received.message["Message-ID"] for received in sink.messages).values())
    alerts = kills * per_run
    digests = sum("SSH logins: " in received.message["Subject"] for received in sink.messages)
    return [("kill -9 x{} ({} mid-run) while sending {} alerts: lost".format(kills, killed_while_pending, alerts),
             "{} ({} emails, {} of them digests)".format(alerts - len(copies), len(sink.messages), digests), "0"),
            ("  duplicated logins (with a new Message-ID)", "{} ({})".format(duplicated, new_ids), "≤ 3 (0)"),
            ("  emails delivered twice, each with its first copy's Message-ID", str(repeated_emails), "")]
