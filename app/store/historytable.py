"""The store's login history table: one row per login check handled (app.store.history reads it)."""

from __future__ import annotations

import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Iterator, List, Optional, Sequence, Tuple
    import sqlite3


class HistoryTable:
    """Store's history methods (a mixin: the store's connection is self.connection)."""

    connection: "sqlite3.Connection"

    def add_history(self, rows: Sequence[Tuple[str, Optional[float], str, str]], now: Optional[float] = None) -> None:
        """Insert (log_key, epoch or None when not known, canonical address, entry JSON) rows, stored at now
        (default: the current time); a log_key already there is kept."""
        stored = time.time() if now is None else now
        self.connection.executemany("INSERT OR IGNORE INTO history (log_key, epoch, address, entry, stored) "
                                    "VALUES (?, ?, ?, ?, ?)", [tuple(row) + (stored,) for row in rows])

    def history(self, since: Optional[float] = None, address: Optional[str] = None) -> Iterator[str]:
        """The entry JSON of recorded logins in the order check handled them, narrowed by time (a login of unknown
        time by when it was recorded) and exact address."""
        clauses: List[str] = []
        values: List[Any] = []
        if since is not None:  # a login whose time is not known counts from when it was recorded
            clauses.append("(epoch >= ? OR (epoch IS NULL AND stored >= ?))")
            values += [since, since]
        if address is not None:
            clauses.append("address = ?")
            values.append(address)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        for row in self.connection.execute("SELECT entry FROM history" + where + " ORDER BY id", values):
            yield str(row[0])

    def history_between(self, low: float, high: float) -> List[Tuple[int, str]]:
        """(row id, entry JSON) of the logins with low <= epoch <= high, oldest first."""
        return [(int(row[0]), str(row[1])) for row in self.connection.execute(
            "SELECT id, entry FROM history WHERE epoch BETWEEN ? AND ? ORDER BY epoch, id", (low, high))]

    def replace_history_entry(self, row: int, entry: str) -> None:
        self.connection.execute("UPDATE history SET entry = ? WHERE id = ?", (entry, row))

    def latest_history(self, count: int) -> List[str]:
        """The entry JSON of the count most recent logins, oldest first."""
        rows = self.connection.execute("SELECT entry FROM history ORDER BY id DESC LIMIT ?", (count,)).fetchall()
        return [str(row[0]) for row in reversed(rows)]

    def count_history(self) -> int:
        return int(self.connection.execute("SELECT count(*) FROM history").fetchone()[0])

    def prune_history(self, now: float, days: int) -> None:
        """Forget logins, and sources last seen, more than days ago: the store's size stays bounded. A login whose
        time is not known (NULL) is forgotten days after it was recorded, not as if it were from 1970."""
        self.connection.execute("DELETE FROM history WHERE epoch < ? OR (epoch IS NULL AND stored < ?)",
                                (now - days * 86400.0, now - days * 86400.0))
        self.connection.execute("DELETE FROM sources WHERE last < ?", (now - days * 86400.0,))
