"""``setup``: the built pyz as a subprocess, without a terminal (flags) and through a real pseudo-terminal.

Mail goes to real loopback servers (STARTTLS with AUTH and the test CA); the password lands in the
password file, as on a headless server (keyring's choice pinned to "no OS keyring"). No test needs DNS:
they pass --no-dns-check, except the one showing that a failed DNS lookup is only a warning.
"""

import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import keyring.backend
import keyring.core
import keyring.errors
import pytest

from app.settings import credentials
from app.commands.setup import (ASK_CHANNEL, AFTER_FAILURE_CHOICES, ASK_ARRIVED, ASK_KEEP_ADDRESS, ASK_SENDMAIL, ASK_TEST_EMAIL, NOT_ARRIVED, Answers,
                                complete_smtp, merge, ASK_AFTER_FAILURE, ASK_CA_FILE, ASK_FROM, ASK_HOST,
                                ASK_METHOD, ASK_PORT, ASK_SECURITY, ASK_TO, ASK_USER, CONFIG_WRITTEN,
                                HOOK_WAIT_CHOSEN, MISSING_FLAG, NEEDS_TERMINAL, PASSWORD_FLAGS, PROBE_FAILED,
                                SEEDED_LINE, SMTP_ONLY, SUGGEST_INSTALL)
from app.settings.config import load_config, parse_config
from app.settings.configwrite import render_config
from app.system.paths import Paths
from app.settings.secretstore import SecretsFile
from app.settings.validate import SPECIAL_USE_NEEDS_NO_DNS, SPECIAL_USE_WARNING, deliverability_warning
from helpers import (ROOT, PYZ, SUPPORTED, append_log, login_line, pyenv_pythons, pyz_env, require, run_pyz,
                      smtp_settings, write_config)
from support.stored import position
from support.terminal import Terminal
from support.mailsink import MailSink

PASSWORD = "s3cret"
NO_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def environ(home: Path, shiv_root: Path) -> Dict[str, str]:
    return pyz_env(home, shiv_root, **NO_KEYRING)


def smtp_flags(server: MailSink, ca_file: Optional[Path] = None, user: str = "alice") -> List[str]:
    flags = ["--to", "owner@example.com, Second@EXAMPLE.org", "--from", "ssh-alert@example.com", "--method", "smtp",
             "--smtp-host", server.host, "--smtp-port", str(server.port), "--smtp-user", user, "--no-dns-check"]
    return flags + (["--ca-file", str(ca_file)] if ca_file else [])


def setup(pyz: Path, shiv_root: Path, home: Path, flags: Sequence[str], stdin: str = "") -> subprocess.CompletedProcess:
    return run_pyz(pyz, ["setup", "--non-interactive"] + list(flags), environ(home, shiv_root), stdin=stdin)


def error_lines(result: subprocess.CompletedProcess, exit_code: int) -> List[str]:
    """Assert a failure with nothing on stdout and no traceback; return its stderr lines without the prefix."""
    details = "exit {}\nstdout: {!r}\nstderr: {!r}".format(result.returncode, result.stdout, result.stderr)
    assert result.returncode == exit_code, details
    assert result.stdout == "" and "Traceback" not in result.stderr, details
    assert all(line.startswith("ssh_alert: ") for line in result.stderr.splitlines()), details
    return [line[len("ssh_alert: "):] for line in result.stderr.splitlines()]


def assert_nothing_saved(paths: Paths) -> None:
    for path in (paths.config_file, paths.secrets_file, paths.store_file):
        assert not path.exists(), path


# --- without a terminal: the flags contract -------------------------------------------------------------

