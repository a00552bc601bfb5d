"""The outbox at its edges: Message-IDs, what post commits together, the accepted mark in the lock file, and flush
with recipients that accept, refuse for good, defer or fail, on a real store and a transport standing in for SMTP."""

import email.policy
import hashlib
import os
import time
from email.message import EmailMessage
from pathlib import Path
from typing import List, Tuple

import pytest

from app.logins.runmark import LOCK_BYTES
from app.store import outbox
from app.store.store import Store
from support.outboxdoubles import Log, Told
from app.channels.delivery import DeliveryError, SendResult

NOW = 1_795_600_000.0
TO = ("a@example.com", "b@example.com")


class Transport:
    """Answers each send with the next of answers (a SendResult, or a DeliveryError to raise); records the calls."""

    def __init__(self, *answers) -> None:
        self.answers = list(answers)
        self.calls: List[Tuple[bytes, List[str]]] = []

    def send(self, message: bytes, recipients):
        self.calls.append((message, list(recipients)))
        answer = self.answers.pop(0) if self.answers else None
        if isinstance(answer, Exception):
            raise answer
        return answer if answer is not None else SendResult(accepted=tuple(recipients))


def message(number: int) -> EmailMessage:
    built = EmailMessage(policy=email.policy.SMTP)  # as render builds them
    built["Subject"] = "login {}".format(number)
    built["Message-ID"] = outbox.message_id("conn-{}".format(number), "login", "web1.example.com")
    built.set_content("body {}".format(number))
    return built


def post(store: Store, *numbers: int) -> None:
    for number in numbers:
        outbox.post(store, message(number), TO, "login", outbox.Record(lambda target: None, 1), now=NOW + number)


def attempts(store: Store) -> List[Tuple[str, int, object]]:
    return list(store.connection.execute("SELECT subject, attempts, last_error FROM outbox ORDER BY id"))


# --- Message-IDs ----------------------------------------------------------------------------------------------

def test_a_message_id_is_32_hex_digits_of_the_identity_the_kind_and_the_domain() -> None:
    digest = hashlib.sha256(b"conn-1").hexdigest()[:32]
    assert outbox.message_id("conn-1", "login", "web1.example.com") == "<{}.login@web1.example.com>".format(digest)


def test_a_message_ids_domain_loses_spaces_and_its_trailing_dot_and_an_empty_one_is_localhost_invalid() -> None:
    assert outbox.message_id("c", "digest", " web1.example.com. \n").endswith(".digest@web1.example.com>")
    assert outbox.message_id("c", "digest", " . ").endswith(".digest@localhost.invalid>")
    assert outbox.message_id("c", "digest", "[192.0.2.1]").endswith("@[192.0.2.1]>")
    assert outbox.message_id("c", "digest", "MAIL.EXAMPLE.BOX.").endswith("@MAIL.EXAMPLE.BOX>")  # only dots go


def test_an_identity_with_undecodable_bytes_still_has_a_message_id() -> None:
    digest = hashlib.sha256(b"conn-\xff").hexdigest()[:32]
    assert outbox.message_id("conn-\udcff", "login", "h") == "<{}.login@h>".format(digest)


def test_the_wire_bytes_end_lines_with_crlf() -> None:
    assert outbox.wire_bytes(message(1)).endswith(b"\r\n\r\nbody 1\r\n")


# --- post ---------------------------------------------------------------------------------------------------

def test_post_stores_the_message_its_events_and_its_record_in_one_transaction(store: Store) -> None:
    built = message(1)
    record = outbox.Record(lambda target: target.put("covered", "yes"), logins=3,
                           events=[({"id": "evt_1", "type": "login", "time": NOW}, True, "c1")])
    outbox.post(store, built, TO, "digest", record, now=NOW)
    (row,) = store.unsent()
    assert (row.message_id, row.kind, row.subject, row.recipients, row.message, row.logins) == (
        str(built["Message-ID"]), "digest", "login 1", TO, outbox.wire_bytes(built), 3)
    assert store.connection.execute("SELECT created FROM outbox").fetchone()[0] == NOW
    assert store.get("covered") == "yes"
    assert store.connection.execute("SELECT event_id FROM events").fetchall() == [("evt_1",)]


def test_a_record_without_a_count_reports_no_logins_and_post_without_now_takes_the_clock(store: Store) -> None:
    before = time.time()
    outbox.post(store, message(1), TO, "notice", outbox.Record(lambda target: None))
    assert store.unsent()[0].logins == 0
    assert before <= store.connection.execute("SELECT created FROM outbox").fetchone()[0] <= time.time()


def test_post_without_a_message_only_applies_the_record(store: Store) -> None:
    outbox.post(store, None, TO, "login", outbox.Record(lambda target: target.put("covered", 1)), now=NOW)
    assert store.unsent() == [] and store.get("covered") == 1


