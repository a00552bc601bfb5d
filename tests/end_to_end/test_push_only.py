"""Push-only accounts, end to end through the built pyz: no email settings at all, the real login snippet, a real
`check --hook-wait`, real HTTPS servers on loopback; and the hand-off rule that only a delivery that left the
machine (never a line written to the local syslog) lets the waiting login go on."""

import json
import os
import socket
import stat
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest

from app.logins.loginline import parse_line
from app.system.paths import Paths
from helpers import hook_env, install_pyz, python_dir, pyz_env, run_hook, run_pyz, smtp_settings, write_config
from support.httpsworld import HttpsWorld, without_proxies
from support.mailsink import HangingServer

TIMEOUT = 60


def system_python(tmp_path: Path) -> Path:
    return python_dir(tmp_path, Path(subprocess.check_output(["sh", "-c", "command -v python3"]).decode().strip()))


def write_push_only(paths: Paths, text: str) -> None:
    paths.config_dir.mkdir(parents=True, exist_ok=True)
    paths.config_file.write_text(text)
    paths.config_file.chmod(0o600)


@pytest.fixture
def ntfy(monkeypatch: pytest.MonkeyPatch) -> Iterator[HttpsWorld]:
    without_proxies(monkeypatch)
    with HttpsWorld(api="ntfy") as world:
        yield world


def test_a_push_only_account_is_alerted_through_the_login_snippet_and_check_hook_wait(
        paths: Paths, pyz: Path, shiv_root: Path, tmp_path: Path, ntfy: HttpsWorld) -> None:
    install_pyz(paths.home, pyz)
    write_push_only(paths, "[alert]\nchannels = ntfy\nhook_wait = 5\nreverse_dns = no\nhost_label = web1\n"
                           "[ntfy]\nurl = {}/alerts\nsecret_store = none\nca_file = {}\n".format(ntfy.url, ntfy.ca_file))
    environ = pyz_env(paths.home, shiv_root)
    seeded = run_pyz(pyz, ["check"], environ, timeout=TIMEOUT)
    assert (seeded.returncode, seeded.stderr) == (0, "")
    started = time.monotonic()
    finished = run_hook(hook_env(paths.home, system_python(tmp_path), SHIV_ROOT=str(shiv_root)), timeout=20)
    elapsed = time.monotonic() - started
    assert (finished.returncode, finished.stdout, finished.stderr) == (0, b"", b"")
    assert len(ntfy.requests) == 1, "the alert had left by push when the login went on"
    assert elapsed < 4.5, "the login waited {:.1f} s although ntfy answered at once".format(elapsed)
    assert b"203.0.113.7" in ntfy.requests[0].body and ntfy.requests[0].headers["x-priority"] == "high"  # new source
    cron = run_pyz(pyz, ["check", "--cron"], environ, timeout=TIMEOUT)  # heartbeat, watch, notices: no email
    assert (cron.returncode, cron.stderr) == (0, "")
    status = run_pyz(pyz, ["status", "--json"], environ, timeout=TIMEOUT)
    checks = {check["name"]: check for check in json.loads(status.stdout)["checks"]}
    assert checks["delivery"]["detail"] == "no email: alerts go to ntfy"
    assert checks["config"]["status"] == "ok" and checks["ntfy"]["status"] == "ok"
    assert "password" not in checks
    assert len(ntfy.requests) == 1  # exactly once


