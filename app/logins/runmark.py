"""The run mark: what the last check knew, kept in the lock file, outside the store.

The lock file's first MARK_BYTES hold the accepted mark (app.store.outbox.AcceptedMark); the next
RUN_MARK_BYTES hold this one, as JSON padded with blanks: the log position after the last login handled,
whether a run ever seeded and when the position last moved, and the logins a run alerted while the store could
not record them (a full disk). The last run's outcome is kept beside it in check.outcome (app.store.outcome).
The lock file is allocated once (LOCK_BYTES, one disk block), so keeping the mark takes one pwrite and no new
block: it survives a lost store and works on a full disk.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from app.logins.loginlog import Position
from app.system.files import open_regular

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

RUN_MARK_OFFSET = 256  # after the accepted mark (outbox.MARK_BYTES)
RUN_MARK_BYTES = 768
LOCK_BYTES = RUN_MARK_OFFSET + RUN_MARK_BYTES
AHEAD = "ahead"  # the log position emailed up to while the store could not record it (app.check.unrecorded)
UNRECORDED_KEPT = 6  # logins alerted while the store could not record them (connection, epoch)


def parse(data: bytes) -> Dict[str, Any]:
    """The run mark from its bytes ({} when blank or damaged: never trusted beyond its shape)."""
    try:
        mark = json.loads(data.rstrip(b" \0").decode("utf-8") or "{}")
    except ValueError:
        return {}
    return mark if isinstance(mark, dict) else {}


def encode(mark: Dict[str, Any]) -> bytes:
    """The bytes of mark, padded to RUN_MARK_BYTES; the oldest connections are dropped to fit. Raises ValueError
    when it cannot fit (never written cut: a cut mark would read as none)."""
    mark = dict(mark)
    while True:
        data = json.dumps(mark, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")
        if len(data) <= RUN_MARK_BYTES:
            return data.ljust(RUN_MARK_BYTES, b" ")
        if not mark.get("unrecorded"):
            raise ValueError("the run mark does not fit in {} bytes".format(RUN_MARK_BYTES))
        mark["unrecorded"] = mark["unrecorded"][1:]


def position(mark: Dict[str, Any], key: str = "position") -> Optional[Position]:
    """The log position the mark holds under key ("position": the store's last; AHEAD: emailed past it), or None."""
    value: Any = mark.get(key)  # JSON: checked by converting
    try:
        return Position(int(value[0]), int(value[1]), int(value[2]), str(value[3]))
    except (TypeError, ValueError, IndexError, KeyError):
        return None


def furthest(mark: Dict[str, Any]) -> Optional[Position]:
    """The furthest position the mark knows: emailed ahead of the store, else the store's last."""
    return position(mark, AHEAD) or position(mark)


def unrecorded(mark: Dict[str, Any]) -> List[Tuple[str, float]]:
    """The (connection, epoch) pairs alerted while the store could not record them."""
    pairs = []
    for item in mark.get("unrecorded") or []:
        try:
            pairs.append((str(item[0]), float(item[1])))
        except (TypeError, ValueError, IndexError):
            continue
    return pairs


def read_file(lock_file: Path) -> Dict[str, Any]:
    """The run mark of the lock file at lock_file ({} when missing or unreadable); never blocks on a FIFO."""
    try:
        descriptor = open_regular(lock_file, os.O_RDONLY)
    except OSError:
        return {}
    try:
        return parse(os.pread(descriptor, RUN_MARK_BYTES, RUN_MARK_OFFSET))
    except OSError:
        return {}
    finally:
        os.close(descriptor)


class RunMark:
    """The run mark of the lock file this run holds open (descriptor, not closed here)."""

    def __init__(self, descriptor: int) -> None:
        self.descriptor = descriptor
        try:
            self.data = os.pread(descriptor, RUN_MARK_BYTES, RUN_MARK_OFFSET)
        except OSError:
            self.data = b""
        self.mark = parse(self.data)

    def keep(self, **changes: Any) -> bool:
        """Change the mark (a value None removes its key) and write it; False when it could not be written."""
        mark = dict(self.mark)
        for key, value in changes.items():
            if value is None:
                mark.pop(key, None)
            else:
                mark[key] = value
        try:
            data = encode(mark)
            if data == self.data:
                return True
            os.pwrite(self.descriptor, data, RUN_MARK_OFFSET)
        except (OSError, ValueError):
            return False
        self.mark, self.data = parse(data), data
        return True

    def writable(self) -> bool:
        """Whether the mark can be written now (its bytes written again in place: no new block needed)."""
        try:
            os.pwrite(self.descriptor, encode(self.mark), RUN_MARK_OFFSET)
        except (OSError, ValueError):
            return False
        return True

    def keep_position(self, where: Optional[Position]) -> bool:
        """The store's log position after a run, and when it last moved (the last run's outcome is kept outside the
        store by app.store.outcome)."""
        value = None if where is None else list(where)
        if self.mark.get("seeded") and self.mark.get("position") == value:
            return True  # unchanged: no write on a quiet run
        return self.keep(position=value, seeded=True, time=round(time.time(), 3))

    def keep_sent(self, where: Optional[Position], sent: List[Tuple[str, float]]) -> bool:
        """Logins handled without the store: the log position after them (None: none from the log) and the
        (connection, epoch) pairs they sent, in one write."""
        changes: Dict[str, Any] = {}
        if where is not None:
            changes[AHEAD] = list(where)
        if sent:
            pairs = unrecorded(self.mark) + list(sent)
            changes["unrecorded"] = [list(pair) for pair in pairs[-UNRECORDED_KEPT:]]
        return self.keep(**changes) if changes else True
