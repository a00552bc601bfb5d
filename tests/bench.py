"""`make bench`: what ssh_alert costs a login, measured on this machine, printed as a table.

- the login hook's cost on a login shell (median, against an empty `sh -c`), without and with the pyz;
- `check` with nothing new at 10 and at 1,000,000 log lines: wall time and peak memory;
- from the hook's start to the alert accepted by a loopback SMTP server;
- the ten slowest imports of the hook's ``check`` (``-X importtime``);
- the login check with geoip_db set against without (tests/bench_geoip.py).
Every time is also given as a ratio to the floor, ``python3 -S -c pass``, measured first: on a loaded machine
the ratios drift less than the times. Run with PYTHONDONTWRITEBYTECODE unset (the Makefile does), as on a
user's machine.
"""

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(ROOT))  # the test support modules import app

from support.hookrun import hook_command  # noqa: E402
from support.mailsink import MailSink, TestCA  # noqa: E402

PYZ = ROOT / "dist" / "ssh_alert.pyz"
SNIPPET = ROOT / "bash_profile.snippet"
PYTHON = os.path.realpath(sys.executable)
LINE = (b"2026-11-25 11:55:03 +0000 203.0.113.7 alice publickey cport=51234 saddr=10.0.0.1 sport=22 "
        b"tty=/dev/pts/0 hook=bash-profile\n")
LATENCY_TARGETS = {"plain SMTP": "≤ 7x floor", "STARTTLS + AUTH, keyring file": "≤ 8x floor"}


def hook_line(port: int) -> bytes:
    """A login line as today's hook writes it (with epoch=, which spares check a strptime)."""
    return "{} +0000 203.0.113.7 alice publickey cport={} saddr=10.0.0.1 sport=22 tty=/dev/pts/0 " \
        "hook=bash-profile epoch={}\n".format(time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), port,
                                            int(time.time())).encode()


