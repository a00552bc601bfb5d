"""A full disk loses no login, with real parts: tmpfs mounts of 512 KiB and 2 MiB filled before and after setup,
the real login snippet under an sshd-named parent, the built pyz. And no FIFO in the state directory makes a
check or status wait."""

import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path
from typing import Iterator, List

import pytest

from app.check.dispatch import login_identity
from app.logins.loginline import parse_line
from app.store.outbox import message_id
from app.commands.setup_mail import NO_RESERVE
from app.system.paths import Paths
from app.install.hooks import HookSettings, hook_settings, render_hook
from helpers import (SNIPPET, hook_env, install_pyz, login_line, python_dir, pyz_env, require, run_hook, run_pyz,
                     smtp_settings, write_config)
from support.fulldisk import NO_ROOM_FOR_A_RESERVE, fill
from support.hookrun import fake_sshd
from support.mailsink import MailSink
from support.users import is_root

ONE_BY_ONE = {"digest_after": "1000", "max_per_hour": "10000"}


@pytest.fixture
def tmpfs(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    """A tmpfs of request.param bytes (root only; CI is root), always unmounted."""
    require(is_root() and shutil.which("mount") is not None, "mounting a tmpfs needs root")
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size={},mode=0700".format(request.param), "tmpfs",
                    str(mount_point)], check=True)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def line(number: int, epoch: float) -> bytes:
    when = time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(epoch))
    return login_line(ip="198.51.100.{}".format(number), when=when, extras="cport={} saddr=10.0.0.1 sport=22 "
                      "tty=/dev/pts/0 hook=bash-profile epoch={:.0f}".format(40000 + number, epoch))


def append(paths: Paths, *lines: bytes) -> None:
    with open(str(paths.login_log), "ab") as handle:
        handle.write(b"".join(item + b"\n" for item in lines))


def ips(sink: MailSink) -> List[str]:
    return [received.message["Subject"].split()[-1] for received in sink.messages]


