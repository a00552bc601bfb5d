"""The login hook (bash_profile.snippet): one line per SSH login, a detached check, and nothing else."""

import os
import shlex
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest

from app.logins.loginline import parse_line
from app.system.paths import Paths
from helpers import (ROOT, SNIPPET, hook_command, hook_env, install_pyz, python_dir, pyz_env, run_hook, run_pyz, smtp_settings,
                      write_config)
from support.hookrun import fake_sshd, hooks_of_one_connection
from support.mailsink import HangingServer, MailSink
from support.processes import wait_until_ended

AUTH_INFO = "publickey ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHRlc3Qta2V5LWJsb2ItZm9yLXNzaC1hbGVydC0x\n" \
            "keyboard-interactive/pam\n"


def logged(paths: Paths):
    return [parse_line(line) for line in paths.login_log.read_bytes().splitlines()]


def test_hook_outside_an_ssh_login_records_nothing(paths: Paths):
    environ = hook_env(paths.home)
    del environ["SSH_CONNECTION"]
    finished = run_hook(environ)
    assert (finished.returncode, finished.stdout, finished.stderr) == (0, b"", b"")
    assert not paths.login_log.exists()


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_hook_records_the_original_six_fields_then_connection_tty_key_and_hook(paths: Paths, tmp_path: Path,
                                                                              shell: str):
    auth_file = tmp_path / "auth"
    auth_file.write_text(AUTH_INFO)
    finished = subprocess.run(hook_command(shell=shell), capture_output=True, stdin=subprocess.DEVNULL, timeout=10,
                              env=hook_env(paths.home, SSH_USER_AUTH=str(auth_file), SSH_TTY="/dev/pts/3"))
    assert (finished.returncode, finished.stdout, finished.stderr) == (0, b"", b"")
    (record,) = logged(paths)
    assert record.parsed
    assert (record.ip, record.user, record.methods) == ("203.0.113.7", "alice",
                                                        ("publickey", "keyboard-interactive/pam"))
    assert record.connection == ("203.0.113.7", "51234", "10.0.0.1", "22")
    assert record.extra("tty") == "/dev/pts/3" and record.extra("hook") == "bash-profile"
    assert record.extra("keytype") == "ssh-ed25519" and record.extra("key").startswith("AAAAC3Nz")
    assert oct(paths.login_log.stat().st_mode & 0o777) == "0o600"


def test_hook_without_exposed_auth_info_records_method_unknown(paths: Paths):
    run_hook(hook_env(paths.home))
    (record,) = logged(paths)
    assert record.parsed and record.methods == () and record.raw.split()[5] == "unknown"


@pytest.mark.parametrize("missing", ["pyz", "python"])
def test_hook_with_missing_pyz_or_python_prints_nothing_and_succeeds(paths: Paths, pyz: Path, tmp_path: Path,
                                                                     missing: str):
    environ = hook_env(paths.home)
    if missing == "python":
        install_pyz(paths.home, pyz)
        tools = tmp_path / "tools"  # what the hook needs, and no python3
        tools.mkdir()
        for tool in ("date", "mkdir", "setsid", "sh"):
            (tools / tool).symlink_to(shutil.which(tool))
        environ["PATH"] = str(tools)
    finished = run_hook(environ)
    assert (finished.returncode, finished.stdout, finished.stderr) == (0, b"", b"")
    assert len(logged(paths)) == 1  # the login is recorded for the next successful check all the same


@pytest.mark.parametrize("hook_wait, longest", [("0", 1.5), ("1", 2.5)])
def test_hook_waits_at_most_hook_wait_while_the_mail_server_hangs_and_the_login_is_kept(
        hook_wait: str, longest: float, paths: Paths, pyz: Path, shiv_root: Path, tmp_path: Path):
    install_pyz(paths.home, pyz)
    python = python_dir(tmp_path, Path(subprocess.check_output(["sh", "-c", "command -v python3"]).decode().strip()))
    with HangingServer() as hanging:
        write_config(paths, alert={"hook_wait": hook_wait}, smtp=smtp_settings(hanging, timeout="3"))
        assert run_pyz(pyz, ["check"], pyz_env(paths.home, shiv_root)).returncode == 0  # seed
        assert paths.hook_wait_file.read_text() == hook_wait + "\n"  # where the hook reads it, without Python
        started = time.monotonic()
        finished = run_hook(hook_env(paths.home, python, SHIV_ROOT=str(shiv_root)))
        elapsed = time.monotonic() - started
        assert (finished.returncode, finished.stdout, finished.stderr) == (0, b"", b"")
        assert elapsed < longest, "the login waited {:.1f} s for the mail server".format(elapsed)
        hanging.wait_accepted(1, timeout=10)  # the check did try, and goes on detached
    with MailSink("plain") as sink:  # the server is back: the login was not lost
        write_config(paths, smtp=smtp_settings(sink))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            result = run_pyz(pyz, ["check"], pyz_env(paths.home, shiv_root))
            if result.returncode == 0 and sink.messages:
                break
            time.sleep(0.5)
        assert len(sink.wait_for(1)) == 1


