"""`make bench` rows for the push channels: one login's check with email alone, then with email and three push
channels (ntfy, Slack, Discord) on real HTTPS servers on loopback; then with each server taking 100 ms to
answer, which only parallel sending keeps near one server's delay."""

import json
import subprocess
import time
from pathlib import Path
from typing import Dict, List, Tuple

from bench import PYTHON, check_command, make_home, median_ms, timed
from support.httpsworld import HttpsWorld
from support.mailsink import MailSink

ROUNDS = 15


def _configure_push(home: Path, worlds: Dict[str, HttpsWorld]) -> None:
    config = home / ".config" / "ssh-alert" / "config.ini"
    text = config.read_text().replace("[alert]\n", "[alert]\nchannels = email, ntfy, slack, discord\n")
    text += "[ntfy]\nurl = {}/alerts\nsecret_store = none\nca_file = {}\n".format(worlds["ntfy"].url, worlds["ntfy"].ca_file)
    text += "[slack]\nsecret_store = file\nca_file = {}\n".format(worlds["slack"].ca_file)
    text += "[discord]\nsecret_store = file\nca_file = {}\n".format(worlds["discord"].ca_file)
    config.write_text(text)
    # where setup --channel keeps the webhook URLs on a server without an OS keyring: the password file
    secrets = home / ".local" / "share" / "ssh-alert" / "secrets.json"
    secrets.parent.mkdir(parents=True, exist_ok=True)
    secrets.write_text(json.dumps({"ssh-alert": {"channel:slack": worlds["slack"].url + "/services/T/B/x",
                                                 "channel:discord": worlds["discord"].url + "/api/webhooks/1/x"}}))
    secrets.chmod(0o600)


def _one_login_times(home: Path, environ: Dict[str, str], rounds: int) -> List[float]:
    """Wall seconds of check for one new login each round (the hook's check, without the hand-off)."""
    subprocess.run(check_command(), env=environ, check=True)  # seed
    log = home / ".local" / "state" / "ssh-alert" / "logins.log"
    samples = []
    for number in range(rounds):
        with open(str(log), "ab") as handle:
            handle.write("2026-11-25 11:55:03 +0000 203.0.113.7 alice publickey cport={} saddr=10.0.0.1 sport=22 "
                         "tty=/dev/pts/0 hook=bash-profile\n".format(45000 + number).encode())
        samples.append(timed(check_command(), environ)[0])
    return samples


def bench_channels(base: Path, sink: MailSink) -> List[Tuple[str, str, str]]:
    home, environ = make_home(base, sink, "email-only")
    email_only = median_ms(_one_login_times(home, environ, ROUNDS))
    worlds = {name: HttpsWorld(api=name) for name in ("ntfy", "slack", "discord")}
    try:
        home, environ = make_home(base, sink, "email-and-push")
        environ = dict(environ, no_proxy="127.0.0.1,localhost")
        _configure_push(home, worlds)
        pushed = median_ms(_one_login_times(home, environ, ROUNDS))
        delivered = min(len(world.requests) for world in worlds.values())

        def slow(recorded):  # type: ignore[no-untyped-def]
            time.sleep(0.1)
            return (200, {"Content-Type": "application/json"}, b"ok" if "/services/" in recorded.path else b'{"id":"1"}')

        for world in worlds.values():
            world.responder = slow
        home, environ = make_home(base, sink, "email-and-slow-push")
        environ = dict(environ, no_proxy="127.0.0.1,localhost")
        _configure_push(home, worlds)
        slow_pushed = median_ms(_one_login_times(home, environ, 7))
    finally:
        for world in worlds.values():
            world.close()
    floor = median_ms([timed([PYTHON, "-S", "-c", "pass"], environ)[0] for _ in range(15)])
    return [("check, one login, email alone (median)", "{:.0f} ms ({:.1f}x floor)".format(email_only, email_only / floor),
             ""),
            ("  email + ntfy + Slack + Discord (HTTPS, loopback)", "+{:.0f} ms ({} of {} pushed)".format(
                pushed - email_only, delivered, ROUNDS), "≤ +30 ms"),
            ("  same, each push server answering after 100 ms", "+{:.0f} ms".format(slow_pushed - email_only),
             "≈ +100 (parallel), not +300"),
            ("  floor: python3 -S -c pass (median)", "{:.1f} ms".format(floor), "")]
