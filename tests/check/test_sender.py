"""The run's send step on its own: a real store and outbox, the real (empty) channels, a transport standing in
for SMTP. What a Sender keeps is what the run reports: the alerts sent, the email failure, the deferrals."""

import email.policy
import os
from email.message import EmailMessage
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import pytest

from app.channels.delivery import DeliveryError, SendResult
from app.check.context import RunParts
from app.check.fanout import Channels
from app.check.handoff import NO_HANDOFF, HandOff
from app.check.render import Envelope
from app.check.sender import DEFERRED, Sender
from app.settings.config import parse_config
from app.store import outbox
from app.store.store import Store
from app.system.oplog import OperationalLog
from app.system.paths import Paths
from support.stores import store  # noqa: F401  (the fixture: the store at the account's own place)

TO = ("a@example.com", "b@example.com")
Answer = Union[SendResult, DeliveryError]


class Transport:
    """Answers each send with the next of answers (a SendResult, or a DeliveryError to raise); counts the sends."""

    def __init__(self, *answers: Answer) -> None:
        self.answers: List[Answer] = list(answers)
        self.sends: List[Tuple[bytes, Tuple[str, ...]]] = []
        self.closed = False

    def send(self, message: bytes, recipients: Sequence[str]) -> SendResult:
        self.sends.append((message, tuple(recipients)))
        answer = self.answers.pop(0) if self.answers else SendResult(accepted=tuple(recipients))
        if isinstance(answer, DeliveryError):
            raise answer
        return answer

    def close(self) -> None:
        self.closed = True


def sender_for(paths: Paths, store: Store, transport: Transport, mark: Optional[outbox.AcceptedMark] = None,
               handoff: HandOff = NO_HANDOFF) -> Sender:
    config = parse_config("[alert]\nto = {}\nfrom = s@example.com\nmethod = sendmail\nsendmail_path = /bin/true\n"
                          .format(", ".join(TO)), paths.config_file)
    parts = RunParts(paths, store, config, Envelope("s@example.com", TO, "web1", "web1.example.com"),
                     OperationalLog(paths.oplog_file))
    return Sender(parts, transport, Channels(parts, handoff), mark, handoff)


def post(store: Store, number: int) -> str:
    """Post login number's message; returns its Message-ID."""
    message = EmailMessage(policy=email.policy.SMTP)
    message["Subject"] = "login {}".format(number)
    message["Message-ID"] = outbox.message_id("conn-{}".format(number), "login", "web1.example.com")
    message.set_content("body {}".format(number))
    outbox.post(store, message, TO, "login", outbox.Record(lambda target: None, 1))
    return str(message["Message-ID"])


def test_a_sender_whose_mail_server_failed_does_not_wait_on_it_again_in_the_same_run(paths: Paths, store: Store):
    transport = Transport(DeliveryError("connection refused"))
    sender = sender_for(paths, store, transport)
    post(store, 1)
    with pytest.raises(outbox.SendFailed):
        sender.send()
    post(store, 2)
    sender.send()  # email is not tried again: both stay pending for the next run
    assert len(transport.sends) == 1
    assert str(sender.email_failure) == "connection refused"
    assert [row.subject for row in store.unsent()] == ["login 1", "login 2"]
    assert sender.alerts() == 0


def test_a_sender_counts_the_alerts_every_recipient_took_over_its_sends(paths: Paths, store: Store):
    sender = sender_for(paths, store, Transport())
    for number in (1, 2, 3):
        post(store, number)
        sender.send()
    assert sender.alerts() == 3 and store.unsent() == []


def test_a_deferring_recipient_is_one_problem_naming_its_reply_and_how_many_it_deferred(paths: Paths, store: Store):
    transport = Transport(SendResult(accepted=("a@example.com",), deferred=(("b@example.com", "451 later"),)),
                          SendResult(deferred=(("b@example.com", "452 full"),)))
    sender = sender_for(paths, store, transport)
    post(store, 1)
    sender.send()
    sender.send()  # the next send tries b alone again
    assert [recipients for _, recipients in transport.sends] == [TO, ("b@example.com",)]
    assert sender.problems() == [DEFERRED.format(address="b@example.com", count=2, reply="451 later")]
    assert "b@example.com deferred 2 alert(s)" in paths.oplog_file.read_text()


def test_a_refusal_for_good_is_told_once_through_a_notice_in_the_outbox(paths: Paths, store: Store):
    transport = Transport(SendResult(accepted=("a@example.com",), refused=(("b@example.com", "550 no such user"),)),
                          SendResult(accepted=("a@example.com",), refused=(("b@example.com", "550 no such user"),)))
    sender = sender_for(paths, store, transport)
    post(store, 1)
    sender.send()  # login 1 sent; the refused notice is posted and sent at once to a
    post(store, 2)
    sender.send()
    assert store.get("refused") == {"b@example.com": "550 no such user"}
    notices = store.connection.execute("SELECT count(*) FROM outbox WHERE kind = 'notice'").fetchone()[0]
    assert notices == 1 and sender.problems() == []


def test_closing_a_sender_closes_its_mail_session(paths: Paths, store: Store):
    transport = Transport()
    sender_for(paths, store, transport).close()
    assert transport.closed


def test_the_waiting_hook_goes_on_once_every_recipient_took_its_logins_message(paths: Paths, store: Store):
    paths.lock_file.write_bytes(b"")
    mark = outbox.AcceptedMark(paths.lock_file)
    read_end, write_end = os.pipe()
    connection = "203.0.113.9 52222 10.0.0.1 22"
    transport = Transport(SendResult(accepted=("a@example.com",), deferred=(("b@example.com", "451 later"),)))
    sender = sender_for(paths, store, transport, mark, HandOff(connection, write_end))
    try:
        sender.expect(post(store, 1), [connection])
        sender.send()  # b deferred it: not every recipient has it yet
        os.set_blocking(read_end, False)
        with pytest.raises(BlockingIOError):
            os.read(read_end, 1)
        sender.send()  # b takes it now
        assert os.read(read_end, 1) == b"1"
    finally:
        mark.close()
        os.close(read_end)
