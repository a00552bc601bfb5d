"""The rows the store hands out: a message of the outbox, what is known of one login source, a kind of run.

Plain data, no SQLite: the pure decisions (app.check.policy) take them without importing the store.
"""

from __future__ import annotations

from app.system.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional, Tuple, TypeAlias


# kind, last success, last failure, its reason
Run: TypeAlias = "Tuple[str, Optional[float], Optional[float], Optional[str]]"


class OutboxRow(Record):
    """One message of the outbox, as enqueued."""

    id: int
    message_id: str
    kind: str
    subject: str
    recipients: Tuple[str, ...]
    message: bytes
    logins: int


class Seen(Record):
    """What is known of one (user, source address)."""

    first: float
    last: float
    logins: int  # logins from it so far (the sources table's count)
