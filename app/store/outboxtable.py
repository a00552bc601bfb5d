"""The store's outbox tables: every message stored, with what it covers, before it is sent, and who accepted it.

app.store.outbox is the send path over these rows; the hourly limit counts a message's first acceptance.
"""

from __future__ import annotations

import json

from app.store.rows import OutboxRow

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ContextManager, List, Sequence, Tuple
    import sqlite3


class OutboxTable:
    """Store's outbox methods (a mixin: the store's connection is self.connection)."""

    connection: "sqlite3.Connection"

    if TYPE_CHECKING:  # the Store's own, which these methods use
        def transaction(self) -> ContextManager[None]: ...

        def put(self, key: str, value: Any) -> None: ...

        def clear_warning(self, key: str) -> None: ...

    def enqueue(self, row: OutboxRow, now: float) -> int:
        """Add a message to send, created at now; returns its id (the store gives it: row.id is not read). Call
        inside the transaction that records what it covers."""
        cursor = self.connection.execute(
            "INSERT INTO outbox (message_id, kind, subject, created, recipients, message, logins) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", (row.message_id, row.kind, row.subject, now,
                                             json.dumps(list(row.recipients)), memoryview(row.message), row.logins))
        assert cursor.lastrowid is not None  # an INSERT's row id
        return cursor.lastrowid

    def unsent(self) -> List[OutboxRow]:
        """Messages not yet accepted, oldest first."""
        return [OutboxRow(int(row[0]), str(row[1]), str(row[2]), str(row[3]), tuple(json.loads(row[4])),
                          bytes(row[5]), int(row[6])) for row in self.connection.execute(
            "SELECT id, message_id, kind, subject, recipients, message, logins FROM outbox "
            "WHERE sent IS NULL ORDER BY id")]

    def mark_sent(self, row: OutboxRow, now: float) -> None:
        """The server accepted row: record it, its send time and the last alert, in one transaction."""
        with self.transaction():
            self.connection.execute("UPDATE outbox SET sent = ?, attempts = attempts + 1, last_error = NULL "
                                    "WHERE id = ?", (now, row.id))
            if not self._accepted_by_some(row):  # else its send was counted when the first recipient took it
                self.connection.execute("INSERT INTO sends (time) VALUES (?)", (now,))
            self.put("last_sent", {"epoch": now, "subject": row.subject})
            self.put("holding", False)
            self.clear_warning("held")

    def delivered_to(self, row: OutboxRow) -> List[str]:
        """The recipients row needs no more attempts for: they accepted it, or refused it for good."""
        return [str(found[0]) for found in self.connection.execute(
            "SELECT recipient FROM deliveries WHERE outbox_id = ?", (row.id,))]

    def record_deliveries(self, row: OutboxRow, accepted: Sequence[str], refused: Sequence[Tuple[str, str]],
                          now: float) -> None:
        """Who accepted row and who refused it for good (5xx), in one transaction. The first acceptance counts
        as its send for the hourly limit: a recipient deferred for days must not lift the limit for the others."""
        with self.transaction():
            if accepted and not self._accepted_by_some(row):
                self.connection.execute("INSERT INTO sends (time) VALUES (?)", (now,))
                self.put("last_sent", {"epoch": now, "subject": row.subject})
            self.connection.executemany(
                "INSERT OR REPLACE INTO deliveries (outbox_id, recipient, state, reply, time) VALUES (?, ?, ?, ?, ?)",
                [(row.id, address, "accepted", "", now) for address in accepted]
                + [(row.id, address, "refused", reply, now) for address, reply in refused])

    def _accepted_by_some(self, row: OutboxRow) -> bool:
        return self.connection.execute("SELECT 1 FROM deliveries WHERE outbox_id = ? AND state = 'accepted'",
                                       (row.id,)).fetchone() is not None

    def mark_failed(self, row: OutboxRow, reason: str) -> None:
        with self.transaction():
            self.connection.execute("UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?",
                                    (reason, row.id))

    def prune_outbox(self, now: float, keep_seconds: float) -> None:
        """Drop the bodies of messages sent long ago (their history rows stay)."""
        self.connection.execute("DELETE FROM outbox WHERE sent IS NOT NULL AND sent < ?", (now - keep_seconds,))
