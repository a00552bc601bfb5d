"""The rows the store hands out: a message of the outbox, what is known of one login source, a kind of run.

Plain data, no SQLite: the pure decisions (app.check.policy) take them without importing the store.
"""

from typing import NamedTuple, Optional, Tuple


Run = Tuple[str, Optional[float], Optional[float], Optional[str]]  # kind, last success, last failure, its reason


class OutboxRow(NamedTuple):
    """One message of the outbox, as enqueued."""

    id: int
    message_id: str
    kind: str
    subject: str
    recipients: Tuple[str, ...]
    message: bytes
    logins: int


class Seen(NamedTuple):
    """What is known of one (user, source address)."""

    first: float
    last: float
    logins: int  # logins from it so far (the sources table's count)
