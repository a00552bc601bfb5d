"""The outbox: every message is stored, with what it covers, before it is sent; the one send path.

``post`` writes the message and the record of what it covers (log position, history, sources, recent
connections, alerted sessions) in one transaction. ``flush`` sends every unsent message in order (the
same bytes and Message-ID on every attempt) and marks each one sent in one more transaction. A crash
before the server's reply sends it on the next run; a crash after the reply resends the same
Message-ID, so the rare duplicate is recognisable as one.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from app.store.eventstore import add_events
from app.store.rows import OutboxRow
from app.store.store import Store
from app.system.files import open_regular
from app.system.record import Record as TupleRecord  # this module names its own record Record
from app.system.sha import sha256

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Optional, Sequence, Tuple, TypeAlias

    from typing import Protocol

    from app.channels.delivery import SendResult

    class Message(Protocol):
        """A message to keep: email.message.EmailMessage, or app.check.wire.WireMessage (a plain alert's bytes)."""

        def as_bytes(self) -> bytes: ...

        def __getitem__(self, name: str) -> Any: ...

    class Transport(Protocol):
        """How a message leaves (app.channels.delivery's transports)."""

        def send(self, message: bytes, recipients: Sequence[str]) -> SendResult: ...

        def close(self) -> None: ...

    class Log(Protocol):
        """Where a flush says what it sent or what was refused (the operations log)."""

        def info(self, message: str, /) -> None: ...

        def error(self, message: str, /) -> None: ...

    class Replies(Protocol):
        """Told, during a flush, of each recipient that refused for good or deferred, and of each message every
        recipient took once the mark noted it (app.check.sender)."""

        def refused(self, address: str, reply: str) -> None: ...

        def deferred(self, address: str, reply: str) -> None: ...

        def accepted(self, row: OutboxRow) -> None: ...

EventRow: TypeAlias = "Tuple[Dict[str, Any], bool, str]"  # (event, alert, connection): app.store.eventstore.add_events

MARK_BYTES = 256
ALSO_STORED = "notice+stored"  # a notice that also goes to the recipients stored with it (a config change's old ones)
ROUTED = "login+routed"  # a login alert that also goes to its account's [users] addresses, stored with it


class Record(TupleRecord):
    """What a message (or a batch of logins that sends none) covers, committed with it."""

    apply: Callable[[Store], None]  # writes position, history, sources... inside the transaction
    logins: int = 0  # how many logins the message reports (status counts pending logins from it)
    events: Sequence[EventRow] = ()  # the same logins' (or notice's) events for the push channels


class SendFailed(Exception):
    """A message was not accepted; it stays in the outbox. str() is the transport's one-line reason."""


def message_id(identity: str, kind: str, domain: str) -> str:
    """A Message-ID derived from what the message reports (a login's identity), so every copy carries it;
    domain is the EHLO name (app.channels.mailname: an FQDN or an address literal, never with a trailing dot)."""
    digest = sha256(identity.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return "<{}.{}@{}>".format(digest, kind, domain.strip().rstrip(".") or "localhost.invalid")


def wire_bytes(message: "Message") -> bytes:
    """The message as it goes over SMTP, by its own policy (SMTP, or SMTPUTF8): CRLF line ends; sendmail
    transports convert."""
    return message.as_bytes()


def enqueue(store: Store, message: "Message", recipients: Sequence[str], kind: str, logins: int,
            now: float) -> None:
    """Add message to the outbox; call inside the transaction that records what it covers."""
    store.enqueue(OutboxRow(0, str(message["Message-ID"]), kind, str(message["Subject"]), tuple(recipients),
                            wire_bytes(message), logins), now)


def post(store: Store, message: Optional["Message"], recipients: Sequence[str], kind: str,
         record: Record, now: Optional[float] = None) -> None:
    """In one transaction: add message to the outbox (when there is one), record's events to the event outbox
    (app.store.eventstore) and apply record."""
    now = time.time() if now is None else now
    with store.transaction():
        if message is not None:
            enqueue(store, message, recipients, kind, record.logins, now)
        if record.events:
            add_events(store, record.events, now)
        record.apply(store)


class AcceptedMark:
    """The one message the server accepted but the store may not have recorded yet, noted in the lock file.

    Marking a message sent in the store takes a transaction (about half a millisecond, with fsync); a
    kill in that window would resend it. One pwrite of its id into the lock file (held by this run,
    allocated at the seed) takes microseconds and needs no new disk block; the next run reads it first
    and records the message as sent instead of sending it again.
    """

    def __init__(self, lock_file: Path) -> None:
        from app.logins.runmark import LOCK_BYTES

        self.descriptor = open_regular(lock_file, os.O_RDWR)
        try:
            size = os.fstat(self.descriptor).st_size
            if size < LOCK_BYTES:  # its block (and the run mark's), while the disk has room
                os.pwrite(self.descriptor, b" " * (LOCK_BYTES - size), size)
        except OSError:
            pass

    def note(self, row: OutboxRow) -> None:
        try:
            os.pwrite(self.descriptor, _mark_text(row).ljust(MARK_BYTES, b" "), 0)
        except OSError:
            pass  # the store's own record follows at once: only a kill right now would resend

    def settle(self, store: Store) -> None:
        """Record as sent the unsent message the mark names (a run killed after the server's reply)."""
        noted = os.pread(self.descriptor, MARK_BYTES, 0).rstrip(b" \0")
        if noted:
            for row in store.unsent():
                if _mark_text(row) == noted:
                    store.mark_sent(row, time.time())

    def close(self) -> None:
        os.close(self.descriptor)


def _mark_text(row: OutboxRow) -> bytes:
    return "{} {}".format(row.id, row.message_id).encode("utf-8", "replace")[:MARK_BYTES]


def flush(store: Store, transport: "Transport", recipients: Sequence[str], log: "Log",
          mark: Optional[AcceptedMark] = None, replies: Optional["Replies"] = None) -> int:
    """Send every unsent message, oldest first, to recipients; returns how many every recipient now has.

    recipients are the configured ones now, not those of when the message was stored: a user who fixed
    a refused address gets the pending alerts at the fixed one. Each recipient that accepted a message
    is never sent it again; one that refused it for good (5xx) is not retried for it, and replies.refused(address,
    reply) is told. Recipients are independent: one that answers 4xx (a full mailbox) is told to
    replies.deferred(address, reply), gets nothing more in this flush (so it gets its messages in order later) and
    keeps the message unsent for it alone; the others get every message now. A message every recipient took
    is noted in mark, then replies.accepted(row) is told. Raises SendFailed when the session itself failed
    (that message and those after it stay unsent).
    """
    from app.channels.delivery import AllDeferred, DeliveryError

    sent = 0
    waiting: Dict[str, str] = {}  # address -> reply: deferred in this flush, tried again by the next one
    for row in store.unsent():
        done = set(store.delivered_to(row))
        targets = list(recipients) + ([address for address in row.recipients if address not in recipients]
                                      if row.kind in (ALSO_STORED, ROUTED) else [])
        pending = [address for address in targets if address not in done and address not in waiting]
        held = [address for address in targets if address not in done and address in waiting]
        if pending:
            try:
                result = transport.send(row.message, pending)
            except AllDeferred as deferral:
                result = deferral.result
            except DeliveryError as error:
                store.mark_failed(row, str(error))
                raise SendFailed(str(error)) from None
            if mark is not None and not result.deferred and not held:
                mark.note(row)
                if replies is not None:  # noted: a waiting hook goes on before the store's "sent" commit and its fsyncs
                    replies.accepted(row)
            if done or result.refused or result.deferred or held:
                store.record_deliveries(row, result.accepted, result.refused, time.time())
            for address, reply in result.refused:
                log.error("{} refused {} for good: {}".format(address, row.subject, reply))
                if replies is not None:
                    replies.refused(address, reply)
            for address, reply in result.deferred:
                waiting[address] = reply
                held.append(address)
                if replies is not None:
                    replies.deferred(address, reply)
        if held:
            store.mark_failed(row, "deferred for {}".format("; ".join(
                "{} ({})".format(address, waiting[address]) for address in held)))
            continue
        store.mark_sent(row, time.time())
        log.info("sent: {}".format(row.subject))
        sent += 1
    return sent
