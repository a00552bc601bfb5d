"""The store: one SQLite file with everything ``check`` remembers, changed only in transactions.

Log position, outbox (app.store.outboxtable), send times of the hourly limit, recent connections, known
sources, sessions alerted, run outcomes and the login history (app.store.historytable) live in ``store.db``,
its tables made by app.store.schema's migrations. It uses a rollback journal in PERSIST mode, not WAL: that
works on NFS home directories, and a journal that keeps its blocks plus free pages kept inside the file (the
reserve) let commits go on when the disk is full.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path

from app.logins.statediff import RECENT_KEPT
from app.errors import NO_SQLITE, STORE_NOT_REGULAR, STORE_UNWRITABLE, UserError
from app.system.files import ensure_private_dir, open_regular
from app.logins.loginlog import Position
from app.store.historytable import HistoryTable
from app.store.outboxtable import OutboxTable
from app.store.schema import MIGRATIONS, SCHEMA_VERSION
from app.store.rows import Run, Seen
from app.rules.hourly import recent_sends

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

try:
    # The C module that the sqlite3 package re-exports, with the same classes: the package adds only the
    # DB-API's datetime adapters, which the store never uses, and importing datetime for them costs about
    # 2 ms of every login. (The package itself needs this module: without it there is no SQLite at all.)
    import _sqlite3 as sqlite3
    from _sqlite3 import DatabaseError as DatabaseError, OperationalError as OperationalError  # re-exported
except ImportError:  # a Python built without SQLite: Store.open says so in one line
    sqlite3 = None  # type: ignore[assignment]

    class DatabaseError(Exception):  # type: ignore[no-redef]
        """Stands in for sqlite3.DatabaseError where there is no sqlite3."""

    class OperationalError(DatabaseError):  # type: ignore[no-redef]
        """Stands in for sqlite3.OperationalError where there is no sqlite3."""

RESERVE_PAGES = 96  # free pages kept in the file: a few dozen alerts can still be recorded on a full disk
JOURNAL_RESERVE = 256 * 1024  # the persisted journal is grown to this once, so a commit needs no new blocks
BUSY_SECONDS = 30.0


class Store(HistoryTable, OutboxTable):
    """An open store. Every change runs inside ``with store.transaction():``."""

    def __init__(self, connection: "sqlite3.Connection", path: Path) -> None:
        self.connection = connection
        self.path = path
        self._later: List[Callable[["Store"], object]] = []  # see later()

    # --- opening ---------------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path, read_only: bool = False) -> "Store":
        """Open (creating 0600 if missing) and migrate the store at path; read_only: as it is, never written.

        Raises UserError (exit 2) when it is not a regular file of ours or cannot be written, or this Python
        has no sqlite3, and DatabaseError when the file is not a usable database (the caller re-seeds).
        """
        if sqlite3 is None:
            raise UserError(NO_SQLITE.format(python=sys.executable))
        if not read_only:
            ensure_private_dir(path.parent)
        try:
            descriptor = open_regular(path, os.O_RDONLY if read_only else os.O_RDWR | os.O_CREAT)
            try:
                if not read_only and os.fstat(descriptor).st_mode & 0o077:
                    os.fchmod(descriptor, 0o600)  # ours, so made private rather than refused
            finally:
                os.close(descriptor)
        except OSError as error:
            kind = getattr(error, "kind", None)  # app.system.files.NotRegularFile names what it found
            if kind:
                raise UserError(STORE_NOT_REGULAR.format(path=path, kind=kind)) from None
            raise UserError(STORE_UNWRITABLE.format(path=path, reason=error.strerror or error)) from None
        if read_only:
            from urllib.parse import quote

            connection = sqlite3.connect("file:{}?mode=ro".format(quote(str(path))), uri=True,
                                         timeout=BUSY_SECONDS, isolation_level=None)
            return cls(connection, path)
        connection = sqlite3.connect(str(path), timeout=BUSY_SECONDS, isolation_level=None)
        store = cls(connection, path)
        try:
            connection.execute("PRAGMA journal_mode=PERSIST").fetchone()
            connection.execute("PRAGMA synchronous=FULL")
            store._migrate()
        except BaseException:
            connection.close()
            raise
        return store

    def _migrate(self) -> None:
        version = self.connection.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise DatabaseError("schema version {} is newer than this ssh_alert knows ({})".format(
                version, SCHEMA_VERSION))
        if version < SCHEMA_VERSION:
            with self.transaction():
                for script in MIGRATIONS[version:]:
                    for statement in script.split(";"):
                        if statement.strip():
                            self.connection.execute(statement)
                self.connection.execute("PRAGMA user_version = {:d}".format(SCHEMA_VERSION))

    def close(self) -> None:
        """Make the changes later() holds (best effort: they can be lost), then close."""
        if self._later:
            try:
                with self.transaction():
                    pass
            except DatabaseError:
                pass
        self.connection.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic change: committed at the end of the block, rolled back if it raises. It begins with the
        changes later() holds."""
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            for change in self._later:
                change(self)
            yield
        except BaseException:
            # SQLite ends the transaction itself on some errors (SQLITE_FULL): a ROLLBACK then would replace
            # the real cause with "cannot rollback - no transaction is active".
            if self.connection.in_transaction:
                self.connection.execute("ROLLBACK")
            raise
        try:
            self.connection.execute("COMMIT")
        except BaseException:
            if self.connection.in_transaction:
                self.connection.execute("ROLLBACK")
            raise
        self._later.clear()

    def later(self, change: Callable[["Store"], object]) -> None:
        """Make change (a cache or a clean-up, safe to lose or to repeat) in the next transaction, or at close:
        no commit of its own, whose fsyncs would delay a login's alert."""
        self._later.append(change)

    @property
    def is_new(self) -> bool:
        """True until the first seed: no log position was ever stored."""
        return self.get("seeded") is None

    # --- the reserve for a full disk --------------------------------------------------------------------

    def ensure_reserve(self) -> bool:
        """Keep RESERVE_PAGES free pages in the file and a journal of JOURNAL_RESERVE bytes.

        Returns False when the disk has no room to re-make the reserve (it is then being used up).
        """
        free, page = self.free_pages()
        journal = Path(str(self.path) + "-journal")
        try:
            journal_size = journal.stat().st_size
        except OSError:
            journal_size = 0
        if free >= RESERVE_PAGES and journal_size >= JOURNAL_RESERVE:
            return True
        try:
            with self.transaction():  # pages taken then given back: they stay in the file as free pages
                self.connection.execute("INSERT INTO reserve (filler) VALUES (zeroblob(?))",
                                        (max(RESERVE_PAGES * page, JOURNAL_RESERVE),))
            with self.transaction():  # rewriting them makes the journal hold them all: it keeps that size
                self.connection.execute("UPDATE reserve SET filler = zeroblob(length(filler))")
                self.connection.execute("DELETE FROM reserve")
        except OperationalError:
            return False
        return True

    def free_pages(self) -> Tuple[int, int]:
        """(free pages kept in the file, the page size in bytes): how much of the reserve is left."""
        free = self.connection.execute("PRAGMA freelist_count").fetchone()[0]
        page = self.connection.execute("PRAGMA page_size").fetchone()[0]
        return int(free), int(page)

    # --- meta: small named values, JSON ----------------------------------------------------------------

    def get(self, key: str, default: Any = None) -> Any:
        row = self.connection.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def put(self, key: str, value: Any) -> None:
        self.connection.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                                (key, json.dumps(value, sort_keys=True)))

    def warn_once(self, key: str) -> bool:
        """True the first time key is warned about since clear_warning(key): the caller logs it then."""
        name = "warned:" + key
        if self.get(name):
            return False
        with self.transaction():
            self.put(name, True)
        return True

    def clear_warning(self, key: str) -> None:
        self.connection.execute("DELETE FROM meta WHERE key = ?", ("warned:" + key,))

    def position(self) -> Optional[Position]:
        """The log position after the last login handled (None: the log did not exist at the seed)."""
        value = self.get("position")
        return None if value is None else Position(int(value[0]), int(value[1]), int(value[2]), str(value[3]))

    def set_position(self, position: Optional[Position]) -> None:
        self.put("position", None if position is None else list(position))
        self.put("seeded", True)

    # --- recent connections (one alert per connection across its hooks) ----------------------------------

    def recent(self) -> Tuple[Tuple[str, float], ...]:
        """The newest RECENT_KEPT (connection, login epoch) pairs, oldest first."""
        rows = self.connection.execute("SELECT connection, epoch FROM recent ORDER BY id DESC LIMIT ?",
                                       (RECENT_KEPT,)).fetchall()
        return tuple((str(connection), float(epoch)) for connection, epoch in reversed(rows))

    def add_recent(self, pairs: Sequence[Tuple[str, float]]) -> None:
        self.connection.executemany("INSERT INTO recent (connection, epoch) VALUES (?, ?)", pairs)
        self.connection.execute("DELETE FROM recent WHERE id <= (SELECT max(id) FROM recent) - ?", (RECENT_KEPT,))

    # --- known sources -----------------------------------------------------------------------------------

    def seen(self, user: str, ip: str) -> Optional[Seen]:
        row = self.connection.execute("SELECT first, last, count FROM sources WHERE user = ? AND ip = ?",
                                      (user, ip)).fetchone()
        return None if row is None else Seen(float(row[0]), float(row[1]), int(row[2]))

    def put_sources(self, sources: Dict[Tuple[str, str], Seen]) -> None:
        self.connection.executemany(
            "INSERT OR REPLACE INTO sources (user, ip, first, last, count) VALUES (?, ?, ?, ?, ?)",
            [(user, ip) + tuple(seen) for (user, ip), seen in sources.items()])

    # --- the hourly limit ----------------------------------------------------------------------------------

    def send_times(self, now: float) -> Tuple[float, ...]:
        """Send times of the hourly window (app.rules.hourly.recent_sends: a time in the future, from a clock that ran
        ahead, has expired); the others are forgotten in the next transaction (later())."""
        times = tuple(float(row[0]) for row in self.connection.execute("SELECT time FROM sends ORDER BY time"))
        kept = recent_sends(times, now)
        expired = [(sent,) for sent in sorted(set(times) - set(kept))]
        if expired:
            self.later(lambda store: store.connection.executemany("DELETE FROM sends WHERE time = ?", expired))
        return kept

    # --- sessions no hook saw --------------------------------------------------------------------------

    def sessions_alerted(self) -> Tuple[str, ...]:
        return tuple(row[0] for row in self.connection.execute("SELECT key FROM sessions_alerted ORDER BY key"))

    def add_session_alerted(self, key: str) -> None:
        self.connection.execute("INSERT OR IGNORE INTO sessions_alerted (key) VALUES (?)", (key,))

    def keep_sessions(self, live: Sequence[str]) -> None:
        """Forget alerted sessions that no longer run."""
        for key in set(self.sessions_alerted()) - set(live):
            self.connection.execute("DELETE FROM sessions_alerted WHERE key = ?", (key,))

    # --- run outcomes (status) ----------------------------------------------------------------------------

    def record_run(self, kind: str, reason: Optional[str], now: Optional[float] = None) -> None:
        """Record that a run of kind succeeded (reason None) or failed; a failure stays until a success."""
        now = time.time() if now is None else now
        self.connection.execute("INSERT OR IGNORE INTO runs (kind) VALUES (?)", (kind,))
        if reason is None:
            self.connection.execute("UPDATE runs SET ok = ?, failed = NULL, reason = NULL WHERE kind = ?",
                                    (now, kind))
        else:
            self.connection.execute("UPDATE runs SET failed = ?, reason = ? WHERE kind = ?", (now, reason, kind))

    def runs(self) -> List[Run]:
        """(kind, last success, last failure, its reason) of every kind of run recorded."""
        return [(str(kind), ok, failed, reason) for kind, ok, failed, reason in self.connection.execute(
            "SELECT kind, ok, failed, reason FROM runs ORDER BY kind")]

    def failures(self) -> List[Tuple[str, float, str]]:
        """(kind, when, reason) of every kind of run whose last outcome was a failure."""
        return [(str(kind), float(failed), str(reason)) for kind, failed, reason in self.connection.execute(
            "SELECT kind, failed, reason FROM runs WHERE failed IS NOT NULL ORDER BY failed")]


@contextlib.contextmanager
def opened(path: Path, read_only: bool = False) -> Iterator[Store]:
    """Store.open for a with-block; closes the store at its end."""
    store = Store.open(path, read_only)
    try:
        yield store
    finally:
        store.close()
