"""The system-wide mode against a real sshd with UsePAM yes and Debian's /etc/pam.d/sshd (root).

The module installs the built pyz with `setup --system` and `install --system` (the block goes into the real
/etc/pam.d/sshd: pam_exec runs for every sshd that uses the service "sshd"; other tests' sshds run with
UsePAM no, which it does not affect). /etc/pam.d/sshd is restored byte for byte, root's crontab and every
directory the mode creates removed, in a finally, also when a test fails.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Iterator, List, Optional

import pytest

from app.install.pam import USEPAM_OFF
from app.system.paths import SYSTEM_CONFIG_DIR, SYSTEM_HOOK, SYSTEM_LIB_DIR, SYSTEM_SEEN_DIR, SYSTEM_STATE_DIR
from helpers import require
from support.pamsystem import (ARRIVAL_SECONDS, PAM_SSHD, PYTHON, System, alerts_of, assert_names_the_login,
                               checks_ended, installed_system, ok, pyz_command, root_crontab, session_ended, settle,
                               silent_login, unmount)
from support.sshd import SshServer, free_port


@pytest.fixture(scope="module")
def system(pyz: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    with installed_system(pyz, tmp_path_factory.mktemp("system")) as installed:
        yield installed


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


def sessions_told(system: System) -> List[str]:
    """The subjects of the login and logout alerts received (a cron run may add notices of its own, e.g. about
    the key files of other tests' accounts)."""
    return [message.message["Subject"] for message in system.sink.messages
            if re.search(r"\bSSH log(in|out)s?\b", message.message["Subject"])]


def test_session_end_is_recorded_by_the_cron_run_and_told_with_notify_logout(system: System):
    config = SYSTEM_CONFIG_DIR / "config.ini"
    text = config.read_text()
    tunnel: List[subprocess.Popen] = []
    try:
        config.write_text(text.replace("[alert]\n", "[alert]\nnotify_logout = yes\n", 1))
        # The earlier tests' connections have closed; two cron runs record their ends (the second also those logged
        # within START_SLACK before the first), so no end of theirs is left to be told during this test.
        session_ended(system)
        ok(pyz_command(system.pyz, "check", "--system", "--cron"))
        ok(pyz_command(system.pyz, "check", "--system", "--cron"))

        def open_tunnel() -> None:
            tunnel.append(subprocess.Popen(["ssh", "-p", str(system.server.port)] + system.server.ssh_options() +
                                           ["-N", "{}@127.0.0.1".format(system.server.user)],
                                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL))

        alerts_of(system, open_tunnel)
        system.sink.clear()
        ok(pyz_command(system.pyz, "check", "--system", "--cron"))  # sees it open: nothing to tell
        checks_ended()
        assert sessions_told(system) == []
        tunnel[0].terminate()
        tunnel[0].wait(timeout=10)
        session_ended(system)  # sshd closed the session: the cron run finds it gone
        ok(pyz_command(system.pyz, "check", "--system", "--cron"))
        (logout,) = system.sink.wait_for(1, timeout=ARRIVAL_SECONDS)
        assert re.match(r"ssh_alert on .*: SSH logout: {}@.* from 127\.0\.0\.1 after \d+s$".format(
            system.server.user), logout.message["Subject"]), logout.message["Subject"]
        ok(pyz_command(system.pyz, "check", "--system", "--cron"))
        checks_ended()
        assert sessions_told(system) == [logout.message["Subject"]]  # told once
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
