"""Read (and, for time travel, change) what check recorded in the store, as the tests need it."""

from typing import List, Optional, Tuple

from app.store import history
from app.store.rows import OutboxRow, Seen
from app.store.store import opened
from app.logins.loginlog import Position
from app.system.paths import Paths


def recorded(paths: Paths) -> List[history.HistoryEntry]:
    """Every login in the history, oldest first."""
    with opened(paths.store_file) as store:
        return list(history.read(store))


def failures(paths: Paths) -> List[Tuple[str, float, str]]:
    with opened(paths.store_file) as store:
        return store.failures()


def position(paths: Paths) -> Optional[Position]:
    with opened(paths.store_file) as store:
        return store.position()


def seen(paths: Paths, user: str, ip: str) -> Optional[Seen]:
    with opened(paths.store_file) as store:
        return store.seen(user, ip)


def holding(paths: Paths) -> bool:
    with opened(paths.store_file) as store:
        return bool(store.get("holding"))


def unsent(paths: Paths) -> List[OutboxRow]:
    with opened(paths.store_file) as store:
        return store.unsent()


def shift_send_times(paths: Paths, seconds: float) -> None:
    """Move every recorded send time by seconds (negative: into the past), as if the clock had moved."""
    with opened(paths.store_file) as store, store.transaction():
        store.connection.execute("UPDATE sends SET time = time + ?", (seconds,))