# A small intermediary forks and execs the measured command and reports its peak RSS: ru_maxrss also
# counts the memory a child shared with its parent before exec, and this benchmark's process is large.
RUNNER = """
import os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    fd = os.open(os.devnull, os.O_RDWR)
    for target in (0, 1, 2):
        os.dup2(fd, target)
    os.execvpe(sys.argv[1], sys.argv[1:], os.environ)
_, status, usage = os.wait4(pid, 0)
print(time.perf_counter() - started, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def timed(command: List[str], environ: Dict[str, str]) -> Tuple[float, int]:
    """Run command; return (wall seconds, peak RSS in KiB of the command alone)."""
    output = subprocess.run([PYTHON, "-S", "-c", RUNNER] + command, env=environ, stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, check=True).stdout.split()
    if output[2] != "0":
        raise SystemExit("failed: {}".format(" ".join(command)))
    return float(output[0]), int(output[1])


def median_ms(samples: List[float]) -> float:
    return statistics.median(samples) * 1000


def make_home(base: Path, sink: MailSink, name: str, policy: str = "max_per_hour = 10000\ndigest_after = 1000\n"
              ) -> Tuple[Path, Dict[str, str]]:
    """A HOME with the pyz and a config; by default every login is its own email (no digest, no limit)."""
    home = base / name
    (home / "bin").mkdir(parents=True)
    shutil.copy2(str(PYZ), str(home / "bin" / "ssh_alert.pyz"))
    (home / ".config" / "ssh-alert").mkdir(parents=True)
    (home / ".config" / "ssh-alert" / "config.ini").write_text(
        "[alert]\nto = you@example.com\nfrom = ssh-alert@example.com\nhost_label = bench.example.com\n{}"
        "[smtp]\nhost = {}\nport = {}\nsecurity = none\n".format(policy, sink.host, sink.port))
    environ = {"HOME": str(home), "PATH": os.path.dirname(PYTHON) + ":/usr/bin:/bin", "LANG": "C.UTF-8",
               "SHIV_ROOT": str(base / "shiv")}
    return home, environ


def check_command() -> List[str]:
    return [PYTHON, "-S", str(PYZ), "check"]  # as the hook runs it


def bench_hook_cost(base: Path, sink: MailSink, rounds: int = 60) -> List[Tuple[str, str, str]]:
    home, environ = make_home(base, sink, "hook")
    login = dict(environ, USER="alice", SSH_CONNECTION="203.0.113.7 51234 10.0.0.1 22")
    subprocess.run(check_command(), env=environ, check=True)  # extract and seed
    empty_script = base / "empty.sh"
    empty_script.write_text("")
    empty = hook_command(snippet=empty_script)  # the same sshd -> sh chain, sourcing nothing
    hook = hook_command()
    record_only = dict(login, HOME=str(home))
    baseline, recording, full = [], [], []
    pyz_path = home / "bin" / "ssh_alert.pyz"
    for _ in range(rounds):
        baseline.append(timed(empty, login)[0])
        pyz_path.rename(pyz_path.with_suffix(".off"))  # the hook only records
        recording.append(timed(hook, record_only)[0])
        pyz_path.with_suffix(".off").rename(pyz_path)
        full.append(timed(hook, login)[0])
        time.sleep(0.15)  # let the detached check finish so rounds do not pile up
    base_ms = median_ms(baseline)
    return [("login hook: record only (pyz absent)", "+{:.1f} ms".format(median_ms(recording) - base_ms),
             "≤ 5 ms"),
            ("login hook: record + hand-off until the alert is accepted", "+{:.1f} ms".format(
                median_ms(full) - base_ms), ""),
            ("  (baseline: the same shell sourcing an empty file)", "{:.1f} ms".format(base_ms), "")]


def bench_check_scaling(base: Path, sink: MailSink, rounds: int = 15) -> List[Tuple[str, str, str]]:
    sizes = (10, 1_000_000)
    environments = {}
    for lines in sizes:
        home, environ = make_home(base, sink, "scale{}".format(lines))
        log = home / ".local" / "state" / "ssh-alert" / "logins.log"
        log.parent.mkdir(parents=True)
        with open(str(log), "wb") as handle:
            block = LINE * 10_000
            for _ in range(lines // 10_000):
                handle.write(block)
            handle.write(LINE * (lines % 10_000))
        subprocess.run(check_command(), env=environ, check=True)  # seeds at the end
        environments[lines] = environ
    os.sync()  # keep the write-back of the big log out of the measurements
    samples: Dict[int, List[Tuple[float, int]]] = {lines: [] for lines in sizes}
    for _ in range(rounds):  # interleaved, so drift in machine load hits both sizes alike
        for lines in sizes:
            samples[lines].append(timed(check_command(), environments[lines]))
    results = {lines: (median_ms([sample[0] for sample in samples[lines]]),
                       max(sample[1] for sample in samples[lines])) for lines in sizes}
    rows = [("check, nothing new, {:,} log lines".format(lines),
             "{:.1f} ms, {:.1f} MiB peak".format(results[lines][0], results[lines][1] / 1024), "< 40 MiB")
            for lines in sizes]
    rows.append(("  ratio 1,000,000 / 10 lines", "{:.2f}x".format(results[1_000_000][0] / results[10][0]),
                 "≤ 1.2x"))
    return rows


def latency_samples(environ: Dict[str, str], sink: MailSink, rounds: int) -> Tuple[List[float], List[float]]:
    """Seconds from starting the hook to the sink accepting the alert, one login at a time, and the floor
    (``python3 -S -c pass``) measured just before each: on a shared machine the load drifts within a run."""
    subprocess.run(check_command(), env=environ, check=True)
    samples, floors = [], []
    for number in range(rounds):
        sink.clear()
        floors.append(timed([PYTHON, "-S", "-c", "pass"], environ)[0])
        login = dict(environ, USER="alice", SSH_CONNECTION="203.0.113.7 {} 10.0.0.1 22".format(40000 + number))
        started = time.monotonic()
        subprocess.run(hook_command(), env=login, check=True, stdin=subprocess.DEVNULL)
        (received,) = sink.wait_for(1, timeout=30)
        samples.append(received.received_at - started)
        time.sleep(0.2)
    return sorted(samples), floors


def bench_latency(base: Path, sink: MailSink, rounds: int = 20) -> List[Tuple[str, str, str]]:
    rows = []
    _, environ = make_home(base, sink, "latency")
    ca = TestCA()
    with MailSink("starttls", cert=ca.leaf(), auth={"alice": "s3cret"}) as tls_sink:
        home, tls_environ = make_home(base, tls_sink, "latency-tls")
        ca_file = ca.write_ca_pem(base / "ca.pem")
        config = home / ".config" / "ssh-alert" / "config.ini"
        config.write_text(config.read_text().replace("security = none", "security = starttls\nhost = localhost\n"
                                                     "user = alice\npassword_store = file\nca_file = {}".format(
                                                         ca_file)).replace("host = 127.0.0.1\n", ""))
        secrets = home / ".local" / "share" / "ssh-alert" / "secrets.json"
        secrets.parent.mkdir(parents=True)
        secrets.write_text('{"ssh-alert": {"alice": "s3cret"}}')
        secrets.chmod(0o600)
        for name, (samples, floors) in (("plain SMTP", latency_samples(environ, sink, rounds)),
                                        ("STARTTLS + AUTH, keyring file", latency_samples(tls_environ, tls_sink,
                                                                                          rounds))):
            floor = median_ms(floors)
            rows.append(("hook start → alert accepted, {} (median)".format(name),
                         "{:.0f} ms ({:.1f}x floor)".format(median_ms(samples), median_ms(samples) / floor),
                         LATENCY_TARGETS[name]))
            rows.append(("  90th percentile / max", "{:.0f} ms / {:.0f} ms".format(
                samples[int(len(samples) * 0.9) - 1] * 1000, samples[-1] * 1000), ""))
            rows.append(("  floor: python3 -S -c pass, median of one before each login", "{:.1f} ms".format(floor),
                         ""))
    return rows


def importtime_rows(stderr: str) -> Dict[str, Tuple[int, int]]:
    """{module: (self µs, cumulative µs)} from ``python -X importtime`` output."""
    rows = {}
    for line in stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2 and "imported package" not in line:
            own, cumulative, name = line[len("import time:"):].split("|")
            rows[name.strip()] = (int(own), int(cumulative))
    return rows


def bench_imports(base: Path, sink: MailSink, rounds: int = 9) -> List[Tuple[str, str, str]]:
    """The hook's ``check --hook-wait`` alerting one login over plain SMTP, under ``-X importtime``: the medians
    of each module's own import time over every run (0 in a run that did not import it, such as what the first
    run of a day looks up once), summed, and the ten slowest."""
    home, environ = make_home(base, sink, "imports")
    subprocess.run(check_command(), env=environ, check=True)  # seed
    log = home / ".local" / "state" / "ssh-alert" / "logins.log"
    samples: Dict[str, List[Tuple[int, int]]] = {}
    for number in range(rounds):
        sink.clear()
        connection = "203.0.113.7 {} 10.0.0.1 22".format(30000 + number)
        with open(str(log), "ab") as handle:
            handle.write(hook_line(30000 + number))
        login = dict(environ, USER="alice", SSH_CONNECTION=connection)
        finished = subprocess.run([PYTHON, "-X", "importtime", "-S", str(PYZ), "check", "--hook-wait", "3"],
                                  env=login, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=True)
        sink.wait_for(1, timeout=30)
        for name, times in importtime_rows(finished.stderr).items():
            samples.setdefault(name, []).append(times)
    for times in samples.values():
        times.extend([(0, 0)] * (rounds - len(times)))
    medians = {name: (statistics.median(own for own, _ in times) / 1000,
                      statistics.median(cumulative for _, cumulative in times) / 1000)
               for name, times in samples.items()}
    medians = {name: times for name, times in medians.items() if times[0] or times[1]}  # imported in most runs
    rows = [("hook's check, plain SMTP: imports ({} modules, sum of own times)".format(len(medians)),
             "{:.1f} ms".format(sum(own for own, _ in medians.values())), "")]
    slowest = sorted(medians.items(), key=lambda item: -item[1][0])[:10]
    rows += [("  {:>2}. {}".format(rank, name), "{:.1f} ms own, {:.1f} ms cumulative".format(own, cumulative), "")
             for rank, (name, (own, cumulative)) in enumerate(slowest, 1)]
    return rows


def with_ratios(result: str, floor: float) -> str:
    """result with each time not already compared to the floor followed by its ratio to it: 12 ms (1.5x)."""
    if "floor)" in result or "cumulative" in result:  # compared already, or an import (a fraction of it)
        return result

    def ratio(match: "re.Match[str]") -> str:
        milliseconds = float(match.group(1)) * (1000 if match.group(2) == "s" else 1)
        return "{} ({}{:.1f}x)".format(match.group(0), "+" if match.group(1).startswith("+") else "",
                                      milliseconds / floor)

    return re.sub(r"([+-]?\d+(?:\.\d+)?) (ms|s)\b", ratio, result)


def bench_startup(base: Path, sink: MailSink, rounds: int = 15) -> List[Tuple[str, str, str]]:
    home, environ = make_home(base, sink, "startup")
    environ = dict(environ, SHIV_ROOT=str(base / "fresh-shiv"))
    first = timed([PYTHON, str(PYZ), "--version"], environ)[0]
    warm = [timed([PYTHON, str(PYZ), "--version"], environ)[0] for _ in range(rounds)]
    bare = [timed([PYTHON, "-S", "-c", "pass"], environ)[0] for _ in range(rounds)]
    return [("pyz --version, first run (unpacks)", "{:.0f} ms".format(first * 1000), ""),
            ("pyz --version, warm (median)", "{:.0f} ms".format(median_ms(warm)), ""),
            ("  python3 -S -c pass (median)", "{:.0f} ms".format(median_ms(bare)), "")]


def bench_digest(base: Path, sink: MailSink) -> List[Tuple[str, str, str]]:
    """1,000 pending logins from 1,000 addresses, default policy (digest_after 3, max_per_hour 20)."""
    home, environ = make_home(base, sink, "digest", policy="")
    subprocess.run(check_command(), env=environ, check=True)  # seed
    log = home / ".local" / "state" / "ssh-alert" / "logins.log"
    with open(str(log), "ab") as handle:
        for number in range(1000):
            handle.write("2026-11-25 11:55:03 +0000 10.{}.{}.1 alice publickey cport={} saddr=10.0.0.1 sport=22 "
                         "tty=none hook=bashrc kind=command\n".format(number // 250, number % 250,
                                                                       30000 + number).encode())
    sink.clear()
    elapsed = timed(check_command(), environ)[0]
    time.sleep(0.2)
    return [("check, 1,000 pending logins (default policy, reverse DNS on)",
             "{:.0f} ms, {} email(s)".format(elapsed * 1000, len(sink.messages)), "< 1 s, ≤ 20 emails")]


def main() -> int:
    if not PYZ.exists():
        print("build first: make build", file=sys.stderr)
        return 2
    print("ssh_alert benchmark: {} on Python {} ({} CPUs)".format(PYZ.name, sys.version.split()[0], os.cpu_count()))
    rows: List[Tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="ssh-alert-bench-") as temporary, MailSink("plain") as sink:
        base = Path(temporary)
        floor = median_ms([timed([PYTHON, "-S", "-c", "pass"], {"PATH": "/usr/bin:/bin"})[0] for _ in range(21)])
        rows.append(("floor: python3 -S -c pass (median; ratios below are to it)", "{:.1f} ms".format(floor), ""))
        from bench_channels import bench_channels
        from bench_geoip import bench_geoip
        from bench_sshd import bench_pam_sshd, bench_real_sshd
        from bench_store import bench_busy_account, bench_history_query, bench_kill_nine
        from bench_tls import bench_tls_trust

        sections: List[Callable[[Path, MailSink], List[Tuple[str, str, str]]]] = [
            bench_startup, bench_hook_cost, bench_check_scaling, bench_latency, bench_tls_trust, bench_imports,
            bench_digest,
            bench_busy_account, bench_history_query, bench_kill_nine, bench_real_sshd, bench_pam_sshd, bench_channels,
            bench_geoip]
        only = os.environ.get("BENCH_ONLY")
        if only:  # e.g. BENCH_ONLY=bench_kill_nine,bench_busy_account while working on one part
            sections = [section for section in sections if section.__name__ in only.split(",")]
        for section in sections:
            rows.extend(section(base, sink))
    rows = [rows[0]] + [(name, result if "floor:" in name else with_ratios(result, floor), target)
                        for name, result, target in rows[1:]]  # a section's own floor stays as it is
    width = max(len(row[0]) for row in rows)
    result_width = max(26, max(len(row[1]) for row in rows))
    print("\n{:<{}}  {:<{}}  {}".format("measurement", width, "result", result_width, "target"))
    print("-" * (width + result_width + 14))
    for name, result, target in rows:
        print("{:<{}}  {:<{}}  {}".format(name, width, result, result_width, target))
    return 0


if __name__ == "__main__":
    sys.exit(main())