def test_full_smtp_setup_writes_a_private_config_stores_the_password_sends_a_test_and_seeds(
        pyz: Path, shiv_root: Path, home: Path, paths: Paths, tls_sink: MailSink, ca_file: Path):
    append_log(paths, login_line(), login_line(ip="198.51.100.9"))  # two logins before setup
    result = setup(pyz, shiv_root, home, smtp_flags(tls_sink, ca_file) + ["--password-stdin"],
                   stdin=PASSWORD + "\nnot read\n")
    assert (result.returncode, result.stderr) == (0, ""), result
    lines = result.stdout.splitlines()
    # The config: 0600, addresses normalized, no password in it; check reads it as written.
    assert mode(paths.config_file) == 0o600
    text = paths.config_file.read_text()
    assert PASSWORD not in text and "password =" not in text
    config = load_config(paths.config_file)
    assert config.recipients == ("owner@example.com", "Second@example.org")
    assert config.smtp is not None
    assert (config.smtp.security, config.smtp.user, config.smtp.password_store, config.smtp.ca_file) == (
        "starttls", "alice", "file", str(ca_file))
    # The password: in the 0600 password file, and setup says so.
    assert SecretsFile(paths.secrets_file).get_password(credentials.SERVICE, "alice") == PASSWORD
    assert mode(paths.secrets_file) == 0o600
    assert "Password stored in the password file {} (no OS keyring on this machine).".format(
        paths.secrets_file) in lines
    assert CONFIG_WRITTEN.format(path=paths.config_file) in lines
    # hook_wait explained in one sentence, and written where the hook reads it.
    assert HOOK_WAIT_CHOSEN.format(seconds=3) in lines
    assert paths.hook_wait_file.read_text() == "3\n"
    # The test email arrived, over STARTTLS with AUTH, to both recipients.
    (received,) = tls_sink.wait_for(1)
    assert received.tls and received.auth_user == "alice"
    assert received.envelope_to == ["owner@example.com", "Second@example.org"]
    # The state is seeded: the two earlier logins are not alerted, the next one is.
    assert SEEDED_LINE.format(count=2, path=paths.login_log) in lines
    assert position(paths) is not None or paths.store_file.exists()
    assert SUGGEST_INSTALL in lines
    assert PASSWORD not in result.stdout


@pytest.mark.parametrize("flags, missing", [
    ([], ["--to", "--from", "--method"]),
    (["--to", "a@example.com", "--method", "smtp"], ["--from", "--smtp-host"]),
    (["--to", "a@example.com", "--from", "b@example.com", "--method", "smtp", "--smtp-host", "mail.example.com",
      "--smtp-user", "alice"], [PASSWORD_FLAGS]),
])
def test_non_interactive_setup_names_every_missing_flag_one_per_line(pyz: Path, shiv_root: Path, home: Path,
                                                                     paths: Paths, flags, missing):
    lines = error_lines(setup(pyz, shiv_root, home, flags + ["--no-dns-check"]), 2)
    assert len(lines) == len(missing)
    for line, flag in zip(lines, missing):
        assert line.startswith(MISSING_FLAG.format(flag=flag, why="").rstrip(": ") + ":"), line
    assert_nothing_saved(paths)


def test_without_a_terminal_setup_refuses_and_says_to_use_the_flags(pyz: Path, shiv_root: Path, home: Path,
                                                                    paths: Paths):
    result = run_pyz(pyz, ["setup"], environ(home, shiv_root))
    assert error_lines(result, 2) == [NEEDS_TERMINAL]
    assert "--non-interactive" in NEEDS_TERMINAL and "--to" in NEEDS_TERMINAL and "--method" in NEEDS_TERMINAL
    assert_nothing_saved(paths)


def test_an_invalid_address_is_exit_2_naming_it(pyz: Path, shiv_root: Path, home: Path, paths: Paths):
    result = setup(pyz, shiv_root, home, ["--to", "owner@example.com,bad@@example.com", "--from", "me@example",
                                          "--method", "sendmail", "--sendmail-path", "/bin/cat", "--no-dns-check"])
    lines = error_lines(result, 2)
    assert [line.split(" ")[0] for line in lines] == ["'bad@@example.com'", "'me@example'"]
    assert all("is not a valid email address" in line for line in lines)
    assert_nothing_saved(paths)


def test_a_wrong_password_exits_1_with_the_advice_and_saves_nothing(pyz: Path, shiv_root: Path, home: Path,
                                                                    paths: Paths, tls_sink: MailSink,
                                                                    ca_file: Path):
    result = setup(pyz, shiv_root, home, smtp_flags(tls_sink, ca_file) + ["--password-stdin"], stdin="wrong\n")
    (line,) = error_lines(result, 1)
    assert line.startswith(PROBE_FAILED.split("{")[0])
    assert "refused the user name or password for alice" in line
    assert line.endswith("nothing was saved (--save-anyway saves it all the same)")
    assert "wrong" not in line.replace("wrong port", "")
    assert_nothing_saved(paths)
    assert tls_sink.messages == []


