"""Delivery: verified TLS (implicit and STARTTLS), AUTH, timeouts, refused recipients, and real sendmail."""

from pathlib import Path

import pytest

from app.commands.test import run_test
from app.settings.config import load_config
from app.channels.delivery import SENDMAIL_FLAGS, sendmail_argv
from app.system.paths import Paths
from helpers import require, smtp_settings, write_config
from support.mailsink import HangingServer, MailSink, TestCA
from support.msmtp import MSMTP, MSMTP_MISSING, msmtp_config, sendmail_wrapper


def store_password(paths: Paths, password: str = "s3cret") -> None:
    from app.settings.credentials import SERVICE
    from app.settings.secretstore import SecretsFile

    SecretsFile(paths.secrets_file).set_password(SERVICE, "alice", password)


def tls_config(paths: Paths, server: MailSink, ca_file: Path, security: str, host: str = "localhost",
               **extra: str) -> None:
    write_config(paths, smtp=smtp_settings(server, host=host, security=security, user="alice",
                                           password_store="file", ca_file=str(ca_file), **extra))


@pytest.mark.parametrize("mode", ["starttls", "ssl"])
def test_tls_delivery_with_trusted_certificate_and_auth_arrives_encrypted(paths: Paths, ca: TestCA, ca_file: Path,
                                                                          mode: str):
    with MailSink(mode, cert=ca.leaf(), auth={"alice": "s3cret"}) as server:
        tls_config(paths, server, ca_file, mode)
        store_password(paths)
        result = run_test(paths)
        assert result.delivered, result.reason
        (received,) = server.wait_for(1)
    assert received.tls and received.auth_user == "alice"
    assert received.envelope_to == ["owner@example.com"]
    assert "verified certificate" in result.route


@pytest.mark.parametrize("mode", ["starttls", "ssl"])
def test_tls_delivery_refuses_a_certificate_from_an_untrusted_ca(paths: Paths, ca: TestCA, ca_file: Path,
                                                                 mode: str):
    with MailSink(mode, cert=ca.untrusted_leaf()) as server:
        tls_config(paths, server, ca_file, mode)
        store_password(paths)
        result = run_test(paths)
        assert server.messages == []
    assert not result.delivered
    assert "not trusted" in result.reason and "ca_file" in result.reason


def test_tls_delivery_refuses_a_certificate_for_another_host_name(paths: Paths, ca: TestCA, ca_file: Path):
    with MailSink("starttls", cert=ca.wrong_host_leaf()) as server:
        tls_config(paths, server, ca_file, "starttls")
        store_password(paths)
        result = run_test(paths)
    assert not result.delivered and "not valid for that name" in result.reason


def test_starttls_configured_but_not_offered_is_refused_not_downgraded(paths: Paths, ca_file: Path):
    with MailSink("plain", auth={"alice": "s3cret"}) as server:
        write_config(paths, smtp=smtp_settings(server, host="127.0.0.1", security="starttls", user="alice",
                                               password_store="file", ca_file=str(ca_file)))
        store_password(paths)
        result = run_test(paths)
        assert server.messages == []
    assert not result.delivered and "does not offer STARTTLS" in result.reason


def test_wrong_password_is_reported_as_refused_credentials_without_the_password(paths: Paths, ca: TestCA,
                                                                                ca_file: Path):
    with MailSink("starttls", cert=ca.leaf(), auth={"alice": "s3cret"}) as server:
        tls_config(paths, server, ca_file, "starttls")
        store_password(paths, "wrong-horse-battery")
        result = run_test(paths)
    assert not result.delivered
    assert "refused the user name or password" in result.reason
    assert "wrong-horse-battery" not in result.reason


def test_server_that_accepts_and_never_answers_times_out(paths: Paths):
    with HangingServer() as server:
        write_config(paths, smtp=smtp_settings(server, timeout="1"))
        result = run_test(paths)
    assert not result.delivered and "no answer from" in result.reason and "within 1 s" in result.reason


def test_connection_refused_is_named(paths: Paths):
    with MailSink("plain") as server:
        port = server.port
    write_config(paths, smtp={"host": "127.0.0.1", "port": str(port), "security": "none"})
    result = run_test(paths)
    assert not result.delivered and "refused the connection" in result.reason


def test_every_recipient_gets_a_real_rcpt(paths: Paths, sink: MailSink):
    write_config(paths, alert={"to": "a@example.com, b@example.com"}, smtp=smtp_settings(sink))
    assert run_test(paths).delivered
    assert sink.wait_for(1)[0].envelope_to == ["a@example.com", "b@example.com"]


def test_sendmail_argv_sets_the_envelope_sender_and_carries_no_recipient_or_secret():
    """Without -f the envelope sender is the Unix user: Exim adds Sender:, spam filters score it."""
    assert sendmail_argv("/usr/sbin/sendmail", "ssh-alert@example.com") == [
        "/usr/sbin/sendmail", *SENDMAIL_FLAGS, "-f", "ssh-alert@example.com"]


def test_sendmail_method_delivers_through_debians_msmtp(paths: Paths, ca: TestCA, ca_file: Path, tmp_path: Path):
    """/usr/bin/msmtp with its own msmtprc, whatever /usr/sbin/sendmail is."""
    require(MSMTP.is_file(), MSMTP_MISSING)
    with MailSink("starttls", cert=ca.leaf()) as server:
        wrapper = sendmail_wrapper(tmp_path, msmtp_config(tmp_path / "msmtprc", server, ca_file=ca_file))
        write_config(paths, alert={"method": "sendmail", "sendmail_path": str(wrapper)})
        result = run_test(paths)
        assert result.delivered, result.reason
        (received,) = server.wait_for(1)
    assert received.tls and received.message["Subject"] == "ssh_alert test from web1.example.com"


def test_sendmail_failure_reports_exit_status_and_message(paths: Paths, tmp_path: Path):
    failing = tmp_path / "sendmail"
    failing.write_text("#!/bin/sh\necho 'sendmail: cannot connect to mail.example.com' >&2\nexit 75\n")
    failing.chmod(0o755)
    write_config(paths, alert={"method": "sendmail", "sendmail_path": str(failing)})
    result = run_test(paths)
    assert not result.delivered
    assert "exited with status 75" in result.reason and "cannot connect" in result.reason


def test_sendmail_that_hangs_is_killed_after_the_timeout(paths: Paths, tmp_path: Path):
    hanging = tmp_path / "sendmail"
    hanging.write_text("#!/bin/sh\nsleep 30\n")
    hanging.chmod(0o755)
    write_config(paths, alert={"method": "sendmail", "sendmail_path": str(hanging), "timeout": "1"})
    result = run_test(paths)
    assert not result.delivered and "did not finish within 1 s" in result.reason
    assert load_config(paths.config_file).timeout == 1


@pytest.mark.parametrize("offered, chosen", [("PLAIN LOGIN", "PLAIN"), ("LOGIN CRAM-MD5", "LOGIN"),
                                             ("cram-md5", "CRAM-MD5"), ("XOAUTH2", None), ("", None)])
def test_one_auth_mechanism_is_chosen_from_what_the_server_offers(offered, chosen):
    from app.channels.smtpsession import best_mechanism

    assert best_mechanism(offered) == chosen
