"""End to end against a real OpenSSH sshd: every kind of session a user-level hook can see gives one alert.

The fixture (root: CI runs as root and must run these) starts Debian's sshd on a loopback port with
ExposeAuthInfo, creates a throwaway user with a key whose comment is known, copies the built pyz into
its home, and runs `setup --non-interactive` and `install --yes` as that user, against a loopback
SMTP server. Everything is removed at the end, also on failure.
"""

import json
import os
import pwd
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Callable, Iterator, NamedTuple

import pytest

from app.store.store import opened
from helpers import require
from support.mailsink import MailSink, ReceivedMessage
from support.processes import wait_until_ended
from support.sshd import KEY_COMMENT, SshServer

ARRIVAL_SECONDS = 5


class E2E(NamedTuple):
    server: SshServer
    sink: MailSink
    fingerprint: str
    workdir: Path


def installed_cron_command(server: SshServer) -> str:
    """The command of the cron line install added for the user."""
    listing = subprocess.run(["crontab", "-l", "-u", server.user], capture_output=True, text=True, check=True)
    (line,) = [line for line in listing.stdout.splitlines() if "ssh_alert" in line and not line.startswith("#")]
    return line.split(None, 5)[5].split(" #", 1)[0]


@pytest.fixture(scope="module")
def e2e(pyz: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2E]:
    require(os.geteuid() == 0, "end-to-end sshd tests need root (to create a user and run sshd)")
    require(Path("/usr/sbin/sshd").exists(), "apt-get install openssh-server")
    workdir = tmp_path_factory.mktemp("e2e")
    with MailSink("plain") as sink, SshServer(workdir) as server:
        target = server.home / "ssh_alert.pyz"
        shutil.copy2(str(pyz), str(target))
        subprocess.run(["chown", "{0}:{0}".format(server.user), str(target)], check=True)
        setup = server.as_user(["/usr/bin/python3", str(target), "setup", "--non-interactive",
                                "--to", "owner@example.com", "--from", "ssh-alert@example.com", "--method", "smtp",
                                "--smtp-host", "127.0.0.1", "--smtp-port", str(sink.port),
                                "--smtp-security", "none", "--no-dns-check", "--no-test-email"])
        assert setup.returncode == 0, setup.stderr + setup.stdout
        config = server.home / ".config" / "ssh-alert" / "config.ini"
        # Each test checks its own login's alert: no digests, no hourly limit across the module.
        config.write_text(config.read_text().replace("[alert]\n", "[alert]\nmax_per_hour = 10000\n"
                                                     "digest_after = 1000\n", 1))
        install = server.as_user(["/usr/bin/python3", str(target), "install", "--yes"])
        assert install.returncode == 0, install.stderr + install.stdout
        fingerprint = subprocess.run(["ssh-keygen", "-lf", str(server.client_key) + ".pub"], capture_output=True,
                                     text=True, check=True).stdout.split()[1]
        yield E2E(server, sink, fingerprint, workdir)


def checks_ended(e2e: E2E, timeout: float = 30) -> None:
    """Wait until every check of the user (the hooks' detached ones too) has exited: then nothing more is sent."""
    wait_until_ended("ssh_alert", uid=pwd.getpwnam(e2e.server.user).pw_uid, timeout=timeout)


def settle(e2e: E2E, timeout: float = 30) -> None:
    """Wait until every recorded login was processed (earlier tests' last logins), so alerts are not mixed up.

    Once the checks running have ended, one more (as cron would) takes what a later hook of a connection already
    delivered left to it; then the whole log is handled and nothing is unsent."""
    checks_ended(e2e, timeout)
    e2e.server.as_user(["/usr/bin/python3", str(e2e.server.home / "bin" / "ssh_alert.pyz"), "check"])
    checks_ended(e2e, timeout)
    store, log = e2e.server.home / ".local/state/ssh-alert/store.db", login_log(e2e)
    with opened(store, read_only=True) as stored:
        position, unsent = stored.position(), stored.unsent()
    size = log.stat().st_size if log.exists() else 0
    assert (position.offset if position else 0) == size and not unsent, "logins still pending"


def one_alert(e2e: E2E, action: Callable[[], object]) -> ReceivedMessage:
    """Run action (a login); exactly one alert must arrive within ARRIVAL_SECONDS and no second one after."""
    settle(e2e)
    e2e.sink.clear()
    started = time.monotonic()
    action()
    (received,) = e2e.sink.wait_for(1, timeout=ARRIVAL_SECONDS + 5)
    assert received.received_at - started < ARRIVAL_SECONDS, "alert took {:.1f} s".format(
        received.received_at - started)
    checks_ended(e2e)  # a duplicate from another hook would have arrived by then
    assert len(e2e.sink.messages) == 1, "{} alerts; login log tail:\n{}".format(
        len(e2e.sink.messages), b"\n".join(login_log(e2e).read_bytes().splitlines()[-6:]).decode())
    return received


def login_log(e2e: E2E) -> Path:
    return e2e.server.home / ".local/state/ssh-alert/logins.log"


