"""The system-wide mode against a real sshd with UsePAM yes and Debian's /etc/pam.d/sshd (root).

The module installs the built pyz with `setup --system` and `install --system` (the block goes into the real
/etc/pam.d/sshd: pam_exec runs for every sshd that uses the service "sshd"; other tests' sshds run with
UsePAM no, which it does not affect). /etc/pam.d/sshd is restored byte for byte, root's crontab and every
directory the mode creates removed, in a finally, also when a test fails.
"""

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, List, NamedTuple, Optional

import pytest

from app.install.pam import USEPAM_OFF
from app.system.paths import SYSTEM_CONFIG_DIR, SYSTEM_HOOK, SYSTEM_LIB_DIR, SYSTEM_SEEN_DIR, SYSTEM_STATE_DIR
from helpers import require
from support.mailsink import MailSink, ReceivedMessage
from support.sshd import KEY_COMMENT, SshServer, free_port

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


@pytest.fixture(scope="module")
def system(pyz: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    with installed_system(pyz, tmp_path_factory.mktemp("system")) as installed:
        yield installed


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


def settle(system: System, timeout: float = 20) -> None:
    """Wait until the system check has handled every recorded login (earlier tests' alerts are not mixed up)."""
    from app.alerting.store import opened

    log, store = SYSTEM_STATE_DIR / "logins.log", SYSTEM_STATE_DIR / "store.db"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with opened(store, read_only=True) as stored:
                position, unsent = stored.position(), stored.unsent()
            if (position.offset if position else 0) == (log.stat().st_size if log.exists() else 0) and not unsent:
                time.sleep(0.3)
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
    """Run action (logins); exactly `expected` alerts must arrive, and no more within a grace period."""
    settle(system)
    system.sink.clear()
    action()
    try:
        system.sink.wait_for(expected, timeout=ARRIVAL_SECONDS if expected else 0)
    except AssertionError as error:
        raise AssertionError("{}\n{}".format(error, log_tail())) from None
    time.sleep(2)  # a duplicate would arrive by now
    received = system.sink.messages
    assert len(received) == expected, [message.message["Subject"] for message in received]
    return received


def assert_names_the_login(system: System, received: ReceivedMessage) -> None:
    subject, body = received.message["Subject"], received.message.get_content()
    assert re.match(r"(\[NEW IP\] )?SSH login: {}@".format(system.server.user), subject), subject
    assert subject.endswith("from 127.0.0.1"), subject
    assert "publickey" in body and system.fingerprint in body, body
    assert '"{}" in authorized_keys'.format(KEY_COMMENT) in body, body


def test_install_system_puts_one_optional_pam_exec_block_before_pam_env(system: System):
    text = PAM_SSHD.read_text()
    (line,) = [line for line in text.splitlines() if "pam_exec.so" in line]
    assert line == "session optional pam_exec.so quiet seteuid type=open_session {}".format(SYSTEM_HOOK)
    assert text.index(line) < text.index("pam_env.so")
    for path, mode in ((SYSTEM_STATE_DIR, 0o700), (SYSTEM_LIB_DIR / "ssh_alert.pyz", 0o755), (SYSTEM_HOOK, 0o755)):
        assert (path.stat().st_uid, path.stat().st_mode & 0o777) == (0, mode), path
    assert "check --system --cron" in (root_crontab() or "")


def test_status_system_shows_the_hook_and_is_healthy(system: System):
    settle(system)
    finished = pyz_command(system.pyz, "status", "--system")
    assert finished.returncode == 0, finished.stdout
    lines = finished.stdout.splitlines()
    assert any(line.startswith("OK") and "pam hook" in line and "/etc/pam.d/sshd" in line for line in lines), lines
    assert any(line.startswith("OK") and "usepam" in line for line in lines), lines
    assert not any("bash-profile" in line or "ssh-rc" in line for line in lines), lines


def test_command_login_is_alerted_once_with_address_and_key(system: System):
    (received,) = alerts_of(system, lambda: ok(system.server.ssh("true")))
    assert_names_the_login(system, received)


def test_interactive_login_is_alerted_once(system: System):
    (received,) = alerts_of(system, lambda: system.server.ssh(options=["-tt"], stdin=b"exit\n"))
    assert_names_the_login(system, received)


@pytest.mark.parametrize("protocol", ["-O", "sftp"])
def test_scp_is_alerted_once(system: System, protocol: str):
    source = system.workdir / "payload"
    source.write_bytes(os.urandom(50_000))
    options = ["-O"] if protocol == "-O" else []
    (received,) = alerts_of(system, lambda: ok(subprocess.run(
        ["scp"] + options + ["-P", str(system.server.port)] + system.server.ssh_options() +
        [str(source), system.server.target("copied")], capture_output=True, timeout=60)))
    assert_names_the_login(system, received)


def test_sftp_is_alerted_once(system: System):
    (received,) = alerts_of(system, lambda: ok(subprocess.run(
        ["sftp", "-b", "-", "-P", str(system.server.port)] + system.server.ssh_options() +
        [system.server.target()], input=b"ls\n", capture_output=True, timeout=60)))
    assert_names_the_login(system, received)


def test_rsync_is_alerted_once(system: System):
    require(shutil.which("rsync") is not None, "apt-get install rsync")
    source = system.workdir / "rsync-payload"
    source.write_bytes(os.urandom(10_000))
    ssh = " ".join(["ssh", "-p", str(system.server.port)] + system.server.ssh_options())
    (received,) = alerts_of(system, lambda: ok(subprocess.run(
        ["rsync", "-e", ssh, str(source), system.server.target("rsynced")], capture_output=True, timeout=60)))
    assert_names_the_login(system, received)


def test_control_master_sessions_are_one_alert_per_connection(system: System):
    socket_path = system.workdir / "cm.sock"
    master_options = ["-o", "ControlMaster=yes", "-o", "ControlPath={}".format(socket_path), "-o",
                      "ControlPersist=no", "-N", "-f"]

    def three_sessions_over_one_connection() -> None:
        ok(system.server.ssh(options=master_options))
        for _ in range(3):
            ok(system.server.ssh("true", options=["-o", "ControlPath={}".format(socket_path)]))
        system.server.ssh(options=["-o", "ControlPath={}".format(socket_path), "-O", "exit"])

    alerts_of(system, three_sessions_over_one_connection)


class FirstByte:
    """A TCP server on loopback that notes when its first byte arrives."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.at: Optional[float] = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        connection, _ = self.listener.accept()
        with connection:
            if connection.recv(1):
                self.at = time.monotonic()

    def close(self) -> None:
        self.listener.close()


def test_ssh_N_is_alerted_before_its_first_forwarded_byte(system: System):
    target = FirstByte()
    local = free_port()
    holder: List[subprocess.Popen] = []

    def tunnel_and_send() -> None:
        holder.append(subprocess.Popen(
            ["ssh", "-p", str(system.server.port)] + system.server.ssh_options() +
            ["-N", "-L", "127.0.0.1:{}:127.0.0.1:{}".format(local, target.port),
             "{}@127.0.0.1".format(system.server.user)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", local), timeout=1) as client:
                    client.sendall(b"x")
                    time.sleep(0.2)
                    if target.at is not None:
                        return
            except OSError:
                time.sleep(0.02)
        raise AssertionError("no byte went through the tunnel")

    try:
        (received,) = alerts_of(system, tunnel_and_send)
    finally:
        for process in holder:
            process.terminate()
            process.wait(timeout=10)
        target.close()
    assert_names_the_login(system, received)
    assert target.at is not None and received.received_at <= target.at


def test_session_end_is_recorded_by_the_cron_run_and_told_with_notify_logout(system: System):
    config = SYSTEM_CONFIG_DIR / "config.ini"
    text = config.read_text()
    tunnel: List[subprocess.Popen] = []
    try:
        config.write_text(text.replace("[alert]\n", "[alert]\nnotify_logout = yes\n", 1))
        ok(pyz_command(system.pyz, "check", "--system", "--cron"))

        def open_tunnel() -> None:
            tunnel.append(subprocess.Popen(["ssh", "-p", str(system.server.port)] + system.server.ssh_options() +
                                           ["-N", "{}@127.0.0.1".format(system.server.user)],
                                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL))

        alerts_of(system, open_tunnel)
        system.sink.clear()
        ok(pyz_command(system.pyz, "check", "--system", "--cron"))  # sees it open: nothing to tell
        time.sleep(1)
        assert system.sink.messages == []
        tunnel[0].terminate()
        tunnel[0].wait(timeout=10)
        time.sleep(1)
        ok(pyz_command(system.pyz, "check", "--system", "--cron"))
        (logout,) = system.sink.wait_for(1, timeout=ARRIVAL_SECONDS)
        assert re.match(r"ssh_alert on .*: SSH logout: {}@.* from 127\.0\.0\.1 after \d+s$".format(
            system.server.user), logout.message["Subject"]), logout.message["Subject"]
        ok(pyz_command(system.pyz, "check", "--system", "--cron"))
        time.sleep(1)
        assert len(system.sink.messages) == 1  # told once
        history = json.loads(ok(pyz_command(system.pyz, "history", "--system", "--json")).stdout)
        last = history[-1]
        assert (last["user"], last["ip"]) == (system.server.user, "127.0.0.1")
        assert last["ended"] >= last["epoch"] > 0  # the duration is in the history
    finally:
        for process in tunnel:
            if process.poll() is None:
                process.terminate()
        config.write_text(text)


def test_users_section_routes_an_accounts_alerts_and_skips_another(system: System):
    config = SYSTEM_CONFIG_DIR / "config.ini"
    text = config.read_text()
    try:
        config.write_text(text + "\n[users]\n{} = owner-of-account@example.com\n".format(system.server.user))
        (received,) = alerts_of(system, lambda: ok(system.server.ssh("true")))
        assert sorted(received.envelope_to) == ["owner-of-account@example.com", "root-owner@example.com"]
        config.write_text(text + "\n[users]\n{} = skip\n".format(system.server.user))
        alerts_of(system, lambda: ok(system.server.ssh("true")), expected=0)
        settle(system)
        history = json.loads(ok(pyz_command(system.pyz, "history", "--system", "--json")).stdout)
        assert history[-1]["outcome"] == "skipped by a rule"
    finally:
        config.write_text(text)


def test_port_forwarding_account_with_nologin_shell_is_alerted(system: System):
    with SshServer(system.workdir / "nologin", shell="/usr/sbin/nologin", use_pam=True) as server:
        def forward() -> None:
            tunnel = subprocess.Popen(["ssh", "-p", str(server.port)] + server.ssh_options() +
                                      ["-N", "-L", "127.0.0.1:{}:127.0.0.1:22".format(free_port()),
                                       "{}@127.0.0.1".format(server.user)], stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                system.sink.wait_for(1, timeout=ARRIVAL_SECONDS)
            finally:
                tunnel.terminate()
                tunnel.wait(timeout=10)

        (received,) = alerts_of(system, forward)
        assert received.message["Subject"].startswith("[NEW IP] SSH login: {}@".format(server.user))
        assert received.message["Subject"].endswith("from 127.0.0.1")


def test_chrooted_internal_sftp_account_is_alerted(system: System):
    chroot = "Match User {user}\n  ChrootDirectory %h\n  ForceCommand internal-sftp\n"
    with SshServer(system.workdir / "chroot", use_pam=True, extra_config=chroot, home_owned_by_root=True) as server:
        (received,) = alerts_of(system, lambda: ok(subprocess.run(
            ["sftp", "-b", "-", "-P", str(server.port)] + server.ssh_options() + [server.target()],
            input=b"ls\n", capture_output=True, timeout=60)))
        assert received.message["Subject"].startswith("[NEW IP] SSH login: {}@".format(server.user))
        assert "publickey" in received.message.get_content()


def test_intruder_who_wipes_the_account_is_still_alerted(system: System):
    server = system.server
    alerts_of(system, lambda: ok(server.ssh("true")))
    ok(server.as_user(["/bin/sh", "-c", "crontab -r; rm -rf ~/.local/state ~/.config ~/bin; true"]))
    subprocess.run(["pkill", "-KILL", "-u", server.user], capture_output=True)
    (received,) = alerts_of(system, lambda: ok(server.ssh("true")))
    assert_names_the_login(system, received)


def silent_login(system: System) -> None:
    """A login that must work and print nothing but the command's own output."""
    finished = system.server.ssh("echo", "logged-in", timeout=60)
    assert (finished.returncode, finished.stdout, finished.stderr) == (0, b"logged-in\n", b""), finished


def test_login_works_silently_when_python_is_gone(system: System):
    script = SYSTEM_HOOK.read_bytes()
    try:
        SYSTEM_HOOK.write_bytes(script.replace(b"sa_py=" + PYTHON.encode(), b"sa_py=/nonexistent/python3", 1))
        silent_login(system)
    finally:
        SYSTEM_HOOK.write_bytes(script)


def test_login_works_silently_when_the_pyz_crashes(system: System):
    pyz = SYSTEM_LIB_DIR / "ssh_alert.pyz"
    data = pyz.read_bytes()
    try:
        pyz.write_bytes(b"not a zip file: python3 fails to run it\n")
        silent_login(system)
    finally:
        pyz.write_bytes(data)
    ok(pyz_command(system.pyz, "check", "--system"))  # as cron would: the login recorded meanwhile is alerted


def test_login_works_silently_with_a_broken_config(system: System):
    config = SYSTEM_CONFIG_DIR / "config.ini"
    text = config.read_bytes()
    try:
        config.write_bytes(b"[alert\nto = \x00nonsense\n")
        silent_login(system)
    finally:
        config.write_bytes(text)
    ok(pyz_command(system.pyz, "check", "--system"))  # as cron would: the login recorded meanwhile is alerted
    settle(system)


def test_login_works_silently_with_the_state_on_a_full_disk(system: System):
    settle(system)
    mounted = False
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", str(SYSTEM_STATE_DIR)],
                       check=True, capture_output=True)
        mounted = True
        with open(str(SYSTEM_STATE_DIR / "filler"), "wb") as filler:
            try:
                while True:
                    filler.write(b"\0" * 65536)
                    filler.flush()
            except OSError:
                pass
        silent_login(system)
    finally:
        if mounted:
            unmount(SYSTEM_STATE_DIR)


