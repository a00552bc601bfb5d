"""A login the system-wide PAM hook could not append (a full disk) is alerted from the PAM environment, as the
line the hook would have written: the hook's own bytes, its identity, once; a piece of it left in the log is
taken back. The hook script itself is run with sh, as pam_exec runs it."""

import ast
import os
import sys
import time
from pathlib import Path
from typing import Dict, Iterator, Mapping

import pytest

from app.check import unrecorded
from app.check.dispatch import login_identity
from app.logins.loginline import parse_line
from app.store.outbox import message_id
from app.commands.check import run_check
from app.install.pam import render_script
from app.system.paths import Paths
from helpers import append_log, faked_clock, smtp_settings, write_config
from support.mailsink import MailSink

KEY = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
PAM = {"PAM_SERVICE": "sshd", "PAM_TYPE": "open_session", "PAM_USER": "alice", "PAM_RHOST": "203.0.113.7",
       "SSH_CONNECTION": "203.0.113.7 51234 10.0.0.1 22", "SSH_AUTH_INFO_0": "publickey ssh-ed25519 {}\n".format(KEY)}
# What an sshd, a client or an attacker can put there; each must come out as the hook writes it.
HOSTILE = [
    {},
    {"SSH_AUTH_INFO_0": "publickey ssh-rsa AAAAB3\nkeyboard-interactive\n"},
    {"SSH_AUTH_INFO_0": "  publickey\tssh-ed25519   AAAA  trailing words\n\n  \npassword"},
    {"SSH_AUTH_INFO_0": "publickey ssh-ed25519\n"},
    {"SSH_AUTH_INFO_0": "pub\rkey x y\npublickey ssh-ed25519 AA'$(id)\npublickey ssh-rsa BB\n"},
    {"SSH_AUTH_INFO_0": "\xff\xfe publickey\npublickey a b c d e"},
    {"PAM_USER": "bad user;rm", "PAM_RHOST": "evil$(x)"},
    {"PAM_USER": ".hidden", "PAM_RHOST": ""},
    {"PAM_USER": "", "PAM_RHOST": "host.example.com", "SSH_CONNECTION": "198.51.100.1 1 10.0.0.1 22"},
    {"PAM_USER": "\xfcser"},
    {"SSH_CONNECTION": "10.9.9.9 51234 10.0.0.1 22"},
    {"SSH_CONNECTION": "203.0.113.7 51x34 10.0.0.1 22"},
    {"SSH_CONNECTION": "203.0.113.7 51234 10.0.0.1/8 22"},
    {"SSH_CONNECTION": "203.0.113.7\t51234\n10.0.0.1  22 "},
    {"SSH_CONNECTION": "203.0.113.7 51234 10.0.0.1 22 5"},
    {"PAM_RHOST": "fe80::1%eth0", "SSH_CONNECTION": "fe80::1%eth0 40000 fe80::2%eth0 2222"},
]


def dumping_python(directory: Path) -> Path:
    """An interpreter stand-in that writes the environment it was started with (bytes) to directory/env."""
    path = directory / "python3"
    path.write_text("#!{}\nimport os\nopen({!r}, 'w').write(repr(dict(os.environb)))\n".format(
        sys.executable, str(directory / "env")))
    path.chmod(0o755)
    return path


def run_hook(tmp_path: Path, environ: Mapping[str, str], wait: str = "3") -> Dict[str, str]:
    """Run the PAM hook script as pam_exec does; returns the environment its check was started with."""
    state, seen = tmp_path / "state", tmp_path / "seen"
    state.mkdir(exist_ok=True)
    (state / "hook_wait").write_text(wait + "\n")
    pyz = tmp_path / "ssh_alert.pyz"
    pyz.write_bytes(b"")
    script = tmp_path / "hook"
    script.write_text(render_script(str(dumping_python(tmp_path)), str(pyz), str(state), str(seen), str(tmp_path)))
    dumped = tmp_path / "env"
    if dumped.exists():
        dumped.unlink()
    encoded = {key.encode("utf-8", "surrogateescape"): value.encode("utf-8", "surrogateescape")
               for key, value in dict(environ, **faked_clock()).items()}  # the hook's `date` sees the test's clock
    assert os.spawnve(os.P_WAIT, "/bin/sh", [b"sh", str(script).encode()], encoded) == 0
    deadline = time.monotonic() + 10
    while not (dumped.exists() and dumped.read_text().endswith("}")) and time.monotonic() < deadline:
        time.sleep(0.02)  # wait = 0: the check was started in the background
    return {key.decode("utf-8", "surrogateescape"): value.decode("utf-8", "surrogateescape")
            for key, value in ast.literal_eval(dumped.read_text()).items()}


@pytest.mark.parametrize("change", HOSTILE)
def test_the_line_built_from_the_pam_environment_is_the_pam_hooks_line_byte_for_byte(tmp_path: Path, change: dict):
    environ = {key: value for key, value in dict(PAM, **change).items() if value or key in change}
    seen_by_check = run_hook(tmp_path, environ)
    (written,) = (tmp_path / "state" / "logins.log").read_bytes().splitlines()
    assert seen_by_check["SSH_ALERT_UNLOGGED"] == ""  # the hook appended its line: nothing to build
    epoch = unrecorded.hook_epoch(seen_by_check, time.time())
    assert epoch == int(seen_by_check["SSH_ALERT_EPOCH"])
    assert unrecorded.pam_line(seen_by_check, epoch) == written