def wait_for_login_line(e2e: E2E, lines_before: int, timeout: float = 20) -> None:
    """Wait until a hook recorded a login after the first lines_before lines of the log."""
    deadline = time.monotonic() + timeout
    while len(login_log(e2e).read_bytes().splitlines()) <= lines_before:
        assert time.monotonic() < deadline, "no login recorded within {:g} s".format(timeout)
        time.sleep(0.05)


def assert_names_the_login(e2e: E2E, received: ReceivedMessage) -> str:
    body = received.message.get_content()
    assert re.match(r"(\[NEW IP\] )?SSH login: {}@".format(e2e.server.user), received.message["Subject"])
    assert received.message["Subject"].endswith("from 127.0.0.1")
    assert "publickey" in body
    assert e2e.fingerprint in body
    assert '"{}" in authorized_keys'.format(KEY_COMMENT) in body
    return body


def ok(finished: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert finished.returncode == 0, finished.stderr
    return finished


def payload(e2e: E2E, name: str) -> Path:
    path = e2e.workdir / name
    path.write_bytes(os.urandom(200_000))
    return path


def test_interactive_login_gives_one_alert_naming_the_key_and_tty(e2e: E2E):
    received = one_alert(e2e, lambda: e2e.server.ssh(options=["-tt"], stdin=b"exit\n"))
    assert "interactive (tty /dev/pts/" in assert_names_the_login(e2e, received)


def test_ssh_host_command_gives_one_alert_saying_command(e2e: E2E):
    received = one_alert(e2e, lambda: ok(e2e.server.ssh("true")))
    body = assert_names_the_login(e2e, received)
    assert "command (no tty)" in body or "command or file transfer (no tty)" in body  # rc sends before bashrc


@pytest.mark.parametrize("protocol", ["-O", "default"])
def test_scp_gives_one_alert_and_copies_the_file_byte_for_byte(e2e: E2E, protocol: str):
    source = payload(e2e, "scp-{}.bin".format(protocol.strip("-")))
    options = ["-O"] if protocol == "-O" else []
    copy = ["scp", "-q", "-P", str(e2e.server.port)] + e2e.server.ssh_options() + options
    received = one_alert(e2e, lambda: ok(subprocess.run(copy + [str(source), e2e.server.target("copy.bin")],
                                                       capture_output=True, timeout=30)))
    assert_names_the_login(e2e, received)
    back = e2e.workdir / (source.name + ".back")
    ok(subprocess.run(copy + [e2e.server.target("copy.bin"), str(back)], capture_output=True, timeout=30))
    assert back.read_bytes() == source.read_bytes()


def test_sftp_gives_one_alert_and_transfers_byte_for_byte(e2e: E2E):
    source = payload(e2e, "sftp.bin")
    back = e2e.workdir / "sftp.back"
    batch = e2e.workdir / "sftp.batch"
    batch.write_text("put {} sftp.bin\nget sftp.bin {}\n".format(source, back))
    command = ["sftp", "-q", "-b", str(batch), "-P", str(e2e.server.port)] + e2e.server.ssh_options() + \
        ["{}@127.0.0.1".format(e2e.server.user)]
    received = one_alert(e2e, lambda: ok(subprocess.run(command, capture_output=True, timeout=30)))
    assert "file transfer" in assert_names_the_login(e2e, received)
    assert back.read_bytes() == source.read_bytes()


def test_rsync_gives_one_alert_and_copies_byte_for_byte(e2e: E2E):
    source = payload(e2e, "rsync.bin")
    shell = " ".join(["ssh", "-p", str(e2e.server.port)] + e2e.server.ssh_options())
    received = one_alert(e2e, lambda: ok(subprocess.run(["rsync", "-e", shell, str(source),
                                                         e2e.server.target("rsync.bin")],
                                                        capture_output=True, timeout=30)))
    assert "file transfer" in assert_names_the_login(e2e, received)
    back = e2e.workdir / "rsync.back"
    ok(subprocess.run(["rsync", "-e", shell, e2e.server.target("rsync.bin"), str(back)], capture_output=True,
                      timeout=30))
    assert back.read_bytes() == source.read_bytes()


def test_a_second_session_multiplexed_over_one_connection_is_recorded_without_a_second_alert(e2e: E2E):
    control = e2e.workdir / "control.sock"
    master = ["-o", "ControlMaster=yes", "-o", "ControlPath={}".format(control), "-o", "ControlPersist=30"]
    try:
        assert_names_the_login(e2e, one_alert(e2e, lambda: ok(e2e.server.ssh("true", options=master))))
        log = e2e.server.home / ".local/state/ssh-alert/logins.log"
        lines_before = len(log.read_bytes().splitlines())
        settle(e2e)
        e2e.sink.clear()
        ok(e2e.server.ssh("true", options=["-o", "ControlPath={}".format(control)]))
        checks_ended(e2e)
        assert len(log.read_bytes().splitlines()) > lines_before  # the second session was seen
        assert e2e.sink.messages == []  # the same authenticated connection: no second alert
    finally:
        e2e.server.ssh(options=["-o", "ControlPath={}".format(control), "-O", "exit"])


def test_tunnel_only_connection_is_reported_by_the_cron_check(e2e: E2E):
    from app.logins.loginline import parse_line
    from app.logins.sessions import GRACE_SECONDS, MATCH_BEFORE

    settle(e2e)
    # A login recorded up to MATCH_BEFORE seconds before a connection started accounts for it: the earlier
    # tests' last login must be older than that when the tunnel opens.
    last = max((parse_line(line).epoch or 0.0 for line in login_log(e2e).read_bytes().splitlines()), default=0.0)
    time.sleep(max(0.0, last + MATCH_BEFORE + 1 - time.time()))
    tunnel = subprocess.Popen(["ssh", "-N", "-p", str(e2e.server.port)] + e2e.server.ssh_options() +
                              ["{}@127.0.0.1".format(e2e.server.user)], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(GRACE_SECONDS + 1)
        settle(e2e)
        e2e.sink.clear()
        cron = installed_cron_command(e2e.server)
        finished = e2e.server.as_user(["/bin/sh", "-c", cron],
                                      environ={"PATH": "/usr/bin:/bin", "SHELL": "/bin/sh"})
        assert finished.returncode == 0, finished.stderr
        (received,) = e2e.sink.wait_for(1, timeout=10)
        assert "without a session" in received.message["Subject"]
        again = e2e.server.as_user(["/bin/sh", "-c", cron], environ={"PATH": "/usr/bin:/bin"})
        assert again.returncode == 0
        checks_ended(e2e)
        assert len(e2e.sink.messages) == 1  # reported once
    finally:
        tunnel.terminate()
        tunnel.wait(timeout=10)


def test_x11_forwarding_still_works_with_the_installed_ssh_rc(e2e: E2E):
    require(shutil.which("xauth") is not None, "apt-get install xauth")
    finished = subprocess.run(["ssh", "-Y", "-p", str(e2e.server.port)] + e2e.server.ssh_options() +
                              ["{}@127.0.0.1".format(e2e.server.user), "xauth list"],
                              env=dict(os.environ, DISPLAY=":97"), capture_output=True, text=True, timeout=30,
                              stdin=subprocess.DEVNULL)
    assert finished.returncode == 0, finished.stderr
    assert "MIT-MAGIC-COOKIE-1" in finished.stdout  # the rc fed sshd's cookie to xauth


# --- the intruder's first command cannot suppress the alert (hook_wait) ------------------------------------

INTRUDER = ("pkill -KILL -u \"$(id -u)\" -f '[s]sh_alert'; : > ~/.local/state/ssh-alert/logins.log; "
            "rm -f ~/.local/state/ssh-alert/store.db*; crontab -r; true")


@pytest.mark.parametrize("attempt", range(3))
def test_an_intruders_scripted_first_command_cannot_suppress_the_alert(e2e: E2E, attempt: int):
    """With the account's key, the first command kills the check, empties the log, deletes the state and the
    crontab; the alert has already left before it runs."""
    settle(e2e)
    e2e.sink.clear()
    installed = subprocess.run(["crontab", "-l", "-u", e2e.server.user], capture_output=True, text=True).stdout
    try:
        ok(e2e.server.ssh(INTRUDER))
        received = e2e.sink.messages  # no waiting: the alert had to be accepted before the command ran
        assert len(received) == 1, "the intruder's command ran before the alert left"
        assert_names_the_login(e2e, received[0])
        assert "(no tty)" in received[0].message.get_content()
    finally:  # what the intruder destroyed, for the next tests
        subprocess.run(["crontab", "-u", e2e.server.user, "-"], input=installed, text=True, check=True)
        e2e.server.as_user(["/usr/bin/python3", str(e2e.server.home / "bin" / "ssh_alert.pyz"), "check"])


def test_the_cron_run_records_when_a_connection_ended_and_history_shows_how_long_it_lasted(e2e: E2E):
    settle(e2e)
    cron = installed_cron_command(e2e.server)
    lines_before = len(login_log(e2e).read_bytes().splitlines())
    session = subprocess.Popen(["ssh", "-p", str(e2e.server.port)] + e2e.server.ssh_options() +
                               ["{}@127.0.0.1".format(e2e.server.user), "sleep 4"], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_login_line(e2e, lines_before)  # the session has started: the cron run sees it live
        assert e2e.server.as_user(["/bin/sh", "-c", cron], environ={"PATH": "/usr/bin:/bin"}).returncode == 0
    finally:
        session.wait(timeout=20)
    assert e2e.server.as_user(["/bin/sh", "-c", cron], environ={"PATH": "/usr/bin:/bin"}).returncode == 0
    listed = e2e.server.as_user(["/usr/bin/python3", str(e2e.server.home / "bin" / "ssh_alert.pyz"), "history",
                                 "--json"])
    last = json.loads(listed.stdout)[-1]
    assert last["ended"] >= last["epoch"] + 3