def test_an_untrusted_certificate_gets_advice_naming_ca_file(pyz: Path, shiv_root: Path, home: Path,
                                                             paths: Paths, tls_sink: MailSink):
    result = setup(pyz, shiv_root, home, smtp_flags(tls_sink) + ["--password-stdin"], stdin=PASSWORD + "\n")
    (line,) = error_lines(result, 1)
    assert "is not trusted" in line and "ca_file" in line
    assert_nothing_saved(paths)


def test_a_password_command_goes_into_the_config_and_is_used_for_the_connection_test(
        pyz: Path, shiv_root: Path, home: Path, paths: Paths, tls_sink: MailSink, ca_file: Path):
    command = "printf '%s\\n' " + PASSWORD
    result = setup(pyz, shiv_root, home, smtp_flags(tls_sink, ca_file) + ["--password-command", command,
                                                                          "--no-test-email"])
    assert (result.returncode, result.stderr) == (0, ""), result
    config = load_config(paths.config_file)
    assert config.smtp is not None and config.smtp.password_command == command
    assert not paths.secrets_file.exists()
    assert tls_sink.messages == []


def test_sendmail_setup_sends_the_test_email_through_the_sendmail_binary(pyz: Path, shiv_root: Path, home: Path,
                                                                         paths: Paths, tmp_path: Path):
    captured = tmp_path / "sendmail.out"
    fake = tmp_path / "sendmail"
    fake.write_text('#!/bin/sh\necho "$@" > {0}.argv\ncat > {0}\n'.format(captured))
    fake.chmod(0o700)
    result = setup(pyz, shiv_root, home, ["--to", "owner@example.com", "--from", "ssh-alert@example.com",
                                          "--method", "sendmail", "--sendmail-path", str(fake), "--no-dns-check"])
    assert (result.returncode, result.stderr) == (0, ""), result
    config = load_config(paths.config_file)
    assert (config.method, config.sendmail_path, config.smtp) == ("sendmail", str(fake), None)
    assert "To: owner@example.com" in captured.read_text()
    assert Path(str(captured) + ".argv").read_text().split()[:2] == ["-t", "-oi"]  # (delivery.py may add -f)
    assert not paths.secrets_file.exists()


def test_a_failed_dns_lookup_is_only_a_warning(pyz: Path, shiv_root: Path, home: Path, paths: Paths,
                                               sink: MailSink):
    started = time.monotonic()
    warning = deliverability_warning("owner@example.com", timeout=0.5)
    assert time.monotonic() - started < 5
    assert warning is None or warning.startswith("warning: ")
    # Through the pyz: the lookup (3 s at most per domain) may fail; setup still succeeds.
    result = setup(pyz, shiv_root, home, ["--to", "owner@example.com", "--from", "ssh-alert@example.com",
                                          "--method", "smtp", "--smtp-host", sink.host, "--smtp-port",
                                          str(sink.port), "--smtp-security", "none", "--no-test-email"])
    assert result.returncode == 0, result
    assert all(line.startswith("warning: ") for line in result.stdout.splitlines() if "example.com" in line
               and ("does not" in line or "could not be checked" in line))
    assert paths.config_file.exists()


def fake_sendmail(tmp_path: Path) -> Path:
    """A sendmail that keeps the message in sendmail.out next to it."""
    fake = tmp_path / "sendmail"
    fake.write_text('#!/bin/sh\ncat > {}\n'.format(tmp_path / "sendmail.out"))
    fake.chmod(0o700)
    return fake


