"""Self-checks for tests/support/mailsink.py, driven by smtplib and Debian's msmtp."""

from __future__ import annotations

import gc
import os
import smtplib
import socket
import ssl
import subprocess
import threading
import time
import warnings
from email.message import EmailMessage
from pathlib import Path
from typing import List

import pytest

from helpers import require
from support.mailsink import HangingServer, MailSink, TestCA
from support.msmtp import MSMTP, MSMTP_MISSING, explain_msmtp_failure, msmtp_config, sendmail_wrapper

pytestmark = pytest.mark.timeout(30)

# smtplib's default EHLO name comes from socket.getfqdn(), which may query DNS.
CLIENT_NAME = "localhost"
SENDER = "alert@localhost"
RECIPIENT = "admin@localhost"


@pytest.fixture(scope="module")
def test_ca() -> TestCA:
    return TestCA()


@pytest.fixture(scope="module")
def ca_file(test_ca: TestCA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return test_ca.write_ca_pem(tmp_path_factory.mktemp("ca") / "ca.pem")


@pytest.fixture
def client_context(ca_file: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=os.fspath(ca_file))


def make_message(subject: str = "SSH login", to: str = RECIPIENT) -> EmailMessage:
    """Return a small EmailMessage from SENDER to ``to``."""
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = to
    message["Subject"] = subject
    message.set_content("root logged in from 192.0.2.7\n")
    return message


def open_sockets() -> List[str]:
    """Return the socket inodes this process holds open (Linux /proc)."""
    sockets = []
    for descriptor in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink("/proc/self/fd/" + descriptor)
        except OSError:  # the listdir descriptor itself is gone by now
            continue
        if target.startswith("socket:"):
            sockets.append(target)
    return sockets


def test_plain_message_arrives_once() -> None:
    before = time.monotonic()
    with MailSink() as sink:
        with smtplib.SMTP(sink.host, sink.port, local_hostname=CLIENT_NAME, timeout=5) as client:
            client.send_message(make_message("plain once"))
        [received] = sink.wait_for(1, timeout=2)
        assert len(sink.messages) == 1
    assert received.envelope_from == SENDER
    assert received.envelope_to == [RECIPIENT]
    assert received.message["Subject"] == "plain once"
    assert "192.0.2.7" in received.message.get_content()
    assert b"Subject: plain once\r\n" in received.raw
    assert before <= received.received_at <= time.monotonic()
    assert received.tls is False
    assert received.auth_user is None


def test_multiline_replies_are_not_delayed() -> None:
    # Guards the TCP_NODELAY fix: with Nagle on, each EHLO took ~40 ms.
    with MailSink() as sink:
        with smtplib.SMTP(sink.host, sink.port, local_hostname=CLIENT_NAME, timeout=5) as client:
            started = time.monotonic()
            for _ in range(5):
                client.ehlo()
            assert time.monotonic() - started < 0.15


def test_starttls_with_verified_context(test_ca: TestCA, client_context: ssl.SSLContext) -> None:
    with MailSink("starttls", cert=test_ca.leaf()) as sink:
        with smtplib.SMTP(sink.host, sink.port, local_hostname=CLIENT_NAME, timeout=5) as client:
            client.starttls(context=client_context)
            client.send_message(make_message("over starttls"))
        [received] = sink.wait_for(1, timeout=2)
    assert received.tls is True
    assert received.message["Subject"] == "over starttls"


def test_starttls_is_required_by_default(test_ca: TestCA) -> None:
    with MailSink("starttls", cert=test_ca.leaf()) as sink:
        with smtplib.SMTP(sink.host, sink.port, local_hostname=CLIENT_NAME, timeout=5) as client:
            with pytest.raises(smtplib.SMTPSenderRefused) as refused:
                client.send_message(make_message())
        assert refused.value.smtp_code == 530
        assert sink.messages == []


def test_implicit_tls(test_ca: TestCA, client_context: ssl.SSLContext) -> None:
    with MailSink("ssl", cert=test_ca.leaf()) as sink:
        with smtplib.SMTP_SSL(
            sink.host, sink.port, local_hostname=CLIENT_NAME, timeout=5, context=client_context
        ) as client:
            client.send_message(make_message("over implicit tls"))
        [received] = sink.wait_for(1, timeout=2)
    assert received.tls is True
    assert received.message["Subject"] == "over implicit tls"


@pytest.mark.parametrize(
    "leaf_kind, reason",
    [("untrusted_leaf", "unable to get local issuer"), ("wrong_host_leaf", "mismatch")],
)
def test_bad_certificates_fail_verification(
    test_ca: TestCA, client_context: ssl.SSLContext, leaf_kind: str, reason: str
) -> None:
    with MailSink("starttls", cert=getattr(test_ca, leaf_kind)()) as sink:
        with smtplib.SMTP(sink.host, sink.port, local_hostname=CLIENT_NAME, timeout=5) as client:
            with pytest.raises(ssl.SSLCertVerificationError, match=reason):
                client.starttls(context=client_context)


def test_auth_over_starttls(test_ca: TestCA, client_context: ssl.SSLContext) -> None:
    with MailSink("starttls", cert=test_ca.leaf(), auth={"alice": "s3cret"}) as sink:
        with smtplib.SMTP(sink.host, sink.port, local_hostname=CLIENT_NAME, timeout=5) as client:
            client.starttls(context=client_context)
            with pytest.raises(smtplib.SMTPSenderRefused) as refused:
                client.send_message(make_message("before login"))
            assert refused.value.smtp_code == 530
            with pytest.raises(smtplib.SMTPAuthenticationError):
                client.login("alice", "wrong")
            client.login("alice", "s3cret")
            client.send_message(make_message("after login"))
        [received] = sink.wait_for(1, timeout=2)
    assert received.auth_user == "alice"
    assert received.tls is True


def test_auth_without_tls_in_plain_mode() -> None:
    with MailSink("plain", auth={"alice": "s3cret"}) as sink:
        with smtplib.SMTP(sink.host, sink.port, local_hostname=CLIENT_NAME, timeout=5) as client:
            client.login("alice", "s3cret")
            client.send_message(make_message())
        [received] = sink.wait_for(1, timeout=2)
    assert received.auth_user == "alice"
    assert received.tls is False


def test_auth_not_offered_without_auth() -> None:
    with MailSink() as sink:
        with smtplib.SMTP(sink.host, sink.port, local_hostname=CLIENT_NAME, timeout=5) as client:
            client.ehlo()
            assert not client.has_extn("auth")


def test_refused_recipient() -> None:
    refused_address = "nobody@localhost"
    with MailSink(refuse={refused_address}) as sink:
        with smtplib.SMTP(sink.host, sink.port, local_hostname=CLIENT_NAME, timeout=5) as client:
            with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
                client.send_message(make_message(to=refused_address))
        assert refused.value.recipients[refused_address][0] == 550
        assert sink.messages == []


def test_wait_for_timeout_says_what_arrived() -> None:
    with MailSink() as sink:
        with pytest.raises(AssertionError, match=r"expected at least 1 message\(s\) within 0.05 s, got 0"):
            sink.wait_for(1, timeout=0.05)


def test_hanging_server_times_out_smtplib() -> None:
    with HangingServer() as server:
        started = time.monotonic()
        # smtplib wraps the greeting read timeout in SMTPServerDisconnected.
        with pytest.raises(smtplib.SMTPServerDisconnected, match="timed out") as disconnected:
            smtplib.SMTP(server.host, server.port, local_hostname=CLIENT_NAME, timeout=0.5)
        assert isinstance(disconnected.value.__context__, socket.timeout)
        assert 0.4 <= time.monotonic() - started < 3
        assert server.wait_accepted(1, timeout=2) == 1


def test_stop_leaves_no_threads_sockets_or_warnings(test_ca: TestCA, client_context: ssl.SSLContext) -> None:
    threads_before = set(threading.enumerate())
    sockets_before = set(open_sockets())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sinks = [MailSink().start(), MailSink("starttls", cert=test_ca.leaf()).start()]
        hanging = HangingServer().start()
        # Leave clients connected and idle so stop() has live sessions to drop.
        idle_plain = smtplib.SMTP(sinks[0].host, sinks[0].port, local_hostname=CLIENT_NAME, timeout=5)
        idle_tls = smtplib.SMTP(sinks[1].host, sinks[1].port, local_hostname=CLIENT_NAME, timeout=5)
        idle_tls.starttls(context=client_context)
        idle_hanging = socket.create_connection((hanging.host, hanging.port), timeout=5)
        hanging.wait_accepted(1, timeout=2)
        for sink in sinks:
            sink.stop()
            sink.stop()  # idempotent
        hanging.stop()
        for client in (idle_plain, idle_tls):
            client.close()
        idle_hanging.close()
        gc.collect()
    assert set(threading.enumerate()) <= threads_before
    assert set(open_sockets()) <= sockets_before
    assert [str(warning.message) for warning in caught] == []


def run_msmtp(command: List[str], message: EmailMessage) -> subprocess.CompletedProcess[bytes]:
    """Run an msmtp sendmail command with ``message`` on stdin; fail the test on non-zero exit."""
    result = subprocess.run(command, input=message.as_bytes(), capture_output=True, timeout=15)
    assert result.returncode == 0, explain_msmtp_failure(command, result.returncode, result.stderr)
    return result


def test_msmtp_relays_over_starttls(test_ca: TestCA, ca_file: Path, tmp_path: Path) -> None:
    require(MSMTP.is_file(), MSMTP_MISSING)
    with MailSink("starttls", cert=test_ca.leaf()) as sink:
        config = msmtp_config(tmp_path / "msmtprc", sink, ca_file=ca_file)
        assert config.stat().st_mode & 0o777 == 0o600
        run_msmtp([os.fspath(MSMTP), "-C", os.fspath(config), "-t", "-oi"], make_message("via msmtp"))
        [received] = sink.wait_for(1, timeout=5)
    assert received.tls is True
    assert received.envelope_to == [RECIPIENT]
    assert received.envelope_from == "ssh-alert@localhost"
    assert received.message["Subject"] == "via msmtp"


def test_sendmail_wrapper_with_auth_over_implicit_tls(test_ca: TestCA, ca_file: Path, tmp_path: Path) -> None:
    require(MSMTP.is_file(), MSMTP_MISSING)
    with MailSink("ssl", cert=test_ca.leaf(), auth={"alice": "s3cret"}) as sink:
        config = msmtp_config(tmp_path / "msmtprc", sink, ca_file=ca_file, user="alice", password="s3cret")
        wrapper = sendmail_wrapper(tmp_path, config)
        run_msmtp([os.fspath(wrapper), "-oi", "-t"], make_message("via wrapper"))
        [received] = sink.wait_for(1, timeout=5)
    assert received.auth_user == "alice"
    assert received.tls is True
    assert received.message["Subject"] == "via wrapper"
