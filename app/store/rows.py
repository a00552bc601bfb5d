"""The rows the store hands out: a message of the outbox, and what is known of one login source.

Plain data, no SQLite: the pure decisions (app.check.policy) take them without importing the store.
"""

from typing import NamedTuple, Tuple


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