def test_setup_channel_on_an_account_with_no_config_writes_a_push_only_config_that_alerts(
        paths: Paths, pyz: Path, shiv_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    without_proxies(monkeypatch)
    with HttpsWorld(api="telegram") as telegram:
        environ = pyz_env(paths.home, shiv_root)
        result = run_pyz(pyz, ["setup", "--channel", "telegram", "--non-interactive", "--telegram-chat-id", "42",
                               "--telegram-api-base", telegram.url, "--telegram-ca-file", telegram.ca_file,
                               "--token-stdin"], environ, stdin="123456:telegram-token\n", timeout=TIMEOUT)
        assert result.returncode == 0, result.stderr
        assert "alerts now go to telegram" in result.stdout and "First check" in result.stdout
        text = paths.config_file.read_text()
        assert "channels = telegram" in text and "[smtp]" not in text and "telegram-token" not in text
        assert stat.S_IMODE(paths.config_file.stat().st_mode) == 0o600
        assert len(telegram.requests) == 1  # the test message
        with open(str(paths.login_log), "ab") as log:
            log.write("2026-11-25 11:55:03 +0000 alice 203.0.113.7 publickey cport=1 saddr=10.0.0.1 sport=22 "
                      "epoch={}\n".format(int(time.time())).encode())
        checked = run_pyz(pyz, ["check"], environ, timeout=TIMEOUT)
        assert (checked.returncode, checked.stderr) == (0, "")
        assert len(telegram.requests) == 2 and "203.0.113.7" in json.loads(telegram.requests[1].body)["text"]


def test_interactive_setup_can_choose_push_only(paths: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from app.commands import setup as setup_command
    from app.commands.setup import ASK_PUSH_CHANNEL, setup
    from app.commands.setup_dialog import ASK_TO

    without_proxies(monkeypatch)

    class Terminal:
        def __init__(self, answers):
            self.answers, self.asked = dict(answers), []

        def ask(self, question, default="", validate=None):
            self.asked.append(question)
            answer = next((value for key, value in self.answers.items() if question.startswith(key)), default)
            assert validate is None or validate(answer) is None
            return answer

        def choose(self, question, choices, default):
            return self.ask(question, default)

        def secret(self, question, allow_empty=False):
            return ""

        def confirm(self, question, default=True):
            return default

        def say(self, text):
            pass

    with HttpsWorld(api="ntfy") as ntfy:
        terminal = Terminal({ASK_TO: "none", ASK_PUSH_CHANNEL: "ntfy", "[ntfy] url": ntfy.url + "/alerts",
                             "[ntfy] ca_file": ntfy.ca_file})
        parser = argparse.ArgumentParser()
        setup_command.add_parser(parser.add_subparsers())
        arguments = parser.parse_args(["setup", "--ntfy-ca-file", ntfy.ca_file])
        result = setup(paths, arguments, terminal)  # type: ignore[arg-type]
        assert result.exit_code == 0, result.lines
        assert terminal.asked[0].startswith(ASK_TO)
        assert "channels = ntfy" in paths.config_file.read_text() and len(ntfy.requests) == 1


@pytest.fixture
def syslog_socket(tmp_path: Path) -> Iterator[socket.socket]:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(tmp_path / "log"))
    server.settimeout(10)
    yield server
    server.close()


def test_syslog_never_releases_the_waiting_login_while_the_mail_server_hangs(
        paths: Paths, pyz: Path, shiv_root: Path, tmp_path: Path, syslog_socket: socket.socket) -> None:
    install_pyz(paths.home, pyz)
    with HangingServer() as hanging:
        write_config(paths, alert={"hook_wait": "3", "syslog": "yes", "syslog_socket": str(tmp_path / "log")},
                     smtp=smtp_settings(hanging, timeout="10"))
        assert run_pyz(pyz, ["check"], pyz_env(paths.home, shiv_root), timeout=TIMEOUT).returncode == 0  # seed
        started = time.monotonic()
        finished = run_hook(hook_env(paths.home, system_python(tmp_path), SHIV_ROOT=str(shiv_root)), timeout=20)
        elapsed = time.monotonic() - started
        assert (finished.returncode, finished.stdout, finished.stderr) == (0, b"", b"")
        line = syslog_socket.recv(4096).decode()
        assert "ssh_alert: event=login" in line and "ip=203.0.113.7" in line  # syslog was written...
        assert elapsed >= 2.9, "syslog released the login after {:.1f} s; only a delivery that left may".format(
            elapsed)  # ...and the login still waited the whole hook_wait for the email
        assert [parse_line(entry).ip for entry in paths.login_log.read_bytes().splitlines()] == ["203.0.113.7"]
        assert os.path.exists(str(paths.store_file))


def test_test_channel_exits_1_naming_the_channel_the_http_stage_and_the_reply(
        paths: Paths, pyz: Path, shiv_root: Path, ntfy: HttpsWorld) -> None:
    from support.httpsworld import HTML_PORTAL

    import shutil

    ca_file = paths.home / "ntfy-ca.pem"  # kept: a world closed mid-test deletes its own
    shutil.copy(ntfy.ca_file, str(ca_file))
    write_push_only(paths, "[alert]\nchannels = ntfy\n[ntfy]\nurl = {}/alerts\nsecret_store = none\nca_file = {}\n"
                    .format(ntfy.url, ca_file))
    environ = pyz_env(paths.home, shiv_root)
    ntfy.answer(HTML_PORTAL, times=1)
    portal = run_pyz(pyz, ["test", "--channel", "ntfy"], environ, timeout=TIMEOUT)
    assert portal.returncode == 1 and portal.stdout == ""
    assert "ntfy: HTTP 200 without a JSON id" in portal.stderr and "Sign in to the hotel Wi-Fi" in portal.stderr
    ntfy.close()
    refused = run_pyz(pyz, ["test", "--channel", "ntfy"], environ, timeout=TIMEOUT)
    assert refused.returncode == 1 and "(connect): connection refused" in refused.stderr
    assert "ntfy" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1


def test_a_tunnel_no_hook_saw_reaches_a_push_only_account_once(paths: Paths, ntfy: HttpsWorld,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from app.logins import sessions
    from app.commands.check import run_check

    write_push_only(paths, "[alert]\nchannels = ntfy\nreverse_dns = no\nhost_label = web1\n"
                           "[ntfy]\nurl = {}/alerts\nsecret_store = none\nca_file = {}\n".format(ntfy.url, ntfy.ca_file))
    run_check(paths)  # seed
    tunnel = sessions.SshProcess(4242, time.time() - 3000, "sshd: alice", "4242:77")
    monkeypatch.setattr(sessions, "own_sshd_processes", lambda user, proc="/proc": [tunnel])
    run_check(paths, scan_sessions=True)
    run_check(paths, scan_sessions=True)
    titles = [request.headers["x-title"] for request in ntfy.requests]
    assert titles == [title for title in titles if "without a session on web1" in title] and len(titles) == 1


def test_the_heartbeat_reaches_a_push_only_account_once_and_quietly(paths: Paths, ntfy: HttpsWorld) -> None:
    from app.check.health import HEARTBEAT_LAST
    from app.store.store import opened
    from app.commands.check import run_check

    write_push_only(paths, "[alert]\nchannels = ntfy\nheartbeat = daily\nhost_label = web1\n"
                           "[ntfy]\nurl = {}/alerts\nsecret_store = none\nca_file = {}\n".format(ntfy.url, ntfy.ca_file))
    run_check(paths)  # seed
    run_check(paths, scan_sessions=True)  # starts the count
    with opened(paths.store_file) as store, store.transaction():
        store.put(HEARTBEAT_LAST, time.time() - 86400 - 60)
    run_check(paths, scan_sessions=True)
    run_check(paths, scan_sessions=True)
    (request,) = ntfy.requests
    assert "daily" in request.headers["x-title"] and request.headers["x-priority"] == "default"
