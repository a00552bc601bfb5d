"""The outbox's on-disk contract, pinned where `make mutation` found it unpinned: the kinds a store keeps across
versions ("notice+stored", "login+routed" are written in the store, so a later version must read them the same),
the accepted mark's exact width beside the run mark in the lock file, and the previous-recipients branch of flush
(a message some recipients already have: only the others get it, and their acceptance is recorded)."""

import email.policy
from email.message import EmailMessage
from pathlib import Path
from typing import List

from app.channels.delivery import SendResult
from app.logins import runmark
from app.logins.runmark import LOCK_BYTES, RUN_MARK_OFFSET
from app.store import outbox
from app.store.store import Store
from support.outboxdoubles import Log, Told

NOW = 1_795_600_000.0
STORED = ("old@example.com", "now@example.com")  # the recipients the message was stored with
CONFIGURED = ["now@example.com", "new@example.com"]  # the recipients configured when it is sent


class Transport:
    """Accepts every message for every recipient; records to whom each one went."""

    def __init__(self) -> None:
        self.calls: List[List[str]] = []

    def send(self, message: bytes, recipients: List[str]) -> SendResult:
        self.calls.append(list(recipients))
        return SendResult(accepted=tuple(recipients))


def message(number: int) -> EmailMessage:
    built = EmailMessage(policy=email.policy.SMTP)
    built["Subject"] = "message {}".format(number)
    built["Message-ID"] = outbox.message_id("identity-{}".format(number), "login", "web1.example.com")
    built.set_content("body {}".format(number))
    return built


def stored_as(store: Store, kind: str, number: int = 1) -> None:
    """A message stored with kind, spelled as the store holds it (a literal: what an earlier version wrote)."""
    outbox.post(store, message(number), STORED, kind, outbox.Record(lambda target: None, 1), now=NOW + number)


# --- kinds, as the store spells them -----------------------------------------------------------------------------

def test_a_notice_stored_with_its_recipients_also_goes_to_those_no_longer_configured(store: Store) -> None:
    stored_as(store, "notice+stored")
    transport = Transport()
    assert outbox.flush(store, transport, CONFIGURED, Log()) == 1
    assert transport.calls == [CONFIGURED + ["old@example.com"]]  # the old address hears of the change too


def test_a_login_routed_to_its_accounts_addresses_goes_to_them_and_to_the_configured_ones(store: Store) -> None:
    stored_as(store, "login+routed")
    transport = Transport()
    assert outbox.flush(store, transport, CONFIGURED, Log()) == 1
    assert transport.calls == [CONFIGURED + ["old@example.com"]]


def test_a_plain_login_goes_only_to_the_recipients_configured_now(store: Store) -> None:
    stored_as(store, "login")
    transport = Transport()
    assert outbox.flush(store, transport, CONFIGURED, Log()) == 1
    assert transport.calls == [CONFIGURED]


def test_the_kinds_that_keep_their_stored_recipients_are_spelled_as_the_store_holds_them() -> None:
    assert (outbox.ALSO_STORED, outbox.ROUTED) == ("notice+stored", "login+routed")


# --- the accepted mark beside the run mark ----------------------------------------------------------------------

def test_the_accepted_mark_is_exactly_as_wide_as_the_space_before_the_run_mark() -> None:
    assert outbox.MARK_BYTES == RUN_MARK_OFFSET


def test_noting_an_accepted_message_leaves_the_run_mark_after_it_intact(store: Store, tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    kept = runmark.encode({"position": {"offset": 123}})
    lock.write_bytes(b" " * RUN_MARK_OFFSET + kept)
    stored_as(store, "login")
    (row,) = store.unsent()
    mark = outbox.AcceptedMark(lock)
    mark.note(row)
    mark.close()
    assert lock.read_bytes()[RUN_MARK_OFFSET:] == kept
    assert len(lock.read_bytes()) == LOCK_BYTES
    again = outbox.AcceptedMark(lock)  # the next run reads the mark back: the message is sent
    again.settle(store)
    again.close()
    assert store.unsent() == []


# --- the previous-recipients branch of flush ---------------------------------------------------------------------

def test_a_message_an_earlier_attempt_delivered_to_some_goes_to_the_rest_alone_and_records_them(store: Store) -> None:
    stored_as(store, "login", 1)
    stored_as(store, "login", 2)
    first = store.unsent()[0]
    store.record_deliveries(first, ["now@example.com"], [], NOW)  # an earlier attempt: one recipient took it
    transport, log = Transport(), Log()
    assert outbox.flush(store, transport, CONFIGURED, log) == 2
    assert transport.calls == [["new@example.com"], CONFIGURED]  # never the same message twice to anyone
    assert sorted(store.delivered_to(first)) == sorted(CONFIGURED)  # the rest's acceptance is recorded
    assert store.unsent() == [] and log.lines == [("info", "sent: message 1"), ("info", "sent: message 2")]


def test_a_mark_cut_to_its_width_still_settles_a_message_whose_id_is_longer(store: Store, tmp_path: Path) -> None:
    long_name = ".".join(["WEB1" + "X" * 59] * 3 + ["X" * 61])  # a 253-byte EHLO name, upper case as some are
    built = message(1)
    built.replace_header("Message-ID", outbox.message_id("identity-1", "login", long_name))
    outbox.post(store, built, STORED, "login", outbox.Record(lambda target: None, 1), now=NOW)
    (row,) = store.unsent()
    lock = tmp_path / "lock"
    lock.write_bytes(b"")
    mark = outbox.AcceptedMark(lock)
    mark.note(row)
    mark.close()
    noted = lock.read_bytes()[:RUN_MARK_OFFSET]
    assert noted.endswith(b"X") and noted.decode() in "{} {}".format(row.id, row.message_id)  # cut, not padded
    again = outbox.AcceptedMark(lock)
    again.settle(store)
    again.close()
    assert store.unsent() == []


# --- every recipient deferred -------------------------------------------------------------------------------------

class DeferringAll(Transport):
    """Every recipient answers 4xx at RCPT: the transport raises AllDeferred with what each one said."""

    def send(self, message: bytes, recipients: List[str]) -> SendResult:
        from app.channels.delivery import AllDeferred

        self.calls.append(list(recipients))
        raise AllDeferred("every recipient deferred", SendResult(deferred=tuple(
            (address, "451 try later") for address in recipients)))


def test_a_message_every_recipient_defers_stays_unsent_for_each_of_them_and_each_is_told(store: Store) -> None:
    stored_as(store, "login", 1)
    stored_as(store, "login", 2)
    told = Told()
    transport = DeferringAll()
    assert outbox.flush(store, transport, CONFIGURED, Log(), replies=told) == 0
    assert transport.calls == [CONFIGURED]  # the second message waits behind the first for both: not tried
    assert told.deferrals == [(address, "451 try later") for address in CONFIGURED] and told.refusals == []
    assert list(store.connection.execute("SELECT subject, attempts, last_error FROM outbox ORDER BY id")) == [
        ("message 1", 1, "deferred for now@example.com (451 try later); new@example.com (451 try later)"),
        ("message 2", 1, "deferred for now@example.com (451 try later); new@example.com (451 try later)")]
    assert store.delivered_to(store.unsent()[0]) == []