def test_special_use_addresses_are_accepted_with_a_warning_only_without_the_dns_check(
        pyz: Path, shiv_root: Path, home: Path, paths: Paths, tmp_path: Path):
    flags = ["--to", "root@web1.local", "--from", "ssh-alert@box.test", "--method", "sendmail", "--sendmail-path",
             str(fake_sendmail(tmp_path)), "--no-test-email"]
    refused = error_lines(setup(pyz, shiv_root, home, flags), 2)  # refused before any DNS lookup
    assert refused == [SPECIAL_USE_NEEDS_NO_DNS.format(address="root@web1.local", domain="web1.local", name="local"),
                       SPECIAL_USE_NEEDS_NO_DNS.format(address="ssh-alert@box.test", domain="box.test", name="test")]
    assert_nothing_saved(paths)
    result = setup(pyz, shiv_root, home, flags + ["--no-dns-check"])
    assert (result.returncode, result.stderr) == (0, ""), result
    lines = result.stdout.splitlines()
    assert SPECIAL_USE_WARNING.format(domain="web1.local", name="local", address="root@web1.local") in lines
    assert SPECIAL_USE_WARNING.format(domain="box.test", name="test", address="ssh-alert@box.test") in lines
    config = load_config(paths.config_file)
    assert (config.recipients, config.sender) == (("root@web1.local",), "ssh-alert@box.test")


@pytest.mark.parametrize("version", SUPPORTED)
def test_setup_importing_the_original_script_works_on_every_supported_python(version: str, pyz: Path,
                                                                              shiv_root: Path, home: Path,
                                                                              paths: Paths, sink: MailSink):
    python = pyenv_pythons().get(version)
    require(python is not None, "Python {} (pyenv) is not installed".format(version))
    (home / ".ssh_logins").write_text("2026-11-20 08:00:01 +0000 198.51.100.1 alice publickey\n"
                                      "2026-11-21 09:00:02 +0000 198.51.100.2 alice password\n")
    (home / ".ssh_login_monitor.state").write_text("1\n")
    (home / ".ssh_login_monitor.conf").write_text(
        "[alert]\nto = owner@example.com\nfrom = monitor@example.com\nmethod = smtp\n\n"
        "[smtp]\nhost = {}\nport = {}\nstarttls = no\nssl = no\n".format(sink.host, sink.port))
    result = run_pyz(pyz, ["setup", "--non-interactive", "--import-legacy", "--no-dns-check"],
                     environ(home, shiv_root), python=python)
    assert (result.returncode, result.stderr) == (0, ""), result
    subjects = [received.message["Subject"] for received in sink.wait_for(2)]
    assert subjects[0].startswith("ssh_alert test from "), subjects
    assert subjects[1].endswith("from 198.51.100.2"), subjects
    assert load_config(paths.config_file).smtp.security == "none"  # type: ignore[union-attr]


def test_install_is_suggested_only_while_no_login_hook_is_installed(paths: Paths, home: Path):
    from app.commands.setup import hooks_installed
    from app.install.hooks import HookSettings, render_hook

    assert not hooks_installed(paths)
    (home / ".bash_profile").write_text("export EDITOR=vi\n# mentions ssh_alert in a comment only\n")
    assert not hooks_installed(paths)
    (home / ".ssh").mkdir()
    (home / ".ssh" / "rc").write_text(render_hook(HookSettings(hook="ssh-rc")))
    assert hooks_installed(paths)


def test_the_rendered_config_reads_back_as_the_same_settings(paths: Paths, sink: MailSink):
    config = load_config(write_config(paths, smtp=smtp_settings(sink, user="alice", password="plain",
                                                                 password_store="file")))
    text = render_config(config)
    assert "plain" not in text
    again = parse_config(text, paths.config_file)
    assert again._replace(smtp=again.smtp._replace(plaintext_password="")) == config._replace(  # type: ignore
        smtp=config.smtp._replace(plaintext_password=""), warnings=())  # type: ignore[union-attr]


# --- through a real terminal ---------------------------------------------------------------------------


@pytest.fixture
def terminal(home: Path, shiv_root: Path, pyz: Path):
    started: List[Terminal] = []

    def start(*arguments: str) -> Terminal:
        # --host-label: the host label is asked only on a host without an FQDN, as this one may be
        session = Terminal(["setup", "--no-dns-check", "--host-label", "web1.example.com"] + list(arguments),
                           environ(home, shiv_root))
        started.append(session)
        return session

    yield start
    for session in started:
        session.close()