def test_a_record_that_fails_leaves_nothing_of_the_post(store: Store) -> None:
    def fail(target: Store) -> None:
        raise RuntimeError("disk")

    with pytest.raises(RuntimeError):
        outbox.post(store, message(1), TO, "login", outbox.Record(fail, events=[({"id": "e", "type": "login"}, True, "")]))
    assert store.unsent() == [] and store.connection.execute("SELECT count(*) FROM events").fetchone()[0] == 0


# --- the accepted mark ----------------------------------------------------------------------------------------

def test_the_mark_takes_the_first_256_bytes_of_a_new_lock_file_and_the_run_mark_the_rest(tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    lock.write_bytes(b"")
    outbox.AcceptedMark(lock).close()
    assert lock.read_bytes() == b" " * LOCK_BYTES


def test_a_lock_file_already_that_long_keeps_its_mark(tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    lock.write_bytes(b"7 <old@x>".ljust(256, b" "))
    outbox.AcceptedMark(lock).close()
    assert lock.read_bytes() == b"7 <old@x>".ljust(LOCK_BYTES, b" ")


def test_a_noted_message_is_recorded_as_sent_by_the_next_run(store: Store, tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    lock.write_bytes(b"")
    post(store, 1, 2)
    first, second = store.unsent()
    mark = outbox.AcceptedMark(lock)
    mark.note(second)
    mark.close()
    assert lock.read_bytes() == "{} {}".format(second.id, second.message_id).encode().ljust(LOCK_BYTES, b" ")
    again = outbox.AcceptedMark(lock)  # the next run
    again.settle(store)
    again.close()
    assert store.unsent() == [first]
    assert store.get("last_sent")["subject"] == "login 2"


def test_an_empty_mark_settles_nothing(store: Store, tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    lock.write_bytes(b"\0" * 300)
    post(store, 1)
    mark = outbox.AcceptedMark(lock)
    mark.settle(store)
    mark.close()
    assert len(store.unsent()) == 1


def test_a_mark_naming_another_message_settles_nothing(store: Store, tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    post(store, 1)
    (row,) = store.unsent()
    lock.write_bytes(" {} {}".format(row.id, row.message_id).encode())  # shifted by one byte: not this row
    mark = outbox.AcceptedMark(lock)
    mark.settle(store)
    mark.close()
    assert store.unsent() == [row]


def test_closing_the_mark_closes_its_descriptor(tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    lock.write_bytes(b"")
    mark = outbox.AcceptedMark(lock)
    descriptor = mark.descriptor
    mark.close()
    with pytest.raises(OSError):
        os.fstat(descriptor)


# --- flush --------------------------------------------------------------------------------------------------

def test_flush_sends_every_message_oldest_first_to_the_recipients_of_now(store: Store, tmp_path: Path) -> None:
    post(store, 1, 2)
    transport, log = Transport(), Log()
    assert outbox.flush(store, transport, ["new@example.com"], log) == 2
    assert [recipients for _, recipients in transport.calls] == [["new@example.com"]] * 2
    assert [body.endswith("body {}\r\n".format(number).encode()) for number, (body, _) in
            zip((1, 2), transport.calls)] == [True, True]
    assert store.unsent() == [] and log.lines == [("info", "sent: login 1"), ("info", "sent: login 2")]
    assert outbox.flush(store, transport, ["new@example.com"], log) == 0


def test_a_message_accepted_is_noted_in_the_mark_before_the_store_records_it(store: Store, tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    lock.write_bytes(b"")
    post(store, 1)
    (row,) = store.unsent()
    mark = outbox.AcceptedMark(lock)
    outbox.flush(store, Transport(), TO, Log(), mark)
    mark.close()
    assert lock.read_bytes().rstrip(b" ") == "{} {}".format(row.id, row.message_id).encode()


def test_a_failed_send_keeps_that_message_and_those_after_it(store: Store) -> None:
    post(store, 1, 2)
    transport = Transport(DeliveryError("connection refused"))
    with pytest.raises(outbox.SendFailed) as raised:
        outbox.flush(store, transport, TO, Log())
    assert str(raised.value) == "connection refused" and len(transport.calls) == 1
    assert attempts(store) == [("login 1", 1, "connection refused"), ("login 2", 0, None)]
    assert len(store.unsent()) == 2


def test_a_refusal_for_good_is_told_and_not_retried_and_the_message_counts_as_sent(store: Store) -> None:
    post(store, 1)
    told = Told()
    log = Log()
    transport = Transport(SendResult(accepted=("a@example.com",), refused=(("b@example.com", "550 no such user"),)))
    assert outbox.flush(store, transport, TO, log, replies=told) == 1
    assert told.refusals == [("b@example.com", "550 no such user")]
    assert log.lines == [("error", "b@example.com refused login 1 for good: 550 no such user"),
                         ("info", "sent: login 1")]
    assert store.unsent() == []


def test_a_message_is_told_accepted_once_every_recipient_took_it_and_the_mark_noted_it(store: Store,
                                                                                       tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    lock.write_bytes(b"")
    post(store, 1, 2)
    mark = outbox.AcceptedMark(lock)
    told = Told()
    deferring = Transport(SendResult(accepted=("a@example.com",), deferred=(("b@example.com", "451 later"),)))
    outbox.flush(store, deferring, TO, Log(), mark, replies=told)
    assert told.accepted_subjects == []  # b has neither yet
    outbox.flush(store, Transport(), TO, Log(), None, replies=told)
    assert told.accepted_subjects == []  # without a mark nothing is noted, so nothing is told
    post(store, 3)
    outbox.flush(store, Transport(), TO, Log(), mark, replies=told)
    assert told.accepted_subjects == ["login 3"]
    mark.close()


def test_a_refusal_without_a_listener_is_only_logged(store: Store) -> None:
    post(store, 1)
    transport = Transport(SendResult(refused=(("a@example.com", "550 gone"), ("b@example.com", "550 gone"))))
    assert outbox.flush(store, transport, TO, Log()) == 1


def test_a_deferred_recipient_keeps_the_message_and_only_it_is_tried_again(store: Store, tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    lock.write_bytes(b"")
    post(store, 1)
    mark = outbox.AcceptedMark(lock)
    told = Told()
    transport = Transport(SendResult(accepted=("a@example.com",), deferred=(("b@example.com", "451 later"),
                                                                            ("c@example.com", "421 busy"))))
    assert outbox.flush(store, transport, TO + ("c@example.com",), Log(), mark, replies=told) == 0
    assert told.deferrals == [("b@example.com", "451 later"), ("c@example.com", "421 busy")]
    reason = "deferred for b@example.com (451 later); c@example.com (421 busy)"
    assert attempts(store) == [("login 1", 1, reason)]
    assert lock.read_bytes() == b" " * LOCK_BYTES  # not accepted by all: nothing to settle
    assert outbox.flush(store, transport, TO + ("c@example.com",), Log(), mark) == 1
    mark.close()
    assert transport.calls[-1][1] == ["b@example.com", "c@example.com"]


def test_a_deferred_recipient_holds_back_no_later_message_for_the_others(store: Store) -> None:
    post(store, 1, 2, 3)
    transport = Transport(SendResult(accepted=("a@example.com",), deferred=(("b@example.com", "452 full"),)))
    assert outbox.flush(store, transport, TO, Log()) == 0
    assert [recipients for _, recipients in transport.calls] == [list(TO), ["a@example.com"], ["a@example.com"]]
    assert [row.subject for row in store.unsent()] == ["login 1", "login 2", "login 3"]  # for b alone
    assert outbox.flush(store, transport, TO, Log()) == 3  # b accepts again: its three, in order, once each
    assert [recipients for _, recipients in transport.calls[3:]] == [["b@example.com"]] * 3


def test_a_message_a_deferred_recipient_still_waits_for_counts_once_for_the_hourly_limit(store: Store) -> None:
    post(store, 1, 2)
    deferring = SendResult(accepted=("a@example.com",), deferred=(("b@example.com", "452 full"),))
    outbox.flush(store, Transport(deferring, SendResult(accepted=("a@example.com",))), TO, Log())
    now = time.time()
    assert len(store.send_times(now)) == 2  # a got both: the limit counts them although b waits
    assert outbox.flush(store, Transport(), TO, Log()) == 2  # b takes them later: not counted again
    assert len(store.send_times(now)) == 2


def test_a_session_failure_still_stops_the_flush(store: Store) -> None:
    post(store, 1, 2)
    transport = Transport(DeliveryError("no answer"))
    with pytest.raises(outbox.SendFailed):
        outbox.flush(store, transport, TO, Log())
    assert len(transport.calls) == 1 and len(store.unsent()) == 2


def test_a_message_every_recipient_already_has_is_marked_sent_without_sending(store: Store) -> None:
    post(store, 1)
    (row,) = store.unsent()
    store.record_deliveries(row, TO, [], NOW)
    transport, log = Transport(), Log()
    assert outbox.flush(store, transport, TO, log) == 1
    assert transport.calls == [] and store.unsent() == [] and log.lines == [("info", "sent: login 1")]


def test_a_message_some_recipient_has_records_who_accepted_the_rest(store: Store) -> None:
    post(store, 1, 2)
    row = store.unsent()[0]
    store.record_deliveries(row, ["a@example.com"], [], NOW)
    transport = Transport(SendResult(accepted=("b@example.com",)))
    assert outbox.flush(store, transport, TO, Log()) == 2
    assert transport.calls[0][1] == ["b@example.com"]
    assert sorted(store.delivered_to(row)) == list(TO)
    assert store.connection.execute("SELECT count(*) FROM deliveries").fetchone()[0] == 2  # none for login 2