def test_both_modes_installed_give_one_alert_per_connection(system: System):
    server = system.server
    target = server.home / "ssh_alert.pyz"
    shutil.copy2(str(system.pyz), str(target))
    os.chown(str(target), server.uid, server.uid)
    ok(server.as_user([PYTHON, str(target), "setup", "--non-interactive", "--to", "root-owner@example.com",
                       "--from", "ssh-alert@example.com", "--method", "smtp", "--smtp-host", "127.0.0.1",
                       "--smtp-port", str(system.sink.port), "--smtp-security", "none", "--no-dns-check",
                       "--no-test-email"]))
    ok(server.as_user([PYTHON, str(target), "install", "--yes", "--no-cron"]))
    try:
        for command in (["true"], []):
            (received,) = alerts_of(system, lambda: ok(server.ssh(*command, options=[] if command else ["-tt"],
                                                                  stdin=None if command else b"exit\n")))
            assert_names_the_login(system, received)
        user_log = server.home / ".local/state/ssh-alert/logins.log"
        assert user_log.exists() and user_log.read_text().count("\n") >= 2  # the user hooks did run
    finally:
        server.as_user([PYTHON, str(server.home / "bin" / "ssh_alert.pyz"), "uninstall", "--yes"])


def test_install_system_refuses_when_sshd_does_not_use_pam(system: System):
    config = system.workdir / "sshd_config_nopam"
    config.write_text("UsePAM no\nHostKey {}\n".format(system.workdir / "ssh_host_ed25519_key"))
    finished = pyz_command(system.pyz, "install", "--system", "--yes", "--sshd-config", str(config))
    assert finished.returncode == 2
    assert finished.stderr.strip() == "ssh_alert: " + USEPAM_OFF


def test_uninstall_system_gives_back_pam_sshd_byte_for_byte(system: System):
    ok(pyz_command(system.pyz, "uninstall", "--system", "--yes"))
    assert PAM_SSHD.read_bytes() == system.pam_before
    assert not SYSTEM_LIB_DIR.exists() and not SYSTEM_SEEN_DIR.exists()
    assert "--system" not in (root_crontab() or "")
