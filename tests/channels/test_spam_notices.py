"""SpamAssassin scores every notice ssh_alert sends 0.0 or less from an external hop: the logout alert, the
heartbeat, a refused recipient, a re-seeded state. (Alerts, digests and the test email: test_mta.py.)

Each message is rendered as the product renders it, sent over real SMTP to a loopback server, and judged with
one Received: line from a public address whose reverse DNS equals the EHLO name (support.spamassassin)."""

import email.utils
import time
from pathlib import Path

import pytest

from app.store import history
from app.watch.heartbeat import heartbeat_summary, notice_subject
from app.store.outbox import message_id, wire_bytes
from app.check.render import Envelope, build_notice, build_refused_notice
from app.check.sessionends import LOGOUT_SUBJECT, logout_text
from app.channels.delivery import open_transport
from app.settings.config import load_config
from app.system.paths import Paths
from helpers import require, smtp_settings, write_config
from support.mailsink import MailSink
from support.spamassassin import CLIENT_RDNS, MISSING, SPAMASSASSIN, as_delivered, verdict

HOST = CLIENT_RDNS
NOW = time.time()
ENTRY = history.HistoryEntry(time=time.strftime("%Y-%m-%d %H:%M:%S +0000", time.gmtime(NOW - 300)),
                             epoch=NOW - 300, user="alice", ip="198.51.100.23", rdns="", methods=("publickey",),
                             key="", key_comment="", kind="interactive", outcome=history.EMAILED, new_ip=True,
                             trusted=False, log_key="1:2:3", ended=NOW)
# Sender, recipient and the sending host in three domains, as for a VPS mailing a personal address: same-domain
# mail would hide rules such as BODY_URI_ONLY (which spares __TO_EQ_FROM_DOM and a Return-Path matching Received).
SENDER, RECIPIENT = "ssh-alert@example.org", "owner@example.net"
ENVELOPE = Envelope(SENDER, (RECIPIENT,), HOST, HOST)
DATE = email.utils.formatdate(NOW, usegmt=True)


def notice(subject: str, text: str):  # type: ignore[no-untyped-def]
    return build_notice(ENVELOPE, subject, text, [], DATE, message_id(subject, "notice", HOST))


def message_of(kind: str):  # type: ignore[no-untyped-def]
    if kind == "logout":
        return notice(LOGOUT_SUBJECT.format(user="alice", host=HOST, ip=ENTRY.ip, lasted=history.duration(ENTRY)),
                      logout_text(ENTRY, HOST))
    if kind == "heartbeat":
        title, text = heartbeat_summary([ENTRY], NOW - 86400, NOW, HOST, [], "daily")
        return notice(notice_subject(title, HOST), text)
    if kind == "refused":
        return build_refused_notice(ENVELOPE, "second@example.org", "550 5.1.1 no such user", DATE,
                                    message_id("refused", "notice", HOST))
    return notice("state re-seeded", "state file was unusable (truncated); re-seeded at the end of the login "
                                     "log. Logins recorded while it was unusable may not have been alerted.")


@pytest.mark.parametrize("kind", ["logout", "heartbeat", "refused", "reseeded"])
def test_every_notice_scores_zero_from_an_external_hop(kind: str, paths: Paths, sink: MailSink, tmp_path: Path):
    require(SPAMASSASSIN.is_file(), MISSING)
    config = load_config(write_config(paths, alert={"ehlo_name": HOST, "to": RECIPIENT, "from": SENDER},
                                      smtp=smtp_settings(sink)))
    transport = open_transport(config, lambda: None, HOST)
    try:
        transport.send(wire_bytes(message_of(kind)), config.recipients)
    finally:
        transport.close()
    (received,) = sink.wait_for(1)
    found = verdict(as_delivered(received), tmp_path / "spamassassin")
    assert found.score <= 0.0, "{}: {}".format(kind, found)
