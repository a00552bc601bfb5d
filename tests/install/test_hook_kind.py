"""The client cannot pick a kind a rule silences: "transfer" only for the exact commands sshd, scp and rsync
send; a skip rule never matches a kind the client chose without a key or from condition; record_command is
opt-in and one escaped token."""

import os
import subprocess
from pathlib import Path
from typing import Optional

import pytest

from app.logins.loginline import parse_line
from app.rules.rules import evaluate, parse_rules
from app.system.paths import Paths
from helpers import SNIPPET, hook_env
from support.hookrun import fake_sshd

SFTP_SERVER = "/usr/lib/openssh/sftp-server"


def login_running(paths: Paths, command: str, tmp_path: Path) -> str:
    """One `ssh host COMMAND` into bash, the hook in ~/.bashrc (Debian's bash reads it when sshd starts it, as
    SSH_CLIENT tells); returns its log line."""
    (paths.home / ".bashrc").write_text(SNIPPET.read_text())
    environ = hook_env(paths.home, PATH="/usr/bin:/bin")
    subprocess.run([str(fake_sshd()), "-c", 'bash -c "$1"; true', "sshd", command], env=environ, cwd=str(tmp_path),
                   stdin=subprocess.DEVNULL, capture_output=True, timeout=20)
    return paths.login_log.read_bytes().splitlines()[-1].decode()


@pytest.mark.parametrize("command, kind", [
    ("scp -t /tmp/x", "transfer"),
    ("scp -v -r -p -t -- -x", "transfer"),
    ("scp -f /etc/hostname", "transfer"),
    ("rsync --server -vlogDtpre.iLsfxCIvu . /tmp/dest", "transfer"),
    ("id; : sftp-server", "command"),
    ("echo sftp-server", "command"),
    ("scp -t x; id", "command"),
    ("scp -r a b -t y", "command"),
    ("scp -t $(id)", "command"),
    ("scp -t a\nid", "command"),
    ("/tmp/sftp-server", "command"),
    ("rsync --server --sender . x | cat", "command"),
])
def test_only_the_exact_transfer_commands_are_a_transfer(paths: Paths, tmp_path: Path, command: str, kind: str):
    assert parse_line(login_running(paths, command, tmp_path).encode()).extra("kind") == kind


@pytest.mark.skipif(not os.access(SFTP_SERVER, os.X_OK), reason="no OpenSSH sftp-server here")
def test_the_sftp_subsystem_is_a_transfer(paths: Paths, tmp_path: Path):
    assert parse_line(login_running(paths, SFTP_SERVER, tmp_path).encode()).extra("kind") == "transfer"
    assert parse_line(login_running(paths, SFTP_SERVER + " -l INFO", tmp_path).encode()).extra("kind") == "transfer"


def test_the_command_is_recorded_only_when_record_command_is_on(paths: Paths, tmp_path: Path):
    assert "cmd=" not in login_running(paths, "true secret-token", tmp_path)
    paths.record_command_file.write_text("yes\n")
    line = login_running(paths, ': "a b" key=AAAAforged tty=/dev/pts/1 ' + "x" * 300, tmp_path)
    record = parse_line(line.encode())
    assert record.parsed and record.extra("key") == "" and record.extra("tty") == "none"
    assert record.extra("cmd").startswith(r':\x20\"a\x20b\"\x20key=AAAAforged') and len(record.extra("cmd")) == 200


def verdict(rule: str, kind: str, ip: str = "203.0.113.9", key: str = ""):
    rules, problems = parse_rules({"r": rule})
    assert problems == []
    login = {"user": "alice", "ip": ip, "kind": kind, "key_fingerprint": key}
    return evaluate(rules, login, None, None, None)


@pytest.mark.parametrize("kind", ["transfer", "command", "interactive"])
def test_a_skip_rule_on_a_client_chosen_kind_alone_never_skips(kind: str):
    result = verdict("kind {} -> skip".format(kind), kind)
    assert not result.skip and any("the client chose the kind" in reason for reason in result.reasons)
    assert not verdict("user alice kind {} -> skip".format(kind), kind).skip


def test_a_skip_rule_with_a_network_and_a_kind_still_skips():
    assert verdict("from 10.0.0.0/8 kind transfer -> skip", "transfer", ip="10.1.2.3").skip
    assert not verdict("from 10.0.0.0/8 kind transfer -> skip", "transfer").skip


def test_a_tunnel_seen_by_the_cron_scan_is_not_client_text_and_a_kind_rule_may_skip_it():
    assert verdict("kind tunnel -> skip", "tunnel").skip


def test_tag_rules_on_a_kind_still_apply():
    assert verdict("kind transfer -> tag files", "transfer").tags == ("files",)