def answer_delivery(session: Terminal, server: MailSink, ca_file: Path, user: str = "alice") -> None:
    """The method question appears only where a sendmail binary exists."""
    if session.expect(ASK_METHOD, SMTP_ONLY) == ASK_METHOD:
        session.expect(": ")
        session.write("smtp\n")
    session.answer(ASK_HOST, server.host)
    session.answer(ASK_PORT, str(server.port))
    session.answer(ASK_SECURITY, "")  # proposed from the port: starttls
    session.answer(ASK_USER, user)
    session.answer(ASK_CA_FILE, str(ca_file))


def test_interactive_setup_re_asks_a_bad_address_and_only_the_password_after_a_wrong_one_then_saves(
        terminal, paths: Paths, tls_sink: MailSink, ca_file: Path):
    session = terminal()
    session.answer(ASK_TO, "owner@@example.com")
    session.expect("is not a valid email address")
    session.answer(ASK_TO, "Owner@Example.COM")
    session.answer(ASK_FROM, "ssh-alert@example.com")
    answer_delivery(session, tls_sink, ca_file)
    session.answer("SMTP password for alice", "wrong")
    session.expect("connecting to {}:{} ...".format(tls_sink.host, tls_sink.port))  # each step, as it starts
    session.expect("STARTTLS ...")
    session.expect("AUTH as alice ...")
    session.expect("refused the user name or password for alice")
    session.answer(ASK_AFTER_FAILURE + " (password/change/save/quit) [password]", "")  # default: the password only
    session.answer("SMTP password for alice", PASSWORD)
    session.expect("Connection test passed")
    assert tls_sink.auth_attempts == ["PLAIN", "PLAIN"]  # one mechanism per attempt: a wrong password counts once
    session.answer(ASK_TEST_EMAIL, "")
    session.expect("Test alert sent to Owner@example.com")
    session.answer(ASK_ARRIVED.format(recipients="Owner@example.com"), "")  # default: yes
    session.answer(ASK_CHANNEL, "")  # no push channel
    assert session.finish() == 0, session.output
    assert "wrong" not in session.output.split("SMTP password for alice", 1)[1].split("\n", 1)[0]  # no echo
    config = load_config(paths.config_file)
    assert config.recipients == ("Owner@example.com",)
    assert mode(paths.config_file) == 0o600 and PASSWORD not in paths.config_file.read_text()
    assert SecretsFile(paths.secrets_file).get_password(credentials.SERVICE, "alice") == PASSWORD
    (received,) = tls_sink.wait_for(1)
    assert received.auth_user == "alice"
    assert "Test alert sent to Owner@example.com" in session.output


def existing_setup(paths: Paths, server: MailSink, ca_file: Path) -> Dict[Path, bytes]:
    write_config(paths, smtp=smtp_settings(server, security="starttls", user="alice", password_store="file",
                                           ca_file=str(ca_file)))
    SecretsFile(paths.secrets_file).set_password(credentials.SERVICE, "alice", PASSWORD)
    return {path: path.read_bytes() for path in (paths.config_file, paths.secrets_file)}


def test_ctrl_c_at_the_last_question_leaves_the_existing_config_byte_identical(
        terminal, paths: Paths, tls_sink: MailSink, ca_file: Path):
    before = existing_setup(paths, tls_sink, ca_file)
    session = terminal()
    session.answer(ASK_TO + " [owner@example.com]", "changed@example.com")
    session.answer(ASK_FROM, "")
    if session.expect(ASK_METHOD, ASK_HOST) == ASK_METHOD:
        session.answer("[smtp]", "")
        session.expect(ASK_HOST)
    for question in (": ", ASK_PORT, ASK_SECURITY, ASK_USER, ASK_CA_FILE):
        session.answer(question, "")
    session.answer("Enter keeps the stored one", "")
    session.expect("Connection test passed")
    session.expect(ASK_TEST_EMAIL)
    session.expect(": ")
    session.write("\x03")  # Ctrl-C: the terminal sends SIGINT to the foreground process group
    assert session.finish() == 130, session.output
    assert "interrupted" in session.output
    assert {path: path.read_bytes() for path in before} == before
    assert not paths.store_file.exists()
    assert tls_sink.messages == []


