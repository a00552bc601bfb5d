"""Migrating from the original script: its config, password, login log and state, in exactly their formats.

The end-to-end tests run the built pyz (``setup --non-interactive --import-legacy``) against a real
STARTTLS server with AUTH; the others call app.install.legacy and the real check on files in the old formats.
"""

import stat
from pathlib import Path
from typing import List

import keyring.core
import pytest

from app.settings import credentials
from app.commands.check import run_check
from app.commands.setup import LEGACY_LOG_SKIPPED, LEGACY_NOT_IMPORTED, LEGACY_PASSWORD_MOVED
from app.install.legacy import (STATE_MISSING, STATE_TOO_LARGE, STATE_UNREADABLE, find_legacy, import_log,
                        legacy_security, log_import_blocker, parse_legacy_config, plan_log_import, read_log_import,
                        remove_password, without_password)
from app.system.paths import Paths
from app.settings.secretstore import SecretsFile
from app.logins.statediff import plan
from helpers import pyz_env, run_pyz, smtp_settings, write_config
from support.mailsink import MailSink
from support.legacy import LEGACY_CONFIG, LEGACY_LINES, PASSWORD, write_legacy
from support.stored import position

@pytest.fixture(autouse=True)
def no_os_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    """No D-Bus here: make keyring's choice deterministic (fail.Keyring), as on a headless server."""
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.setattr(keyring.core, "_keyring_backend", None)


def alerted_ips(server: MailSink) -> List[str]:
    return [received.message["Subject"].rsplit(" ", 1)[-1] for received in server.messages]


# --- reading the original formats ---------------------------------------------------------------------

def test_the_original_config_format_is_read_key_for_key():
    settings = parse_legacy_config(LEGACY_CONFIG.format(port=587, password="pa ss"))
    assert settings.recipients == ("owner@example.com",)
    assert (settings.sender, settings.method, settings.host, settings.port) == ("monitor@example.com", "smtp",
                                                                                "127.0.0.1", 587)
    assert (settings.user, settings.password, settings.security) == ("alice", "pa ss", "starttls")


@pytest.mark.parametrize("ssl, starttls, port, expected", [
    ("yes", "no", 465, "ssl"), ("no", "yes", 587, "starttls"), ("", "no", 25, "none"), ("", "", 465, "ssl"),
    ("", "", 587, "starttls"), ("", "", None, ""), ("true", "yes", 465, "ssl")])
def test_the_original_ssl_and_starttls_flags_become_one_security_mode(ssl, starttls, port, expected):
    assert legacy_security(ssl, starttls, port) == expected


def test_only_the_original_files_that_exist_are_offered(paths: Paths, home: Path):
    assert not find_legacy(paths).found
    (home / ".ssh_logins").write_text(LEGACY_LINES[0] + "\n")
    found = find_legacy(paths)
    assert found.found and found.names() == [str(home / ".ssh_logins")]


# --- planning the log import --------------------------------------------------------------------------

def legacy_bytes(lines: List[str]) -> bytes:
    return "".join(line + "\n" for line in lines).encode()


def test_a_state_of_3_leaves_exactly_the_4th_and_5th_logins_pending():
    data = legacy_bytes(LEGACY_LINES)
    imported = plan_log_import(data, "3\n")
    assert (imported.total, imported.pending, imported.warning, imported.raw_lines) == (5, 2, "", 5)
    assert imported.data == data
    assert data[imported.offset:] == legacy_bytes(LEGACY_LINES[3:])


def test_a_state_counting_every_line_leaves_nothing_pending():
    imported = plan_log_import(legacy_bytes(LEGACY_LINES), "5")
    assert (imported.pending, imported.offset, imported.warning) == (0, len(imported.data), "")


def test_a_state_larger_than_the_log_replays_nothing_and_warns():
    imported = plan_log_import(legacy_bytes(LEGACY_LINES), "9", "LOG", "STATE")
    assert imported.pending == 0 and imported.offset == len(imported.data)
    assert imported.warning == STATE_TOO_LARGE.format(state="STATE", count=9, log="LOG", total=5)


