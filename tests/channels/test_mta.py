"""Real mail software beside aiosmtpd: the built pyz through a private Postfix (STARTTLS, SASL AUTH by
Dovecot) and through Postfix's own sendmail; SpamAssassin's score for an alert, a digest and the test email.

Postfix runs once for the module (tests/support/postfix.py) and relays what it accepts to a loopback
MailSink, where each test reads it. Nothing here uses the machine's MTA or port 25.
"""

import os
import re
from pathlib import Path
from typing import Dict, Iterator, List

import pytest

from app.system.paths import Paths
from helpers import append_log, login_line, pyz_env, require, run_pyz, smtp_settings, write_config
from support.mailsink import MailSink, ReceivedMessage, TestCA
from support.postfix import PrivatePostfix, unavailable
from support.spamassassin import MISSING as SPAMASSASSIN_MISSING
from support.spamassassin import CLIENT_RDNS as SENDER_NAME
from support.spamassassin import SPAMASSASSIN, as_delivered, verdict

PASSWORD = "s3cret"
NOT_SPAM_BELOW = 1.0


@pytest.fixture(scope="module")
def relay() -> Iterator[MailSink]:
    """Where Postfix delivers: everything it accepted, with its Received header on top."""
    with MailSink("plain") as sink:
        yield sink


@pytest.fixture(scope="module")
def postfix(relay: MailSink, ca: TestCA) -> Iterator[PrivatePostfix]:
    problem = unavailable()
    require(problem is None, str(problem))
    with PrivatePostfix(relay, ca.leaf(), {"alice": PASSWORD}) as server:
        yield server


@pytest.fixture
def arrivals(relay: MailSink, postfix: PrivatePostfix) -> MailSink:
    relay.clear()
    return relay


def store_password(paths: Paths) -> None:
    """The password in the password file, as on a headless server."""
    from app.settings.credentials import SERVICE
    from app.settings.secretstore import SecretsFile

    SecretsFile(paths.secrets_file).set_password(SERVICE, "alice", PASSWORD)


def check(pyz: Path, environ: Dict[str, str]) -> None:
    result = run_pyz(pyz, ["check"], environ)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", ""), result


def alert_for_one_login(pyz: Path, shiv_root: Path, paths: Paths) -> None:
    """The first check seeds (no alert); one login; the second check alerts it."""
    environ = pyz_env(paths.home, shiv_root)
    check(pyz, environ)
    append_log(paths, login_line())
    check(pyz, environ)


def sent_messages(paths: Paths) -> List[bytes]:
    """The bytes check stored in its outbox and sent, oldest first."""
    from app.store.store import opened

    with opened(paths.store_file) as store:
        return [bytes(row[0]) for row in store.connection.execute(
            "SELECT message FROM outbox WHERE sent IS NOT NULL ORDER BY id")]


def split_first_header(raw: bytes) -> List[bytes]:
    """[the first header with its continuation lines, the rest of the message], line ends as LF."""
    text = raw.replace(b"\r\n", b"\n")
    match = re.match(rb"[^\n]*\n(?:[ \t][^\n]*\n)*", text)
    assert match, raw[:200]
    return [match.group(0), text[match.end():]]


def only_one(arrivals: MailSink, postfix: PrivatePostfix) -> ReceivedMessage:
    """The one message Postfix delivered; fails when more arrived by the time its queue is empty."""
    (first,) = arrivals.wait_for(1, timeout=10)
    postfix.wait_until_queue_empty()  # the pyz has exited: all it submitted is in the queue or already relayed
    assert len(arrivals.messages) == 1, [m.message["Subject"] for m in arrivals.messages]
    return first