@pytest.mark.parametrize("tmpfs", ["512k"], indirect=True)
def test_setup_on_a_nearly_full_disk_warns_that_it_cannot_make_the_reserve(paths: Paths, pyz: Path, shiv_root: Path,
                                                                           sink: MailSink, tmpfs: Path):
    environ = pyz_env(paths.home, shiv_root, XDG_STATE_HOME=str(tmpfs), PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    fill(tmpfs, leave=NO_ROOM_FOR_A_RESERVE)
    result = run_pyz(pyz, ["setup", "--non-interactive", "--to", "owner@example.com", "--from", "a@example.com",
                           "--method", "smtp", "--smtp-host", sink.host, "--smtp-port", str(sink.port),
                           "--smtp-security", "none", "--no-test-email", "--no-dns-check"], environ)
    store = Paths.from_environ(environ).store_file
    assert NO_RESERVE.format(path=store) in result.stdout, result


@pytest.mark.parametrize("tmpfs", ["512k"], indirect=True)
def test_a_store_without_reserve_on_a_full_disk_sends_each_alert_exactly_once(paths: Paths, pyz: Path,
                                                                              shiv_root: Path, sink: MailSink,
                                                                              tmpfs: Path):
    environ = pyz_env(paths.home, shiv_root, XDG_STATE_HOME=str(tmpfs))
    paths = Paths.from_environ(environ)
    write_config(paths, alert=ONE_BY_ONE, smtp=smtp_settings(sink))
    fill(tmpfs, leave=NO_ROOM_FOR_A_RESERVE)  # filled before setup: the store gets no reserve
    assert run_pyz(pyz, ["check"], environ).returncode == 0  # seeds
    now = time.time()
    append(paths, line(1, now - 2), line(2, now - 1))
    second = fill(tmpfs, name="filler2")
    for _ in range(3):
        result = run_pyz(pyz, ["check"], environ)
        assert result.returncode != 0 and "no space left" in result.stderr, result
        assert "cannot rollback" not in result.stderr and "Traceback" not in result.stderr
    assert ips(sink) == ["198.51.100.1", "198.51.100.2"]
    first = sink.messages[0].message["Message-ID"]  # what the store's path would have sent: a retry is recognisable
    assert first == message_id("198.51.100.1 40001 10.0.0.1 22|{:.0f}".format(now - 2), "login",
                               first.split("@", 1)[1].rstrip(">"))
    status = run_pyz(pyz, ["status"], environ)
    assert "FAIL" in status.stdout and "no space left" in status.stdout, status
    second.unlink()  # space again: the store takes the lock file's record over, nothing is sent twice
    assert run_pyz(pyz, ["check"], environ).returncode == 0
    append(paths, line(3, time.time()))
    assert run_pyz(pyz, ["check"], environ).returncode == 0
    assert run_pyz(pyz, ["check"], environ).returncode == 0
    assert ips(sink) == ["198.51.100.1", "198.51.100.2", "198.51.100.3"]


@pytest.mark.parametrize("tmpfs", ["2m", "512k"], indirect=True)
def test_a_login_the_hook_cannot_append_is_alerted_from_its_environment_once(paths: Paths, pyz: Path,
                                                                             shiv_root: Path, sink: MailSink,
                                                                             tmpfs: Path, tmp_path: Path):
    """2 MiB: the store has its reserve; 512 KiB filled before setup: it has none (the lock file records)."""
    environ = pyz_env(paths.home, shiv_root, XDG_STATE_HOME=str(tmpfs))
    paths = Paths.from_environ(environ)
    install_pyz(paths.home, pyz)
    python = python_dir(tmp_path, Path(subprocess.check_output(["sh", "-c", "command -v python3"]).decode().strip()))
    write_config(paths, alert=ONE_BY_ONE, smtp=smtp_settings(sink))
    if os.statvfs(str(tmpfs)).f_blocks * os.statvfs(str(tmpfs)).f_frsize < 1024 * 1024:
        fill(tmpfs, leave=NO_ROOM_FOR_A_RESERVE)
    assert run_pyz(pyz, ["check"], environ).returncode == 0  # seeds
    filler = fill(tmpfs, name="filler2")
    auth = tmp_path / "auth-info"
    auth.write_text("publickey ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n")
    connection = "203.0.113.9 52222 10.0.0.1 22"
    hook = hook_env(paths.home, python, SHIV_ROOT=str(shiv_root), XDG_STATE_HOME=str(tmpfs),
                    connection=connection, SSH_USER_AUTH=str(auth))
    # Two hooks of one connection (~/.ssh/rc, then the bash login file) under one sshd: the first cannot append,
    # then space is freed and the second records its line, which is a repeat of the login already alerted.
    hook_line = "sh -c '. \"$0\"' \"$1\""
    # The block install writes for this state directory (the hook never takes XDG_STATE_HOME from the client).
    snippet = tmp_path / "hook.sh"
    snippet.write_text(render_hook(hook_settings(HookSettings(
        "python3", str(paths.home / "bin" / "ssh_alert.pyz"), "bash-profile", str(paths.state_dir),
        str(paths.config_dir.parent), str(paths.data_dir.parent)), str(paths.home))))
    two_hooks = [str(fake_sshd()), "-c", "{0}; rm -f {1}; {0}; true".format(hook_line, shlex.quote(str(filler))),
                 "sshd", str(snippet)]
    before = time.time()
    finished = subprocess.run(two_hooks, env=hook, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    after = time.time()
    assert (finished.returncode, finished.stdout, finished.stderr) == (0, b"", b"")
    assert run_pyz(pyz, ["check"], environ).returncode == 0
    (alert,) = sink.messages
    assert "203.0.113.9" in alert.message["Subject"]
    assert "publickey" in alert.message.get_content()
    assert len(paths.login_log.read_bytes().splitlines()) == 1  # only the second hook's line got in
    recorded = parse_line(paths.login_log.read_bytes().splitlines()[-1])
    # the alert carries the identity the first hook's line would have had: this connection, sshd and time
    identities = {message_id(login_identity(recorded._replace(extras=tuple(
        (key, str(second) if key == "epoch" else value) for key, value in recorded.extras)), ""), "login",
        alert.message["Message-ID"].split("@", 1)[1].rstrip(">")) for second in range(int(before), int(after) + 2)}
    assert alert.message["Message-ID"] in identities


@pytest.mark.parametrize("tmpfs", ["2m"], indirect=True)
def test_with_hook_wait_0_a_login_the_hook_cannot_append_is_alerted_by_the_detached_check_once(
        paths: Paths, pyz: Path, shiv_root: Path, sink: MailSink, tmpfs: Path, tmp_path: Path):
    environ = pyz_env(paths.home, shiv_root, XDG_STATE_HOME=str(tmpfs))
    paths = Paths.from_environ(environ)
    install_pyz(paths.home, pyz)
    python = python_dir(tmp_path, Path(subprocess.check_output(["sh", "-c", "command -v python3"]).decode().strip()))
    write_config(paths, alert=dict(ONE_BY_ONE, hook_wait="0"), smtp=smtp_settings(sink))
    assert run_pyz(pyz, ["check"], environ).returncode == 0  # seeds, and writes hook_wait = 0 for the hook
    filler = fill(tmpfs, name="filler2")
    snippet = tmp_path / "hook.sh"
    snippet.write_text(render_hook(hook_settings(HookSettings(
        "python3", str(paths.home / "bin" / "ssh_alert.pyz"), "bash-profile", str(paths.state_dir),
        str(paths.config_dir.parent), str(paths.data_dir.parent)), str(paths.home))))
    hook = hook_env(paths.home, python, SHIV_ROOT=str(shiv_root), connection="203.0.113.10 52223 10.0.0.1 22")
    finished = subprocess.run([str(fake_sshd()), "-c", "sh -c '. \"$0\"' \"$1\"", "sshd", str(snippet)], env=hook,
                              capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    assert (finished.returncode, finished.stdout, finished.stderr) == (0, b"", b"")
    (alert,) = sink.wait_for(1, timeout=30)  # the detached check, from the environment: the log stayed empty
    assert "203.0.113.10" in alert.message["Subject"]
    assert not paths.login_log.exists() or paths.login_log.read_bytes() == b""
    filler.unlink()
    assert run_pyz(pyz, ["check"], environ).returncode == 0
    assert len(sink.messages) == 1


# --- FIFOs in the state directory ------------------------------------------------------------------------------

STATE_FILES = ("logins.log", "hook_wait", "store.db", "store.db-journal", "check.lock", "ssh_alert.log", "waited",
               "install.json", "state.json", "history.jsonl", "sources.json")


@pytest.mark.parametrize("name", STATE_FILES)
def test_a_fifo_anywhere_in_the_state_directory_never_blocks_check_or_status(name: str, paths: Paths, pyz: Path,
                                                                             shiv_root: Path, sink: MailSink):
    environ = pyz_env(paths.home, shiv_root)
    write_config(paths, alert=ONE_BY_ONE, smtp=smtp_settings(sink))
    paths.state_dir.mkdir(parents=True, exist_ok=True)
    append(paths, line(1, time.time() - 5))
    if name != "store.db-journal" and name != "store.db":
        assert run_pyz(pyz, ["check"], environ, timeout=20).returncode == 0  # seeded first
    path = paths.state_dir / name
    if path.exists():
        path.unlink()
    os.mkfifo(str(path), 0o600)
    append(paths, line(2, time.time())) if name != "logins.log" else None
    for command in (["check"], ["check", "--cron"], ["status"]):
        result = run_pyz(pyz, command, environ, timeout=20)  # subprocess.TimeoutExpired: it blocked
        assert "Traceback" not in result.stdout + result.stderr, (command, result)
        if name == "logins.log" and command[0] == "check":
            assert result.returncode != 0 and "FIFO" in result.stderr  # loud


@pytest.mark.parametrize("tmpfs", ["512k"], indirect=True)
def test_a_backlog_on_a_full_disk_without_reserve_goes_out_as_one_digest_once(paths: Paths, sink: MailSink,
                                                                              tmpfs: Path):
    from app.commands.check import run_check
    from app.errors import UserError

    paths = Paths.from_environ({"HOME": str(paths.home), "XDG_STATE_HOME": str(tmpfs)})
    write_config(paths, alert={"digest_after": "2", "max_per_hour": "10000"}, smtp=smtp_settings(sink))
    fill(tmpfs, leave=NO_ROOM_FOR_A_RESERVE)
    run_check(paths)
    now = time.time()
    append(paths, *[line(number, now - 10 + number) for number in range(1, 6)])
    filler = fill(tmpfs, name="filler2")
    for _ in range(2):
        with pytest.raises(UserError):
            run_check(paths)
    (digest,) = sink.messages
    assert "5" in digest.message["Subject"]
    filler.unlink()
    run_check(paths)
    run_check(paths)
    assert len(sink.messages) == 1


def test_a_fifo_log_fails_every_check_loudly_yet_the_hooks_login_is_alerted_from_its_environment(
        paths: Paths, pyz: Path, shiv_root: Path, sink: MailSink, tmp_path: Path):
    environ = pyz_env(paths.home, shiv_root)
    install_pyz(paths.home, pyz)
    python = python_dir(tmp_path, Path(subprocess.check_output(["sh", "-c", "command -v python3"]).decode().strip()))
    write_config(paths, alert=ONE_BY_ONE, smtp=smtp_settings(sink))
    assert run_pyz(pyz, ["check"], environ).returncode == 0  # seeds
    os.mkfifo(str(paths.login_log), 0o600)  # what an intruder does to hide the next logins
    finished = run_hook(hook_env(paths.home, python, SHIV_ROOT=str(shiv_root), connection="203.0.113.10 52223 "
                                 "10.0.0.1 22"), timeout=30)
    assert (finished.returncode, finished.stdout, finished.stderr) == (0, b"", b"")
    (alert,) = sink.messages
    assert "203.0.113.10" in alert.message["Subject"]
    result = run_pyz(pyz, ["check"], environ, timeout=20)
    assert result.returncode != 0 and "FIFO" in result.stderr
    status = run_pyz(pyz, ["status"], environ, timeout=20)
    assert "FAIL" in status.stdout and "FIFO" in status.stdout
    assert len(sink.messages) == 1