def test_rerunning_setup_offers_the_current_values_and_enter_keeps_the_stored_password(
        terminal, paths: Paths, tls_sink: MailSink, ca_file: Path):
    existing_setup(paths, tls_sink, ca_file)
    session = terminal()
    session.answer(ASK_TO + " [owner@example.com]", "")
    session.answer(ASK_FROM + " [ssh-alert@example.com]", "")
    if session.expect(ASK_METHOD, ASK_HOST) == ASK_METHOD:
        session.answer("[smtp]", "")
        session.expect(ASK_HOST)
    session.answer("[{}]".format(tls_sink.host), "")
    session.answer(ASK_PORT + " [{}]".format(tls_sink.port), "")
    session.answer(ASK_SECURITY + " (ssl/starttls/none) [starttls]", "")
    session.answer(ASK_USER + " [alice]", "")
    session.answer(ASK_CA_FILE + " [{}]".format(ca_file), "")
    session.answer("SMTP password for alice (Enter keeps the stored one", "")
    session.expect("Connection test passed")
    session.answer(ASK_TEST_EMAIL, "n")
    session.answer(ASK_CHANNEL, "")  # no push channel
    assert session.finish() == 0, session.output
    assert SecretsFile(paths.secrets_file).get_password(credentials.SERVICE, "alice") == PASSWORD
    config = load_config(paths.config_file)
    assert config.smtp is not None and config.smtp.password_store == "file"
    assert tls_sink.messages == []
    assert re.search(r"First check: 0 earlier login\(s\)", session.output)


def test_interactive_setup_offers_to_import_the_original_script_and_uses_its_answers(
        terminal, home: Path, paths: Paths, tls_sink: MailSink, ca_file: Path):
    from support.legacy import write_legacy

    write_legacy(home, port=tls_sink.port)
    session = terminal()
    session.expect("Found the original script's files")
    session.answer("Import its settings", "")
    session.answer(ASK_TO + " [owner@example.com]", "")
    session.answer(ASK_FROM + " [monitor@example.com]", "")
    if session.expect(ASK_METHOD, ASK_HOST) == ASK_METHOD:
        session.answer("[smtp]", "")
        session.expect(ASK_HOST)
    session.answer("[127.0.0.1]", "")
    session.answer(ASK_PORT + " [{}]".format(tls_sink.port), "")
    session.answer(ASK_SECURITY + " (ssl/starttls/none) [starttls]", "")
    session.answer(ASK_USER + " [alice]", "")
    session.answer(ASK_CA_FILE, str(ca_file))
    session.answer("Enter keeps the password from {}".format(home / ".ssh_login_monitor.conf"), "")
    session.expect("Connection test passed")
    session.answer(ASK_TEST_EMAIL, "n")
    session.answer(ASK_CHANNEL, "")  # no push channel
    assert session.finish() == 0, session.output
    tls_sink.wait_for(2)
    assert [m.message["Subject"].rsplit(" ", 1)[-1] for m in tls_sink.messages] == ["198.51.100.4", "198.51.100.5"]
    assert PASSWORD not in (home / ".ssh_login_monitor.conf").read_text()


def test_after_a_failed_connection_test_quit_saves_nothing(terminal, paths: Paths, tls_sink: MailSink,
                                                           ca_file: Path):
    session = terminal()
    session.answer(ASK_TO, "owner@example.com")
    session.answer(ASK_FROM, "ssh-alert@example.com")
    answer_delivery(session, tls_sink, ca_file)
    session.answer("SMTP password for alice", "wrong")
    session.answer(ASK_AFTER_FAILURE + " (password/{})".format("/".join(AFTER_FAILURE_CHOICES)), "quit")
    assert session.finish() == 1, session.output
    assert "nothing was saved" in session.output
    assert_nothing_saved(paths)


