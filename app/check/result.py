"""How a check run ends: what it returns, the outcome it records in the store, and its one-line errors."""

from __future__ import annotations

import time
from pathlib import Path

from app.store import eventstore
from app.store.store import Store
from app.errors import LOG_NOT_REGULAR, LOG_UNREADABLE, UserError
from app.system.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional, Sequence

CHECK = "check"  # the kind of run status reports on
PRUNE_EVERY = 86400.0
SENT_KEPT_SECONDS = 30 * 86400.0  # sent messages' bodies are kept this long (their history rows stay)
SERVER_FAILED = "server_failed"  # meta: when the mail server itself last failed (a run queued behind it does not retry)


class CheckResult(Record):
    sent: int = 0
    seeded: Optional[int] = None  # first run: how many earlier entries were skipped
    notices: int = 0
    reason: str = ""
    no_reserve: bool = False  # the store could not make its reserve for a full disk (too little free space)


def finish(store: Store, history_days: int, channels: Sequence[str] = (), problem: Optional[str] = None) -> None:
    """Record the outcome (problem: what some recipient or channel still waits for); once a day, drop history
    older than history_days, old message bodies and the events every channel is done with."""
    now = time.time()
    prune = not 0 <= now - float(store.get("pruned", 0) or 0) < PRUNE_EVERY  # a clock that jumped back prunes too
    if not prune and problem is None and not any(kind == CHECK for kind, _, _ in store.failures()):
        return  # nothing to record: no transaction (and no fsync) on a login's path
    with store.transaction():
        store.record_run(CHECK, problem, now)
        if prune:
            store.prune_history(now, history_days)
            store.prune_outbox(now, SENT_KEPT_SECONDS)
            eventstore.prune(store, channels, now)
            store.put("pruned", now)


def log_error(log: Path, error: OSError) -> UserError:
    """The one-line error for a login log that cannot be read or is not a regular file."""
    kind = getattr(error, "kind", None)
    if kind:
        return UserError(LOG_NOT_REGULAR.format(path=error.filename or log, kind=kind))
    return UserError(LOG_UNREADABLE.format(path=error.filename or log, reason=error.strerror))
