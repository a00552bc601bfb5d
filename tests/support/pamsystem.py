"""The system-wide mode installed for end-to-end tests against a real sshd with UsePAM yes (root), and the helpers
those tests share: /etc/pam.d/sshd restored byte for byte, root's crontab and every directory the mode creates
removed, a tmpfs state directory unmounted, in a finally, also when a test fails."""

import contextlib
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Callable, Iterator, List, NamedTuple, Optional

from app.system.paths import SYSTEM_CONFIG_DIR, SYSTEM_LIB_DIR, SYSTEM_SEEN_DIR, SYSTEM_STATE_DIR
from helpers import require
from support.mailsink import MailSink, ReceivedMessage
from support.processes import wait_until_ended
from support.sshd import KEY_COMMENT, SshServer

PAM_SSHD = Path("/etc/pam.d/sshd")
PAM_EXEC = ("/lib/x86_64-linux-gnu/security/pam_exec.so", "/usr/lib/x86_64-linux-gnu/security/pam_exec.so",
            "/lib/security/pam_exec.so", "/usr/lib/security/pam_exec.so")
PYTHON = "/usr/bin/python3"
ARRIVAL_SECONDS = 8
SYSTEM_DIRS = (SYSTEM_CONFIG_DIR, SYSTEM_STATE_DIR, SYSTEM_LIB_DIR, SYSTEM_SEEN_DIR)


class System(NamedTuple):
    server: SshServer
    sink: MailSink
    pyz: Path
    pam_before: bytes
    fingerprint: str
    workdir: Path


def pyz_command(pyz: Path, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, str(pyz)] + list(arguments), capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


def ok(finished: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert finished.returncode == 0, (finished.stderr, finished.stdout)
    return finished


def root_crontab() -> Optional[str]:
    listing = subprocess.run(["crontab", "-l"], capture_output=True, text=True)
    return listing.stdout if listing.returncode == 0 else None


def restore_root_crontab(text: Optional[str]) -> None:
    if text is None:
        subprocess.run(["crontab", "-r"], capture_output=True)
    else:
        subprocess.run(["crontab", "-"], input=text, text=True, check=True, capture_output=True)


@contextlib.contextmanager
def installed_system(pyz: Path, workdir: Path, state_size: Optional[str] = None,
                     before_setup: Callable[[], object] = lambda: None) -> Iterator[System]:
    """The system-wide mode set up and installed from pyz, undone at the end. state_size: the state directory is a
    tmpfs of that size (mounted before setup, after which before_setup runs; unmounted at the end)."""
    require(os.geteuid() == 0, "the system-wide mode's tests need root (PAM, /etc, a user, sshd)")
    require(Path("/usr/sbin/sshd").exists(), "apt-get install openssh-server")
    require(PAM_SSHD.exists() and any(os.path.exists(path) for path in PAM_EXEC), "apt-get install libpam-modules")
    present = [str(path) for path in SYSTEM_DIRS if path.exists()]
    require(not present, "the system-wide mode is in use on this machine ({}): not touching it".format(present))
    pam_before = PAM_SSHD.read_bytes()
    cron_before = root_crontab()
    mounted = False
    try:
        if state_size is not None:
            SYSTEM_STATE_DIR.mkdir(mode=0o700)
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size={},mode=0700".format(state_size), "tmpfs",
                            str(SYSTEM_STATE_DIR)], check=True, capture_output=True)
            mounted = True
        before_setup()
        with MailSink("plain") as sink, SshServer(workdir, use_pam=True) as server:
            ok(pyz_command(pyz, "setup", "--system", "--non-interactive", "--to", "root-owner@example.com", "--from",
                           "ssh-alert@example.com", "--method", "smtp", "--smtp-host", "127.0.0.1", "--smtp-port",
                           str(sink.port), "--smtp-security", "none", "--no-dns-check", "--no-test-email"))
            config = SYSTEM_CONFIG_DIR / "config.ini"
            assert (config.stat().st_uid, config.stat().st_mode & 0o777) == (0, 0o600)
            # Each test checks its own logins' alerts: no digests, no hourly limit, no DNS wait.
            config.write_text(config.read_text().replace("[alert]\n", "[alert]\nmax_per_hour = 10000\n"
                                                         "digest_after = 1000\nreverse_dns = no\n", 1))
            ok(pyz_command(pyz, "install", "--system", "--yes"))
            fingerprint = subprocess.run(["ssh-keygen", "-lf", str(server.client_key) + ".pub"],
                                         capture_output=True, text=True, check=True).stdout.split()[1]
            yield System(server, sink, pyz, pam_before, fingerprint, workdir)
    finally:
        subprocess.run([PYTHON, str(pyz), "uninstall", "--system", "--yes", "--purge"], capture_output=True,
                       stdin=subprocess.DEVNULL, timeout=120)
        if PAM_SSHD.read_bytes() != pam_before:
            PAM_SSHD.write_bytes(pam_before)
        restore_root_crontab(cron_before)
        for path in SYSTEM_DIRS:
            shutil.rmtree(str(path), ignore_errors=True)
        if mounted:
            unmount(SYSTEM_STATE_DIR)
            shutil.rmtree(str(SYSTEM_STATE_DIR), ignore_errors=True)  # the mount point