@pytest.mark.parametrize("state", ["", "three", "-1", "3.5", "\x00\x01"])
def test_an_unreadable_state_replays_nothing_and_warns(state: str):
    imported = plan_log_import(legacy_bytes(LEGACY_LINES), state, "LOG", "STATE")
    assert imported.pending == 0 and imported.offset == len(imported.data)
    assert imported.warning.startswith(STATE_UNREADABLE.split("(")[0].format(state="STATE"))
    assert "history is never replayed" in imported.warning


def test_a_missing_state_replays_nothing_and_warns():
    imported = plan_log_import(legacy_bytes(LEGACY_LINES), None, "LOG", "STATE")
    assert imported.pending == 0
    assert imported.warning == STATE_MISSING.format(state="STATE", total=5, log="LOG")


def test_a_state_file_that_cannot_be_read_replays_nothing(paths: Paths, home: Path):
    write_legacy(home)
    state = home / ".ssh_login_monitor.state"
    state.unlink()
    state.symlink_to(state.name)  # a symlink loop: unreadable even for root, unlike chmod 0
    imported = read_log_import(find_legacy(paths), paths)
    assert imported.pending == 0 and "as already alerted" in imported.warning


def test_blank_lines_count_for_the_state_but_are_not_copied():
    lines = [LEGACY_LINES[0], "", LEGACY_LINES[1], LEGACY_LINES[2]]
    imported = plan_log_import(legacy_bytes(lines), "2")  # line 2 (blank) was counted as alerted
    assert imported.data == legacy_bytes([LEGACY_LINES[0], LEGACY_LINES[1], LEGACY_LINES[2]])
    assert imported.data[imported.offset:] == legacy_bytes(LEGACY_LINES[1:3])
    assert (imported.total, imported.pending, imported.raw_lines) == (3, 2, 4)


def test_a_last_line_without_newline_is_copied_as_a_complete_line():
    data = legacy_bytes(LEGACY_LINES[:2]) + LEGACY_LINES[2].encode()
    imported = plan_log_import(data, "2")
    assert imported.data.endswith(LEGACY_LINES[2].encode() + b"\n")
    assert imported.pending == 1


# --- performing it --------------------------------------------------------------------------------------

def test_imported_log_and_state_make_check_alert_the_4th_and_5th_logins_once(paths: Paths, home: Path,
                                                                               sink: MailSink):
    write_legacy(home)
    write_config(paths, smtp=smtp_settings(sink))
    assert import_log(paths, read_log_import(find_legacy(paths), paths))
    segments, _ = plan(position(paths), paths.login_log)
    assert [segment.start for segment in segments] == [len(legacy_bytes(LEGACY_LINES[:3]))]
    assert run_check(paths).sent == 2
    assert alerted_ips(sink) == ["198.51.100.4", "198.51.100.5"]
    assert run_check(paths).sent == 0
    assert len(sink.messages) == 2
    assert stat.S_IMODE(paths.login_log.stat().st_mode) == 0o600


def test_the_log_is_not_imported_over_an_existing_state(paths: Paths, home: Path, sink: MailSink):
    write_legacy(home)
    write_config(paths, smtp=smtp_settings(sink))
    run_check(paths)  # seeds
    position_before = position(paths)
    assert "already exists" in log_import_blocker(paths)
    assert not import_log(paths, read_log_import(find_legacy(paths), paths))
    assert position(paths) == position_before


def test_the_log_is_not_merged_into_a_log_our_hook_already_writes(paths: Paths, home: Path):
    write_legacy(home)
    paths.state_dir.mkdir(parents=True)
    paths.login_log.write_text(LEGACY_LINES[0] + "\n")
    assert "already holds logins" in log_import_blocker(paths)


def test_removing_the_password_keeps_every_other_byte_and_the_mode(home: Path):
    write_legacy(home, config_mode=0o640)
    conf = home / ".ssh_login_monitor.conf"
    before = conf.read_text()
    remove_password(conf)
    after = conf.read_text()
    assert PASSWORD not in after
    assert after == before.replace("password = {}\n".format(PASSWORD), "")
    assert stat.S_IMODE(conf.stat().st_mode) == 0o640


def test_only_the_smtp_password_line_and_its_continuation_are_removed():
    text = ("[alert]\npassword = not-smtp\n[smtp]\n# password = a comment stays\nPassword: secret\n"
            "  continued\nuser = alice\n")
    assert without_password(text) == "[alert]\npassword = not-smtp\n[smtp]\n# password = a comment stays\n" \
                                     "user = alice\n"


