"""setup's conversation, scripted on a real pseudo-terminal: special-use names, the host label, a CA file offered
after an untrusted certificate. Setup runs from the source tree where DNS or the host's name must be chosen."""

import sys
from pathlib import Path
from typing import List

import pytest

from app.commands.setup import ASK_CHANNEL, ASK_FROM, ASK_HOST, ASK_KEEP_ADDRESS, ASK_METHOD, ASK_PORT, \
    ASK_SECURITY, ASK_SENDMAIL, ASK_TEST_EMAIL, ASK_TO, ASK_USER, SMTP_ONLY
from app.commands.setup_dialog import ASK_CA_FILE, ASK_CA_FILE_NOW, ASK_HOST_LABEL, ASK_AFTER_FAILURE
from app.settings.config import load_config
from app.system.paths import Paths
from helpers import ROOT, pyz_env
from support.mailsink import MailSink
from support.terminal import Terminal

NO_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}

# From the source tree, with every DNS lookup answering "no such domain" and the host named vm, FQDN localhost.
FROM_SOURCE = """
import socket
import sys
sys.path.insert(0, {root!r})
import dns.resolver
import app.settings.validate

app.settings.validate.lookup_mail_domain = lambda domain, timeout: dns.resolver.NXDOMAIN()
socket.getfqdn = lambda name="": "localhost"
socket.gethostname = lambda: "vm"
from app.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture
def fake_sendmail(tmp_path: Path) -> Path:
    script = tmp_path / "sendmail"
    script.write_text("#!/bin/sh\ncat > /dev/null\n")
    script.chmod(0o755)
    return script


@pytest.fixture
def source_terminal(home: Path, shiv_root: Path):
    started: List[Terminal] = []

    def start(*arguments: str) -> Terminal:
        session = Terminal(["setup"] + list(arguments), pyz_env(home, shiv_root, **NO_KEYRING),
                           program=[sys.executable, "-B", "-c", FROM_SOURCE.format(root=str(ROOT))])
        started.append(session)
        return session

    yield start
    for session in started:
        session.close()


def test_a_special_use_name_is_kept_by_default_and_the_host_label_is_asked_without_an_fqdn(
        source_terminal, paths: Paths, fake_sendmail: Path):
    session = source_terminal("--sendmail-path", str(fake_sendmail))
    session.answer(ASK_TO, "alice@example.test")
    session.expect("special-use name")
    session.answer(ASK_KEEP_ADDRESS.format(address="alice@example.test") + " [Y/n]", "")  # default: keep it
    session.answer(ASK_FROM, "ssh-alert@example.test")  # the same domain: asked once
    session.answer(ASK_METHOD, "")
    session.answer(ASK_SENDMAIL, "")
    session.expect("Alerts name this host vm;")  # the host name, not "localhost"
    session.answer(ASK_HOST_LABEL + " [vm]", "web1")
    session.answer(ASK_TEST_EMAIL, "n")
    session.answer(ASK_CHANNEL, "")
    assert session.finish() == 0, session.output
    config = load_config(paths.config_file)
    assert config.recipients == ("alice@example.test",) and config.host_label == "web1"


def test_a_typo_like_domain_is_typed_again_by_default_from_an_empty_prompt(
        source_terminal, paths: Paths, fake_sendmail: Path):
    session = source_terminal("--sendmail-path", str(fake_sendmail), "--host-label", "web1")
    session.answer(ASK_TO, "alice@exmaple.tset")
    session.expect("does not exist")
    session.answer(ASK_KEEP_ADDRESS.format(address="alice@exmaple.tset") + " [y/N]", "")
    session.expect(ASK_TO + ": ")  # no [default]: the typo is not offered again
    session.write("alice@example.test\n")
    session.answer(ASK_KEEP_ADDRESS.format(address="alice@example.test") + " [Y/n]", "")
    session.answer(ASK_FROM, "ssh-alert@example.test")
    session.answer(ASK_METHOD, "")
    session.answer(ASK_SENDMAIL, "")
    session.answer(ASK_TEST_EMAIL, "n")
    session.answer(ASK_CHANNEL, "")
    assert session.finish() == 0, session.output
    assert load_config(paths.config_file).recipients == ("alice@example.test",)


def test_an_untrusted_certificate_offers_a_ca_file_and_the_test_passes_with_it(
        home: Path, shiv_root: Path, pyz: Path, paths: Paths, tls_sink: MailSink, ca_file: Path):
    session = Terminal(["setup", "--no-dns-check", "--host-label", "web1", "--yes"],
                       pyz_env(home, shiv_root, **NO_KEYRING))
    try:
        session.answer(ASK_TO, "owner@example.com")
        session.answer(ASK_FROM, "ssh-alert@example.com")
        if session.expect(ASK_METHOD, SMTP_ONLY) == ASK_METHOD:
            session.answer(": ", "smtp")
        session.answer(ASK_HOST, tls_sink.host)
        session.answer(ASK_PORT, str(tls_sink.port))
        session.answer(ASK_SECURITY, "")
        session.answer(ASK_USER, "alice")
        session.answer(ASK_CA_FILE, "")  # the system CAs, which do not know the test CA
        session.answer("SMTP password for alice", "s3cret")
        session.expect("is not trusted")
        session.answer(ASK_AFTER_FAILURE + " (ca-file/change/save/quit) [ca-file]", "")
        session.answer(ASK_CA_FILE_NOW, str(ca_file))
        session.expect("Connection test passed")
        assert session.finish() in (0, 1), session.output
    finally:
        session.close()
    config = load_config(paths.config_file)
    assert config.smtp is not None and config.smtp.ca_file == str(ca_file)


# The [ntfy] settings the dialog asks before the token, each answered with its default.
NTFY_QUESTIONS = ("[ntfy] priority", "[ntfy] tags", "[ntfy] click", "[ntfy] icon")


def test_a_channel_whose_certificate_is_not_trusted_offers_a_ca_file_then_saves(
        home: Path, shiv_root: Path, pyz: Path, paths: Paths, sink: MailSink):
    from app.commands.setup_channel import ASK_CHANNEL_AFTER_FAILURE, ASK_CHANNEL_CA_FILE, CHANNEL_ADDED
    from helpers import smtp_settings, write_config
    from support.httpsworld import HttpsWorld

    write_config(paths, smtp=smtp_settings(sink))
    before = paths.config_file.read_text()
    with HttpsWorld(api="ntfy") as world:
        session = Terminal(["setup", "--channel", "ntfy", "--ntfy-url", world.url + "/alerts"],
                           pyz_env(home, shiv_root, **NO_KEYRING))
        try:
            for question in NTFY_QUESTIONS:
                session.answer(question, "")
            session.answer("ntfy token", "")  # a public topic
            session.expect("Sending a test event through ntfy ...")
            session.expect("certificate")
            session.answer(ASK_CHANNEL_AFTER_FAILURE + " (ca-file/change/save/quit) [ca-file]", "")
            session.answer(ASK_CHANNEL_CA_FILE, world.ca_file)
            session.expect(CHANNEL_ADDED.format(channel="ntfy", channels="email, ntfy"))
            assert session.finish() == 0, session.output
        finally:
            session.close()
        assert len(world.requests) == 1
    after = paths.config_file.read_text()
    assert "channels = email, ntfy\n" in after and "ca_file = {}".format(world.ca_file) in after
    assert after.replace("channels = email, ntfy\n", "").startswith(before.rstrip("\n"))  # the rest as it was


def test_quitting_a_failed_channel_test_saves_nothing(home: Path, shiv_root: Path, pyz: Path, paths: Paths,
                                                      sink: MailSink):
    from app.commands.setup_channel import ASK_CHANNEL_AFTER_FAILURE, CHANNEL_NOT_SAVED
    from helpers import smtp_settings, write_config
    from support.httpsworld import HttpsWorld

    write_config(paths, smtp=smtp_settings(sink))
    before = paths.config_file.read_bytes()
    with HttpsWorld() as world:
        world.respond(404, b"not found")
        session = Terminal(["setup", "--channel", "ntfy", "--ntfy-url", world.url + "/alerts", "--ntfy-ca-file",
                            world.ca_file], pyz_env(home, shiv_root, **NO_KEYRING))
        try:
            for question in NTFY_QUESTIONS + ("ntfy token",):
                session.answer(question, "")
            session.answer(ASK_CHANNEL_AFTER_FAILURE + " (change/save/quit) [change]", "quit")
            session.expect(CHANNEL_NOT_SAVED.format(channel="ntfy"))
            assert session.finish() == 1, session.output
        finally:
            session.close()
    assert paths.config_file.read_bytes() == before


def test_without_a_terminal_an_untrusted_channel_certificate_names_the_flag_to_pass(
        home: Path, shiv_root: Path, pyz: Path, paths: Paths, sink: MailSink):
    from helpers import run_pyz, smtp_settings, write_config
    from support.httpsworld import HttpsWorld

    write_config(paths, smtp=smtp_settings(sink))
    before = paths.config_file.read_bytes()
    with HttpsWorld() as world:
        result = run_pyz(pyz, ["setup", "--channel", "ntfy", "--ntfy-url", world.url + "/alerts",
                               "--non-interactive"], pyz_env(home, shiv_root, **NO_KEYRING))
    assert result.returncode == 1 and "give its CA with --ntfy-ca-file PEM" in result.stderr
    assert "set ca_file" not in result.stderr and paths.config_file.read_bytes() == before