def test_an_alert_through_postfix_with_starttls_and_dovecot_auth_arrives_once_and_intact(
        pyz: Path, shiv_root: Path, paths: Paths, ca_file: Path, postfix: PrivatePostfix, arrivals: MailSink):
    write_config(paths, smtp=dict(smtp_settings(postfix), host="127.0.0.1", security="starttls", user="alice",
                                  password_store="file", ca_file=str(ca_file)))
    store_password(paths)
    alert_for_one_login(pyz, shiv_root, paths)
    check(pyz, pyz_env(paths.home, shiv_root))  # nothing new: nothing sent again
    received = only_one(arrivals, postfix)
    added, rest = split_first_header(received.raw)
    assert added.startswith(b"Received: from ") and b"(Authenticated sender: alice)" in added, postfix.log_text()
    assert b"using TLS" in added and b"with ESMTPSA" in added
    # Postfix added its Received header and changed nothing else, byte for byte.
    assert [rest] == [message.replace(b"\r\n", b"\n") for message in sent_messages(paths)]
    assert received.envelope_to == ["owner@example.com"]
    assert received.message["Subject"] == "[NEW IP] SSH login: alice@web1.example.com from 203.0.113.7"
    assert received.message.defects == []


def test_an_alert_through_postfixs_own_sendmail_arrives_once_from_the_configured_sender(
        pyz: Path, shiv_root: Path, paths: Paths, tmp_path: Path, postfix: PrivatePostfix, arrivals: MailSink):
    wrapper = postfix.sendmail_wrapper(tmp_path)
    write_config(paths, alert={"method": "sendmail", "sendmail_path": str(wrapper)})
    alert_for_one_login(pyz, shiv_root, paths)
    received = only_one(arrivals, postfix)
    added, rest = split_first_header(received.raw)
    assert added.startswith(b"Received: by ") and "(Postfix, from userid {})".format(os.getuid()).encode() in added
    assert [rest] == [message.replace(b"\r\n", b"\n") for message in sent_messages(paths)]
    assert (received.envelope_from, received.envelope_to) == ("ssh-alert@example.com", ["owner@example.com"])


def test_a_password_dovecot_refuses_is_reported_and_nothing_is_sent(
        pyz: Path, shiv_root: Path, paths: Paths, ca_file: Path, postfix: PrivatePostfix, arrivals: MailSink):
    write_config(paths, smtp=dict(smtp_settings(postfix), host="127.0.0.1", security="starttls", user="alice",
                                  password_command="echo wrong-horse", ca_file=str(ca_file)))
    result = run_pyz(pyz, ["test"], pyz_env(paths.home, shiv_root))
    assert result.returncode == 1, result
    assert "refused the user name or password" in result.stderr + result.stdout
    assert "wrong-horse" not in result.stderr + result.stdout
    postfix.wait_until_queue_empty()
    assert arrivals.messages == []


# --- SpamAssassin ----------------------------------------------------------------------------------------

def send(kind: str, pyz: Path, environ: Dict[str, str], paths: Paths) -> None:
    """Have the pyz send one email of this kind: an alert, a digest (3 logins, digest_after = 2) or `test`."""
    if kind == "test":
        assert run_pyz(pyz, ["test"], environ).returncode == 0
        return
    check(pyz, environ)
    logins = 1 if kind == "alert" else 3
    append_log(paths, *[login_line(ip="203.0.113.{}".format(10 + number),
                                   extras="cport={} saddr=10.0.0.1 sport=22 tty=none hook=bashrc".format(50000 + number))
                        for number in range(logins)])
    check(pyz, environ)


@pytest.mark.parametrize("kind", ["alert", "digest", "test"])
def test_spamassassin_scores_each_email_below_one_point_with_the_sender_as_first_hop(
        kind: str, pyz: Path, shiv_root: Path, paths: Paths, sink: MailSink, tmp_path: Path):
    require(SPAMASSASSIN.is_file(), SPAMASSASSIN_MISSING)
    # The host's mail name, as an ISP-hosted server has it (its reverse DNS): this test machine's own hostname
    # is not fully qualified, so without ehlo_name (or /etc/mailname) the EHLO is an address literal.
    write_config(paths, alert={"digest_after": "2", "ehlo_name": SENDER_NAME}, smtp=smtp_settings(sink))
    send(kind, pyz, pyz_env(paths.home, shiv_root), paths)
    (received,) = sink.wait_for(1)
    if kind == "digest":
        assert received.message["Subject"].startswith("SSH logins: 3 on ")
    found = verdict(as_delivered(received), tmp_path / "spamassassin")
    assert found.score < NOT_SPAM_BELOW, "{} (EHLO {}): {}".format(kind, received.helo, found)