def unmount(path: Path) -> None:
    """Unmount path, waiting out a check that still has a file open there."""
    for _ in range(50):
        if subprocess.run(["umount", str(path)], capture_output=True).returncode == 0:
            return
        time.sleep(0.2)
    subprocess.run(["umount", "-l", str(path)], check=True, capture_output=True)


def checks_ended(timeout: float = 30) -> None:
    """Wait until every process of the installed system mode has exited (the PAM hooks and the checks they left
    running detached, cron's runs): then nothing more is sent. The installed mode is this test's alone."""
    wait_until_ended(str(SYSTEM_LIB_DIR), timeout=timeout)


def session_ended(system: System, timeout: float = 30) -> None:
    """Wait until sshd's processes for the test user's connections have exited (PAM closed the sessions)."""
    wait_until_ended("sshd: {}".format(system.server.user), timeout=timeout)


def settle(system: System, timeout: float = 20) -> None:
    """Wait until the system check has handled every recorded login (earlier tests' alerts are not mixed up)."""
    from app.store.store import opened

    log, store = SYSTEM_STATE_DIR / "logins.log", SYSTEM_STATE_DIR / "store.db"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        checks_ended(timeout)
        try:
            with opened(store, read_only=True) as stored:
                position, unsent = stored.position(), stored.unsent()
            if (position.offset if position else 0) == (log.stat().st_size if log.exists() else 0) and not unsent:
                return
        except Exception:  # noqa: BLE001 (the store is being written; look again)
            pass
        time.sleep(0.1)
    raise AssertionError("system logins still pending after {} s:\n{}".format(timeout, log_tail()))


def log_tail() -> str:
    parts = []
    for name in ("logins.log", "ssh_alert.log"):
        path = SYSTEM_STATE_DIR / name
        parts.append("{}:\n{}".format(name, path.read_text()[-1500:] if path.exists() else "(none)"))
    return "\n".join(parts)


def alerts_of(system: System, action: Callable[[], object], expected: int = 1) -> List[ReceivedMessage]:
    """Run action (logins); exactly `expected` alerts must arrive, and no more once every check has exited."""
    settle(system)
    system.sink.clear()
    action()
    try:
        system.sink.wait_for(expected, timeout=ARRIVAL_SECONDS if expected else 0)
    except AssertionError as error:
        raise AssertionError("{}\n{}".format(error, log_tail())) from None
    checks_ended()  # a duplicate would have arrived by then
    received = system.sink.messages
    assert len(received) == expected, [message.message["Subject"] for message in received]
    return received


def assert_names_the_login(system: System, received: ReceivedMessage) -> None:
    subject, body = received.message["Subject"], received.message.get_content()
    assert re.match(r"(\[NEW IP\] )?SSH login: {}@".format(system.server.user), subject), subject
    assert subject.endswith("from 127.0.0.1"), subject
    assert "publickey" in body and system.fingerprint in body, body
    assert '"{}" in authorized_keys'.format(KEY_COMMENT) in body, body


def silent_login(system: System) -> None:
    """A login that must work and print nothing but the command's own output."""
    finished = system.server.ssh("echo", "logged-in", timeout=60)
    assert (finished.returncode, finished.stdout, finished.stderr) == (0, b"logged-in\n", b""), finished