# --- end to end through the built pyz -------------------------------------------------------------------

def legacy_setup(pyz: Path, shiv_root: Path, home: Path, ca_file: Path, *extra: str):
    environ = pyz_env(home, shiv_root, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    return run_pyz(pyz, ["setup", "--non-interactive", "--import-legacy", "--ca-file", str(ca_file),
                         "--no-dns-check", "--no-test-email"] + list(extra), environ)


def test_setup_importing_the_original_script_alerts_exactly_the_two_unalerted_logins(
        pyz: Path, shiv_root: Path, home: Path, paths: Paths, tls_sink: MailSink, ca_file: Path):
    write_legacy(home, port=tls_sink.port)
    conf = home / ".ssh_login_monitor.conf"
    result = legacy_setup(pyz, shiv_root, home, ca_file)
    assert result.returncode == 0, result
    tls_sink.wait_for(2)
    assert alerted_ips(tls_sink) == ["198.51.100.4", "198.51.100.5"]
    assert all(received.auth_user == "alice" and received.tls for received in tls_sink.messages)
    # The password moved: in the password file, gone from the old config (whose mode is kept).
    assert SecretsFile(paths.secrets_file).get_password(credentials.SERVICE, "alice") == PASSWORD
    assert PASSWORD not in conf.read_text() and "starttls = yes" in conf.read_text()
    assert stat.S_IMODE(conf.stat().st_mode) == 0o640
    assert LEGACY_PASSWORD_MOVED.format(path=conf) in result.stdout
    assert PASSWORD not in paths.config_file.read_text() + result.stdout + result.stderr
    # The original script is told those lines are alerted, so it does not send them again before install.
    assert (home / ".ssh_login_monitor.state").read_text() == "5\n"
    # A second check sends nothing.
    check = run_pyz(pyz, ["check"], pyz_env(home, shiv_root, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring"))
    assert (check.returncode, check.stderr) == (0, ""), check
    assert len(tls_sink.messages) == 2


def test_setup_importing_a_state_larger_than_the_log_alerts_nothing_and_says_so(
        pyz: Path, shiv_root: Path, home: Path, tls_sink: MailSink, ca_file: Path):
    write_legacy(home, state="42\n", port=tls_sink.port)
    result = legacy_setup(pyz, shiv_root, home, ca_file)
    assert result.returncode == 0, result
    assert "says 42 line(s) were alerted" in result.stdout
    assert tls_sink.messages == []


def test_setup_with_our_state_already_present_skips_the_log_import_and_says_why(
        pyz: Path, shiv_root: Path, home: Path, paths: Paths, tls_sink: MailSink, ca_file: Path):
    write_legacy(home, port=tls_sink.port)
    paths.state_dir.mkdir(parents=True)
    write_config(paths, smtp=smtp_settings(tls_sink))
    run_check(paths)  # our own first run already happened
    result = legacy_setup(pyz, shiv_root, home, ca_file)
    assert result.returncode == 0, result
    reason = log_import_blocker(paths)
    assert LEGACY_LOG_SKIPPED.format(log=home / ".ssh_logins", reason=reason) in result.stdout.splitlines()
    assert tls_sink.messages == []
    assert (home / ".ssh_login_monitor.state").read_text() == "3\n"


def test_non_interactive_setup_without_import_legacy_leaves_the_original_files_alone(
        pyz: Path, shiv_root: Path, home: Path, sink: MailSink):
    write_legacy(home, port=sink.port)
    before = {name: (home / name).read_bytes() for name in (".ssh_logins", ".ssh_login_monitor.state",
                                                           ".ssh_login_monitor.conf")}
    environ = pyz_env(home, shiv_root, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    result = run_pyz(pyz, ["setup", "--non-interactive", "--to", "owner@example.com", "--from", "a@example.com",
                           "--method", "smtp", "--smtp-host", sink.host, "--smtp-port", str(sink.port),
                           "--smtp-security", "none", "--no-dns-check", "--no-test-email"], environ)
    assert result.returncode == 0, result
    assert LEGACY_NOT_IMPORTED in result.stdout.splitlines()
    assert {name: (home / name).read_bytes() for name in before} == before
    assert sink.messages == []