@pytest.mark.parametrize("wait", ["3", "0"])
def test_the_pam_hook_tells_its_check_when_it_could_not_append_its_line(tmp_path: Path, wait: str):
    state = tmp_path / "state"
    state.mkdir()
    (state / "logins.log").mkdir()  # nothing can be appended there (a full disk does the same: the e2e tests)
    seen_by_check = run_hook(tmp_path, PAM, wait)
    assert seen_by_check["SSH_ALERT_UNLOGGED"] == "1"
    assert seen_by_check["SSH_ALERT_SPID"] == "" and seen_by_check["SSH_CONNECTION"] == PAM["SSH_CONNECTION"]
    record = parse_line(unrecorded.pam_line(seen_by_check, int(seen_by_check["SSH_ALERT_EPOCH"])))
    assert (record.ip, record.user, record.methods, record.extra("key")) == ("203.0.113.7", "alice", ("publickey",),
                                                                            KEY)


def test_the_hooks_time_is_taken_only_near_when_its_check_started():
    now = time.time()
    assert unrecorded.hook_epoch({"SSH_ALERT_EPOCH": str(int(now) - 2)}, now) == int(now) - 2
    assert unrecorded.hook_epoch({"SSH_ALERT_EPOCH": str(int(now) - 3600)}, now) == int(now)  # stale: not this hook's
    assert unrecorded.hook_epoch({"SSH_ALERT_EPOCH": str(int(now) + 60)}, now) == int(now)
    assert unrecorded.hook_epoch({"SSH_ALERT_EPOCH": "12abc"}, now) == int(now)


LINE = unrecorded.pam_line(PAM, int(time.time()))


@pytest.mark.parametrize("before, piece, dropped", [
    (b"earlier line\n", LINE[:40], True),
    (b"", LINE[:1], True),  # at the file's start
    (b"earlier line\n", LINE, True),  # all but its newline
    (b"earlier line\n", b"", False),
    (b"earlier line\n", b"2026-01-01 00:00:00 +0000 198.51.100.1 bob", False),  # another line's piece
    (b"earlier", LINE[:20], False),  # not at a line's start
    (b"earlier line\n", LINE + b"\n", False),  # the whole line got in
])
def test_only_the_hooks_own_cut_line_is_taken_back_from_the_log(tmp_path: Path, before: bytes, piece: bytes,
                                                                 dropped: bool):
    log = tmp_path / "logins.log"
    log.write_bytes(before + piece)
    assert unrecorded.drop_fragment(log, LINE) is dropped
    assert log.read_bytes() == (before if dropped else before + piece)


# --- the check the PAM hook starts ---------------------------------------------------------------------------

EARLIER = unrecorded.pam_line(dict(PAM, PAM_RHOST="192.0.2.1"), int(time.time()) - 3600)


@pytest.fixture
def system_paths(tmp_path: Path, sink: MailSink) -> Paths:
    paths = Paths(tmp_path, tmp_path / "etc", tmp_path / "state", tmp_path / "etc", system=True)
    write_config(paths, smtp=smtp_settings(sink))
    paths.state_dir.mkdir(mode=0o700)
    append_log(paths, EARLIER)
    run_check(paths)  # seeds
    return paths


@pytest.fixture
def hook_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[Dict[str, str]]:
    environ = dict(PAM, SSH_ALERT_SPID="4242", SSH_ALERT_EPOCH=str(int(time.time())), SSH_ALERT_UNLOGGED="1")
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    yield environ


def test_an_unlogged_pam_login_is_alerted_once_with_its_identity_and_its_later_line_is_a_repeat(
        system_paths: Paths, sink: MailSink, hook_environment: Dict[str, str], monkeypatch: pytest.MonkeyPatch):
    hook_line = unrecorded.pam_line(hook_environment, int(hook_environment["SSH_ALERT_EPOCH"]))
    append_log(system_paths)
    with open(str(system_paths.login_log), "ab") as log:
        log.write(hook_line[:50])  # what a full disk let in
    run_check(system_paths)
    (alert,) = sink.messages
    assert "alice" in alert.message["Subject"] and alert.message["Subject"].endswith("from 203.0.113.7")
    assert "publickey" in alert.message.get_content()
    identity = login_identity(parse_line(hook_line), "")
    assert alert.message["Message-ID"] == message_id(identity, "login",
                                                     alert.message["Message-ID"].split("@", 1)[1].rstrip(">"))
    assert system_paths.login_log.read_bytes() == EARLIER + b"\n"  # taken back: the next line starts clean
    for name in ("SSH_ALERT_UNLOGGED", "SSH_ALERT_SPID", "SSH_ALERT_EPOCH"):
        monkeypatch.delenv(name)  # a later check (cron)
    append_log(system_paths, hook_line)  # had the line got in after all, it would be a repeat
    run_check(system_paths)
    run_check(system_paths)
    assert len(sink.messages) == 1


def test_an_unlogged_pam_login_without_a_trusted_connection_is_still_alerted_once(
        system_paths: Paths, sink: MailSink, hook_environment: Dict[str, str], monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PAM_RHOST", "client.example.com")  # UseDNS yes: SSH_CONNECTION cannot be trusted
    run_check(system_paths)
    (alert,) = sink.messages
    assert alert.message["Subject"].endswith("from client.example.com")
    monkeypatch.delenv("SSH_ALERT_UNLOGGED")
    run_check(system_paths)
    assert len(sink.messages) == 1


def test_a_pam_login_whose_line_got_in_is_not_built_from_the_environment(system_paths: Paths, sink: MailSink,
                                                                         hook_environment: Dict[str, str],
                                                                         monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SSH_ALERT_UNLOGGED", "")
    append_log(system_paths, unrecorded.pam_line(hook_environment, int(hook_environment["SSH_ALERT_EPOCH"])))
    run_check(system_paths)
    run_check(system_paths)
    assert len(sink.messages) == 1
