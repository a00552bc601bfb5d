"""`make bench` rows through a real OpenSSH sshd (root): what the hooks add to a login, paired against the
same sshd with the hooks moved aside, for hook_wait = 3 with a healthy and a hanging mail server and for
hook_wait = 0; and the time from the ssh client's start (and from ~/.ssh/rc's) to the alert accepted."""

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import List, Tuple

from bench import PYTHON, PYZ, median_ms
from support.mailsink import HangingServer, MailSink

Row = Tuple[str, str, str]


def floor_seconds() -> float:
    started = time.perf_counter()
    subprocess.run([PYTHON, "-S", "-c", "pass"], check=True)
    return time.perf_counter() - started


def ssh_true_seconds(server) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    finished = server.ssh("true")
    elapsed = time.perf_counter() - started
    if finished.returncode != 0:
        raise SystemExit("ssh failed: " + finished.stderr.decode())
    return elapsed


def bench_real_sshd(base: Path, sink: MailSink, rounds: int = 25) -> List[Row]:
    """Login cost through a real sshd (needs root to create a user and run sshd)."""
    if os.geteuid() != 0 or not Path("/usr/sbin/sshd").exists():
        return [("real sshd measurements", "skipped (needs root and openssh-server)", "")]
    from support.sshd import SshServer

    with SshServer(base / "sshd") as server, HangingServer() as hanging:
        pyz = server.home / "ssh_alert.pyz"
        shutil.copy2(str(PYZ), str(pyz))
        os.chown(str(pyz), server.uid, server.uid)

        def as_user(*arguments: str) -> None:
            finished = server.as_user(["/usr/bin/python3", str(pyz)] + list(arguments))
            if finished.returncode not in (0, 1):
                raise SystemExit("{} failed: {}".format(arguments[0], finished.stderr))

        as_user("setup", "--non-interactive", "--to", "you@example.com", "--from", "ssh-alert@example.com",
                "--method", "smtp", "--smtp-host", "127.0.0.1", "--smtp-port", str(sink.port), "--smtp-security",
                "none", "--no-dns-check", "--no-test-email")
        config = server.home / ".config" / "ssh-alert" / "config.ini"
        # Every login here is measured: no digest, no hourly limit, no DNS wait.
        original = config.read_text().replace("[alert]\n", "[alert]\nmax_per_hour = 10000\ndigest_after = 1000\n"
                                              "reverse_dns = no\n", 1)

        def configure(hook_wait: str, port: int) -> None:
            config.write_text(original.replace("[alert]\n", "[alert]\nhook_wait = {}\n".format(hook_wait), 1)
                              .replace("port = {}".format(sink.port), "port = {}".format(port)))
            as_user("check")  # writes the hook_wait file the hook reads

        configure("3", sink.port)
        as_user("install", "--yes", "--no-cron")
        hook_files = [server.home / name for name in (".ssh/rc", ".bashrc", ".profile", ".bash_profile")
                      if (server.home / name).exists()]

        def hooks(on: bool) -> None:
            """Put the hook files in place, or move them aside (the same login without ssh_alert)."""
            for path in hook_files:
                off = str(path) + ".off"
                os.rename(off, str(path)) if on else os.rename(str(path), off)

        floors: List[float] = []

        def paired(samples: int, pause: float = 0.1) -> Tuple[float, float]:
            """Median ssh time without and with the hooks, alternating so machine noise hits both alike; the
            floor is measured beside each pair."""
            bare, hooked = [], []
            for _ in range(samples):
                hooks(False)
                bare.append(ssh_true_seconds(server))
                hooks(True)
                hooked.append(ssh_true_seconds(server))
                floors.append(floor_seconds())
                time.sleep(pause)
            return median_ms(bare), median_ms(hooked)

        bare, waited = paired(rounds)
        floor = median_ms(floors)
        latency, ours = latencies(server, sink, rounds)
        configure("0", sink.port)
        detached_bare, detached = paired(rounds, pause=0.3)
        configure("3", hanging.port)
        hung_bare, hung = paired(max(3, rounds // 5))
    return [("ssh host true, no hooks (median)", "{:.0f} ms".format(bare), ""),
            ("ssh host true, hooks, hook_wait = 3, healthy server", "{:+.0f} ms ({:+.1f}x floor)".format(
                waited - bare, (waited - bare) / floor), "≤ +8.5x floor (+70 ms at 8.2 ms)"),
            ("  floor: python3 -S -c pass, median of one beside each pair", "{:.1f} ms".format(floor), ""),
            ("ssh host true, hooks, hook_wait = 3, server never answers", "{:+.0f} ms".format(hung - hung_bare),
             "≤ +3100 ms"),
            ("ssh host true, hooks, hook_wait = 0", "{:+.0f} ms".format(detached - detached_bare), "≤ +10 ms"),
            ("ssh login → alert accepted (median)", "{:.0f} ms".format(median_ms(latency)), ""),
            ("  of which ~/.ssh/rc start → alert accepted (ssh_alert's part)", "{:.0f} ms".format(median_ms(ours)),
             "")]


def latencies(server, sink: MailSink, rounds: int) -> Tuple[List[float], List[float]]:  # type: ignore
    """Seconds from the ssh client's start, and from ~/.ssh/rc's start, to the alert accepted."""
    marks = server.home / "rc-started"
    marks.touch()
    os.chown(str(marks), server.uid, server.uid)
    rc = server.home / ".ssh" / "rc"
    rc_text = rc.read_text()
    rc.write_text("date +%s.%N >> {}\n".format(marks) + rc_text)
    latency, ours = [], []
    try:
        for _ in range(rounds):
            sink.clear()
            started, wall = time.monotonic(), time.time()
            server.ssh("true")
            try:
                (received,) = sink.wait_for(1, timeout=30)
            except AssertionError:
                state = server.home / ".local" / "state" / "ssh-alert"
                raise SystemExit("no alert; log tail:\n{}\noplog tail:\n{}".format(
                    (state / "logins.log").read_text()[-700:], (state / "ssh_alert.log").read_text()[-700:]))
            latency.append(received.received_at - started)
            rc_started = float(marks.read_text().split()[-1]) - wall  # seconds after the ssh client started
            ours.append(received.received_at - started - rc_started)
            time.sleep(0.2)
    finally:
        rc.write_text(rc_text)
    return latency, ours




def bench_pam_sshd(base: Path, sink: MailSink, rounds: int = 25) -> List[Row]:
    """The system-wide mode's login cost through a real sshd with UsePAM yes: `ssh host true` with the PAM block
    in /etc/pam.d/sshd against the same file without it, paired, for hook_wait = 3 (healthy server) and 0.
    /etc/pam.d/sshd is restored byte for byte at the end, whatever happens."""
    from app.system.paths import SYSTEM_CONFIG_DIR, SYSTEM_LIB_DIR, SYSTEM_SEEN_DIR, SYSTEM_STATE_DIR

    pam_file = Path("/etc/pam.d/sshd")
    if os.geteuid() != 0 or not Path("/usr/sbin/sshd").exists() or not pam_file.exists():
        return [("system mode (PAM) measurements", "skipped (needs root, openssh-server, PAM)", "")]
    dirs = (SYSTEM_CONFIG_DIR, SYSTEM_STATE_DIR, SYSTEM_LIB_DIR, SYSTEM_SEEN_DIR)
    if any(path.exists() for path in dirs):
        return [("system mode (PAM) measurements", "skipped (the system mode is in use here)", "")]
    from support.sshd import SshServer

    pam_before = pam_file.read_bytes()
    cron_before = subprocess.run(["crontab", "-l"], capture_output=True, text=True)

    def pyz(*arguments: str) -> None:
        finished = subprocess.run(["/usr/bin/python3", str(PYZ)] + list(arguments), capture_output=True, text=True,
                                  stdin=subprocess.DEVNULL, timeout=120)
        if finished.returncode not in (0, 1):
            raise SystemExit("{} failed: {}".format(arguments[0], finished.stderr))

    try:
        with SshServer(base / "sshd-pam", use_pam=True) as server:
            pyz("setup", "--system", "--non-interactive", "--to", "you@example.com", "--from",
                "ssh-alert@example.com", "--method", "smtp", "--smtp-host", "127.0.0.1", "--smtp-port",
                str(sink.port), "--smtp-security", "none", "--no-dns-check", "--no-test-email")
            config = SYSTEM_CONFIG_DIR / "config.ini"
            original = config.read_text().replace("[alert]\n", "[alert]\nmax_per_hour = 10000\ndigest_after = 1000\n"
                                                  "reverse_dns = no\n", 1)

            def configure(hook_wait: str, port: int = sink.port) -> None:
                config.write_text(original.replace("[alert]\n", "[alert]\nhook_wait = {}\n".format(hook_wait), 1)
                                  .replace("port = {}".format(sink.port), "port = {}".format(port)))
                pyz("check", "--system")  # writes the hook_wait file the PAM hook reads

            configure("3")
            pyz("install", "--system", "--yes")
            pam_hooked = pam_file.read_bytes()

            def paired(samples: int, pause: float = 0.1) -> Tuple[float, float]:
                bare, hooked = [], []
                for _ in range(samples):
                    pam_file.write_bytes(pam_before)
                    bare.append(ssh_true_seconds(server))
                    pam_file.write_bytes(pam_hooked)
                    hooked.append(ssh_true_seconds(server))
                    time.sleep(pause)
                return median_ms(bare), median_ms(hooked)

            bare, waited = paired(rounds)
            configure("0")
            detached_bare, detached = paired(rounds, pause=0.3)
            with HangingServer() as hanging:
                configure("3", hanging.port)
                hung_bare, hung = paired(max(3, rounds // 5))
            pam_file.write_bytes(pam_before)
    finally:
        subprocess.run(["/usr/bin/python3", str(PYZ), "uninstall", "--system", "--yes", "--purge"],
                       capture_output=True, stdin=subprocess.DEVNULL, timeout=120)
        if pam_file.read_bytes() != pam_before:
            pam_file.write_bytes(pam_before)
        if cron_before.returncode == 0:
            subprocess.run(["crontab", "-"], input=cron_before.stdout, text=True, capture_output=True)
        else:
            subprocess.run(["crontab", "-r"], capture_output=True)
        for path in dirs:
            shutil.rmtree(str(path), ignore_errors=True)
    return [("ssh host true, UsePAM yes, no PAM hook (median)", "{:.0f} ms".format(bare), ""),
            ("ssh host true, PAM hook, hook_wait = 3, healthy server", "{:+.0f} ms".format(waited - bare),
             "≤ the user hooks' cost"),
            ("ssh host true, PAM hook, hook_wait = 3, server never answers", "{:+.0f} ms".format(hung - hung_bare),
             "≤ +3100 ms"),
            ("ssh host true, PAM hook, hook_wait = 0", "{:+.0f} ms".format(detached - detached_bare), "≤ +10 ms")]