# Setup run from the source tree with the DNS lookup replaced: the mail domain's answer is chosen, not live.
FROM_SOURCE_WITH_DNS = """
import sys
sys.path.insert(0, {root!r})
import dns.resolver
import app.settings.validate


def lookup(domain, timeout):
    return dns.resolver.NXDOMAIN() if domain == "exampel.com" else {{"mx": [(10, "mx." + domain)]}}


app.settings.validate.lookup_mail_domain = lookup
from app.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_interactive_setup_lets_an_address_whose_domain_does_not_exist_be_typed_again(
        home: Path, shiv_root: Path, paths: Paths, tmp_path: Path):
    fake = fake_sendmail(tmp_path)
    script = FROM_SOURCE_WITH_DNS.format(root=str(ROOT))
    session = Terminal(["setup", "--sendmail-path", str(fake), "--host-label", "web1.example.com"],
                       environ(home, shiv_root),
                       program=[sys.executable, "-B", "-c", script])
    try:
        session.answer(ASK_TO, "owner@exampel.com")
        session.expect("warning: exampel.com does not exist")
        session.answer(ASK_KEEP_ADDRESS.format(address="owner@exampel.com") + " [y/N]", "")  # default: no
        session.answer(ASK_TO, "owner@example.com")
        session.answer(ASK_FROM, "ssh-alert@example.com")
        session.answer(ASK_METHOD, "")  # sendmail: --sendmail-path names one
        session.answer(ASK_SENDMAIL, "")
        session.answer(ASK_TEST_EMAIL, "n")
        session.answer(ASK_CHANNEL, "")  # no push channel
        assert session.finish() == 0, session.output
    finally:
        session.close()
    assert session.output.count("does not exist") == 1  # example.com has mail servers: no warning
    assert ASK_TO + " [" not in session.output  # typing again starts empty, not from the typo
    assert load_config(paths.config_file).recipients == ("owner@example.com",)


def test_interactive_setup_asks_whether_the_test_email_arrived_and_a_no_points_to_the_local_mailbox(
        terminal, paths: Paths, tmp_path: Path):
    fake = fake_sendmail(tmp_path)
    session = terminal("--sendmail-path", str(fake))
    session.answer(ASK_TO, "owner@example.com")
    session.answer(ASK_FROM, "ssh-alert@example.com")
    session.answer(ASK_METHOD, "")
    session.answer(ASK_SENDMAIL, "")
    session.answer(ASK_TEST_EMAIL, "")
    session.expect("Test alert sent to owner@example.com via sendmail")
    session.answer(ASK_ARRIVED.format(recipients="owner@example.com"), "n")
    session.expect(NOT_ARRIVED.split("{")[0])
    assert session.finish() == 1, session.output  # a test email that did not arrive is not a success
    import pwd

    assert NOT_ARRIVED.format(user=pwd.getpwuid(os.getuid()).pw_name) in session.output
    assert "ssh_alert.pyz test" in NOT_ARRIVED and "mailq" in NOT_ARRIVED
    assert "To: owner@example.com" in (tmp_path / "sendmail.out").read_text()
    assert paths.config_file.exists()  # saved: only the mail did not arrive


# --- the pieces setup is built from ------------------------------------------------------------------------

def test_a_closed_port_is_named_as_refused_and_nothing_is_saved(pyz: Path, shiv_root: Path, home: Path,
                                                                paths: Paths):
    from test_pyz import closed_port

    flags = ["--to", "owner@example.com", "--from", "a@example.com", "--method", "smtp", "--smtp-host",
             "127.0.0.1", "--smtp-port", str(closed_port()), "--smtp-security", "none", "--no-dns-check"]
    (line,) = error_lines(setup(pyz, shiv_root, home, flags), 1)
    assert "refused the connection (wrong port, or the server is down)" in line
    assert_nothing_saved(paths)


def test_the_connection_test_logs_in_and_sends_nothing(paths: Paths, tls_sink: MailSink, ca_file: Path):
    from app.channels.smtp import probe

    config = load_config(write_config(paths, smtp=smtp_settings(tls_sink, security="starttls", user="alice",
                                                                 ca_file=str(ca_file))))
    probe(config, PASSWORD, "web1.example.com")
    assert tls_sink.messages == []


def test_the_connection_test_against_a_silent_server_gives_up_after_the_timeout(paths: Paths):
    from app.channels.delivery import DeliveryError
    from app.channels.smtp import probe
    from support.mailsink import HangingServer

    with HangingServer() as server:
        config = load_config(write_config(paths, alert={"timeout": "1"}, smtp=smtp_settings(server)))
        started = time.monotonic()
        with pytest.raises(DeliveryError) as raised:
            probe(config, None, "web1.example.com")
    assert time.monotonic() - started < 5
    assert "no answer from 127.0.0.1:{} within 1 s".format(server.port) in str(raised.value)


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A working OS-keyring stand-in (keyring's own interface): what a desktop's Secret Service would be."""

    priority = 1  # type: ignore[assignment]

    # refuse has no default: keyring's auto-detection cannot construct this class, so it never picks it
    # up in other tests (it registers every subclass).
    def __init__(self, refuse: bool) -> None:
        super().__init__()
        self.refuse = refuse
        self.secrets: Dict[tuple, str] = {}

    def get_password(self, service: str, username: str) -> Optional[str]:
        return self.secrets.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        if self.refuse:
            raise keyring.errors.KeyringLocked("the collection is locked")
        self.secrets[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.secrets.pop((service, username))


@pytest.fixture
def os_keyring(monkeypatch: pytest.MonkeyPatch):
    """Install a keyring backend as keyring's selected one; yields a function choosing it."""
    def choose(backend: Optional[keyring.backend.KeyringBackend]) -> None:
        if backend is None:
            monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
            monkeypatch.setattr(keyring.core, "_keyring_backend", None)
        else:
            monkeypatch.setattr(keyring.core, "_keyring_backend", backend)

    return choose


def test_the_password_goes_to_the_os_keyring_when_one_is_usable(paths: Paths, os_keyring):
    backend = MemoryKeyring(refuse=False)
    os_keyring(backend)
    stored = credentials.store_password(paths, "alice", PASSWORD, paths.config_file)
    assert stored.store == "keyring" and "MemoryKeyring" in stored.description
    assert backend.secrets == {(credentials.SERVICE, "alice"): PASSWORD}
    assert not paths.secrets_file.exists()
    config = load_config(write_config(paths, smtp={"host": "127.0.0.1", "security": "none", "user": "alice",
                                                   "password_store": stored.store}))
    assert credentials.resolve_password(config, paths) == PASSWORD


def test_a_keyring_that_refuses_the_password_falls_back_to_the_password_file_and_says_why(paths: Paths,
                                                                                         os_keyring):
    os_keyring(MemoryKeyring(refuse=True))
    stored = credentials.store_password(paths, "alice", PASSWORD, paths.config_file)
    assert stored.store == "file"
    assert "MemoryKeyring refused it" in stored.description and PASSWORD not in stored.description
    assert SecretsFile(paths.secrets_file).get_password(credentials.SERVICE, "alice") == PASSWORD


def test_without_an_os_keyring_the_password_goes_to_the_password_file(paths: Paths, os_keyring):
    os_keyring(None)
    stored = credentials.store_password(paths, "alice", PASSWORD, paths.config_file)
    assert stored == credentials.StoredPassword(
        "file", "the password file {} (no OS keyring on this machine)".format(paths.secrets_file))
    assert mode(paths.secrets_file) == 0o600


def test_flags_win_over_the_current_config_which_wins_over_the_original_script():
    flags = Answers(recipients=("flag@example.com",))
    current = Answers(recipients=("current@example.com",), sender="current@example.com", timeout=30.0)
    legacy = Answers(recipients=("legacy@example.com",), sender="legacy@example.com", host="legacy.example.com")
    merged = merge(flags, current, legacy)
    assert (merged.recipients, merged.sender, merged.host, merged.timeout) == (
        ("flag@example.com",), "current@example.com", "legacy.example.com", 30.0)


@pytest.mark.parametrize("port, security, expected", [
    (None, "", (587, "starttls")), (465, "", (465, "ssl")), (25, "", (25, "starttls")), (2525, "", (2525, "starttls")),
    (None, "ssl", (465, "ssl")), (None, "none", (25, "none")), (587, "ssl", (587, "ssl"))])
def test_the_port_proposes_the_encryption_and_the_encryption_the_port(port, security, expected):
    completed = complete_smtp(Answers(port=port, security=security))
    assert (completed.port, completed.security) == expected