def test_thirty_logins_at_once_through_the_snippet_send_exactly_thirty_emails(paths: Paths, pyz: Path,
                                                                               shiv_root: Path, sink: MailSink,
                                                                               tmp_path: Path):
    python = installed_and_seeded(paths, pyz, shiv_root, tmp_path, smtp_settings(sink))
    hooks = [subprocess.Popen(hook_command(),
                              env=hook_env(paths.home, python, SHIV_ROOT=str(shiv_root),
                                           connection="198.51.100.{} {} 10.0.0.1 22".format(number, 40000 + number)),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
             for number in range(30)]
    outputs = [hook.communicate(timeout=20) for hook in hooks]
    assert all(output == (b"", b"") for output in outputs) and all(hook.returncode == 0 for hook in hooks)
    assert len(logged(paths)) == 30
    received = sink.wait_for(30, timeout=90)
    wait_until_ended(str(paths.home))  # every check the hooks started has exited: nothing more can come
    received = sink.messages
    assert len(received) == 30
    assert sorted(message.message["Subject"] for message in received) == sorted(
        "[NEW IP] SSH login: alice@web1.example.com from 198.51.100.{}".format(number) for number in range(30))


def test_one_login_is_alerted_by_the_hook_itself_within_seconds(paths: Paths, pyz: Path, shiv_root: Path,
                                                                sink: MailSink, tmp_path: Path):
    python = installed_and_seeded(paths, pyz, shiv_root, tmp_path, smtp_settings(sink))
    started = time.monotonic()
    run_hook(hook_env(paths.home, python, SHIV_ROOT=str(shiv_root), SSH_TTY="/dev/pts/9"))
    (received,) = sink.wait_for(1, timeout=5)
    assert received.received_at - started < 5
    body = received.message.get_content()
    assert "interactive (tty /dev/pts/9)" in body and "203.0.113.7 port 51234" in body


def test_hook_in_a_shell_started_by_another_shell_records_nothing(paths: Paths):
    """Nested shells and tmux windows inherit SSH_CONNECTION; they are not new logins."""
    finished = run_hook(hook_env(paths.home), parent=Path(shutil.which("bash") or "/bin/bash"))
    assert (finished.returncode, finished.stdout, finished.stderr) == (0, b"", b"")
    assert not paths.login_log.exists()


def test_shipped_snippet_is_the_hook_template_rendered_with_defaults():
    from app.install.hooks import render_hook

    assert (ROOT / "bash_profile.snippet").read_text() == render_hook()


def test_hook_in_bashrc_records_what_kind_of_session_sshd_started(paths: Paths, tmp_path: Path):
    """Debian's bash reads ~/.bashrc for `bash -c CMD` under sshd (SSH_SOURCE_BASHRC), as sshd runs commands."""
    (paths.home / ".bashrc").write_text(SNIPPET.read_text())
    parent = fake_sshd(tmp_path)
    for command, kind in (("uptime", "command"), ("scp -t /tmp/nowhere", "transfer"),
                          ("/usr/lib/openssh/sftp-server", "transfer"), ("rsync --server -e.Lsfx . /tmp/x", "transfer")):
        subprocess.run([str(parent), "-c", "bash -c {}; true".format(shlex.quote(command))], env=hook_env(paths.home),
                       capture_output=True, timeout=10, stdin=subprocess.DEVNULL)
        assert logged(paths)[-1].extra("kind") == kind, command


# --- a hostile login log: only a regular file is appended to, and nothing blocks the login ---------------

def test_hook_skips_a_fifo_log_without_blocking(paths: Paths):
    paths.state_dir.mkdir(parents=True)
    os.mkfifo(str(paths.login_log))
    finished = run_hook(hook_env(paths.home), timeout=5)  # opening a FIFO for writing would wait for a reader
    assert (finished.returncode, finished.stdout, finished.stderr) == (0, b"", b"")
    assert stat.S_ISFIFO(os.lstat(str(paths.login_log)).st_mode)


@pytest.mark.parametrize("device", ["/dev/urandom", "/dev/zero", "/dev/null"])
def test_hook_skips_a_log_symlinked_to_a_device(paths: Paths, device: str):
    paths.state_dir.mkdir(parents=True)
    paths.login_log.symlink_to(device)
    finished = run_hook(hook_env(paths.home), timeout=5)
    assert (finished.returncode, finished.stdout, finished.stderr) == (0, b"", b"")
    assert os.readlink(str(paths.login_log)) == device


def test_hook_skips_a_log_symlinked_to_a_regular_file(paths: Paths, tmp_path: Path):
    target = tmp_path / "elsewhere"
    target.write_bytes(b"")
    paths.state_dir.mkdir(parents=True)
    paths.login_log.symlink_to(target)
    finished = run_hook(hook_env(paths.home), timeout=5)
    assert (finished.returncode, finished.stdout, finished.stderr) == (0, b"", b"")
    assert target.read_bytes() == b""


def test_hook_creates_nothing_at_the_target_of_a_dangling_log_symlink(paths: Paths, tmp_path: Path):
    target = tmp_path / "planted" / "target"
    target.parent.mkdir()
    paths.state_dir.mkdir(parents=True)
    paths.login_log.symlink_to(target)
    finished = run_hook(hook_env(paths.home), timeout=5)
    assert (finished.returncode, finished.stdout, finished.stderr) == (0, b"", b"")
    assert not os.path.lexists(str(target)) and paths.login_log.is_symlink()


def test_hook_skips_a_directory_at_the_log_path(paths: Paths):
    paths.login_log.mkdir(parents=True)
    finished = run_hook(hook_env(paths.home), timeout=5)
    assert (finished.returncode, finished.stdout, finished.stderr) == (0, b"", b"")
    assert list(paths.login_log.iterdir()) == []


# --- the login's time: an epoch besides the local time, so no time zone can break it ---------------------

@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_hook_records_the_epoch_besides_the_local_time(paths: Paths, shell: str):
    before = int(time.time())
    subprocess.run(hook_command(shell=shell), capture_output=True, stdin=subprocess.DEVNULL, timeout=10,
                   env=hook_env(paths.home, TZ="UTC"))
    after = int(time.time())
    (record,) = logged(paths)
    assert before <= int(record.extra("epoch")) <= after
    assert record.epoch == float(record.extra("epoch"))
    assert record.when == time.strftime("%Y-%m-%d %H:%M:%S +0000", time.gmtime(record.epoch))


def test_two_hooks_of_one_connection_under_a_time_zone_of_a_day_or_more_agree_on_the_epoch(paths: Paths):
    """TZ=XXX-25 prints an offset of +2400 or more, which no strptime %z accepts: the epoch field still works."""
    environ = hook_env(paths.home, TZ="XXX-25")
    before = time.time()
    # ~/.ssh/rc runs under sh, the bash files under bash: two hooks of one connection
    subprocess.run(hooks_of_one_connection("sh", "bash"), capture_output=True, stdin=subprocess.DEVNULL, timeout=10,
                   env=environ)
    first, second = logged(paths)
    assert first.when.endswith("+2400") or first.when.endswith("+2500")
    assert first.connection_key == second.connection_key != ""
    assert first.epoch is not None and second.epoch is not None
    assert abs(first.epoch - second.epoch) <= 2 and abs(first.epoch - before) <= 5


# --- the hand-off: the session starts once the alert has left -----------------------------------------------

def installed_and_seeded(paths: Paths, pyz: Path, shiv_root: Path, tmp_path: Path, smtp: dict) -> Path:
    """The pyz where the hook expects it, a config for smtp, the store seeded; returns the python3 directory
    to put first on the hook's PATH."""
    install_pyz(paths.home, pyz)
    python = python_dir(tmp_path, Path(subprocess.check_output(["sh", "-c", "command -v python3"]).decode().strip()))
    write_config(paths, smtp=smtp)
    assert run_pyz(pyz, ["check"], pyz_env(paths.home, shiv_root)).returncode == 0  # seed
    return python


def test_the_hook_returns_only_after_the_server_accepted_this_logins_alert(paths: Paths, pyz: Path, shiv_root: Path,
                                                                           sink: MailSink, tmp_path: Path):
    python = installed_and_seeded(paths, pyz, shiv_root, tmp_path, smtp_settings(sink))
    for number in range(3):
        connection = "198.51.100.{} {} 10.0.0.1 22".format(number, 41000 + number)
        finished = run_hook(hook_env(paths.home, python, SHIV_ROOT=str(shiv_root), connection=connection))
        assert (finished.returncode, finished.stdout, finished.stderr) == (0, b"", b"")
        assert len(sink.messages) == number + 1  # already there: no waiting after the hook returned
        assert paths.waited_file.read_text().splitlines()[-1].startswith(connection + " ")


def test_a_later_hook_of_a_connection_already_waited_for_records_without_starting_python(paths: Paths, pyz: Path,
                                                                                         shiv_root: Path,
                                                                                         sink: MailSink, tmp_path: Path):
    python = installed_and_seeded(paths, pyz, shiv_root, tmp_path, smtp_settings(sink))
    spy = tmp_path / "spy"
    spy.mkdir()
    (spy / "python3").write_text("#!/bin/sh\ntouch {}\n".format(shlex.quote(str(tmp_path / "python-ran"))))
    (spy / "python3").chmod(0o755)
    # rc, then ~/.bashrc of the same connection; the second finds only the spy where python3 should be
    finished = subprocess.run(hooks_of_one_connection("sh", "PATH={}:$PATH bash".format(spy)),
                              env=hook_env(paths.home, python, SHIV_ROOT=str(shiv_root)), capture_output=True,
                              stdin=subprocess.DEVNULL, timeout=20)
    assert (finished.returncode, finished.stdout, finished.stderr) == (0, b"", b"")
    assert len(sink.messages) == 1
    assert not (tmp_path / "python-ran").exists()
    assert len(logged(paths)) == 2  # recorded all the same: the next check merges it
    assert run_pyz(pyz, ["check"], pyz_env(paths.home, shiv_root)).returncode == 0
    wait_until_ended(str(paths.home))  # the first hook's check too
    assert len(sink.messages) == 1


def test_a_new_connection_reusing_a_client_port_within_minutes_is_a_new_login(paths: Paths, pyz: Path,
                                                                              shiv_root: Path, sink: MailSink,
                                                                              tmp_path: Path):
    """Same client address and port, another sshd process: NAT or a busy loopback, not the same connection."""
    python = installed_and_seeded(paths, pyz, shiv_root, tmp_path, smtp_settings(sink))
    for _ in range(2):
        assert run_hook(hook_env(paths.home, python, SHIV_ROOT=str(shiv_root))).returncode == 0
    assert len(sink.messages) == 2


def test_a_garbled_hook_wait_file_still_waits_and_never_fails_the_login(paths: Paths, pyz: Path, shiv_root: Path,
                                                                        sink: MailSink, tmp_path: Path):
    python = installed_and_seeded(paths, pyz, shiv_root, tmp_path, smtp_settings(sink))
    paths.hook_wait_file.write_text("$(touch /tmp/never) `id` ; three\n")
    finished = run_hook(hook_env(paths.home, python, SHIV_ROOT=str(shiv_root)))
    assert (finished.returncode, finished.stdout, finished.stderr) == (0, b"", b"")
    assert len(sink.messages) == 1  # the default wait: the alert had left


def test_a_hook_that_waited_out_a_hanging_server_spares_the_connections_later_hooks_the_wait(
        paths: Paths, pyz: Path, shiv_root: Path, tmp_path: Path):
    install_pyz(paths.home, pyz)
    python = python_dir(tmp_path, Path(subprocess.check_output(["sh", "-c", "command -v python3"]).decode().strip()))
    with HangingServer() as hanging:
        write_config(paths, alert={"hook_wait": "1"}, smtp=smtp_settings(hanging, timeout="3"))
        assert run_pyz(pyz, ["check"], pyz_env(paths.home, shiv_root)).returncode == 0  # seed
        started = time.monotonic()
        finished = subprocess.run(hooks_of_one_connection("sh", "bash", "bash"),
                                  env=hook_env(paths.home, python, SHIV_ROOT=str(shiv_root)), capture_output=True,
                                  stdin=subprocess.DEVNULL, timeout=20)
        assert (finished.returncode, finished.stdout, finished.stderr) == (0, b"", b"")
        assert time.monotonic() - started < 1.9, "a later hook of the same connection waited again"
        assert len(logged(paths)) == 3


def test_the_first_channel_that_delivers_releases_the_login_while_the_mail_server_hangs(
        paths: Paths, pyz: Path, shiv_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from support.httpsworld import HttpsWorld, without_proxies

    without_proxies(monkeypatch)
    install_pyz(paths.home, pyz)
    python = python_dir(tmp_path, Path(subprocess.check_output(["sh", "-c", "command -v python3"]).decode().strip()))
    with HangingServer() as hanging, HttpsWorld(api="ntfy") as ntfy:
        write_config(paths, alert={"hook_wait": "5", "channels": "email, ntfy"},
                     smtp=smtp_settings(hanging, timeout="10"))
        with open(str(paths.config_file), "a") as handle:
            handle.write("[ntfy]\nurl = {}/alerts\nsecret_store = none\nca_file = {}\n".format(ntfy.url, ntfy.ca_file))
        assert run_pyz(pyz, ["check"], pyz_env(paths.home, shiv_root)).returncode == 0  # seed
        started = time.monotonic()
        finished = run_hook(hook_env(paths.home, python, SHIV_ROOT=str(shiv_root)))
        elapsed = time.monotonic() - started
        assert (finished.returncode, finished.stdout, finished.stderr) == (0, b"", b"")
        assert len(ntfy.requests) == 1, "the alert had left by push when the login went on"
        assert elapsed < 4, "the login waited {:.1f} s for the hanging mail server".format(elapsed)
