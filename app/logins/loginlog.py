"""The login log: one line per login, appended by the hook. Read incrementally from a byte offset.

A position is the log file's identity (device, inode) plus a byte offset and an anchor: a hash of the
bytes just before the offset. A different inode means the log was rotated; a size below the offset,
or an anchor that no longer matches, means it was truncated or rewritten.
"""

from __future__ import annotations

import os
from pathlib import Path

from app.system.files import last_lines, open_regular_file
from app.system.record import Record
from app.system.sha import sha256

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO, Iterator, List, Optional

MAX_LINE = 8192  # longer lines are cut for display; the rest is skipped without being held in memory
ANCHOR_BYTES = 64
STALE_PARTIAL_SECONDS = 60  # a line without its newline for this long is treated as complete


class Position(Record):
    device: int
    inode: int
    offset: int
    anchor: str


class Entry(Record):
    """One line of the log: its first MAX_LINE bytes (newline removed), where the next line starts,
    and the anchor at that point."""

    data: bytes
    end: int
    anchor: str


def _digest(tail: bytes) -> str:
    return sha256(tail[-ANCHOR_BYTES:]).hexdigest()[:32]


def anchor_at(handle: BinaryIO, offset: int) -> str:
    """Hash of the ANCHOR_BYTES bytes before offset in handle."""
    start = max(0, offset - ANCHOR_BYTES)
    handle.seek(start)
    return _digest(handle.read(offset - start))


def position_at(handle: BinaryIO, offset: Optional[int] = None) -> Position:
    """The position of the open log at offset (default: its current end)."""
    status = os.fstat(handle.fileno())
    offset = status.st_size if offset is None else offset
    return Position(status.st_dev, status.st_ino, offset, anchor_at(handle, offset))


def read_entries(handle: BinaryIO, start: int, include_partial: bool) -> Iterator[Entry]:
    """Yield the complete lines from byte start; a final line without newline only if include_partial.

    Memory stays bounded by MAX_LINE whatever the line lengths.
    """
    begin = max(0, start - ANCHOR_BYTES)
    handle.seek(begin)
    tail = handle.read(start - begin)
    offset = start
    while True:
        data = handle.readline(MAX_LINE)
        if not data:
            return
        length, last = len(data), data
        if not data.endswith(b"\n") and length == MAX_LINE:
            while True:  # skip the rest of an over-long line
                chunk = handle.readline(MAX_LINE)
                if not chunk:
                    break
                length += len(chunk)
                last = (last + chunk)[-ANCHOR_BYTES:]
                if chunk.endswith(b"\n"):
                    break
        if not last.endswith(b"\n") and not include_partial:
            return
        offset += length
        tail = (tail + last)[-ANCHOR_BYTES:]
        yield Entry(data.rstrip(b"\n"), offset, _digest(tail))


def count_lines_from(handle: BinaryIO, start: int) -> int:
    """Count the lines from byte start to the end, reading in blocks."""
    handle.seek(start)
    count, last = 0, b"\n"
    for block in iter(lambda: handle.read(1 << 16), b""):
        count += block.count(b"\n")
        last = block[-1:]
    return count + (last != b"\n")


def tail_lines(path: Path, count: int, block: int = 64 * 1024) -> List[bytes]:
    """The last count lines of path (for notices), reading only its end; [] when unreadable or not a regular file."""
    try:
        lines = last_lines(path, block)
    except OSError:
        return []
    return [line[:MAX_LINE] for line in lines[-count:]]


def find_predecessor(log: Path, position: Position) -> Optional[Path]:
    """Return the sibling of log (logins.log.1, or logins.log-20261125 from logrotate's dateext) holding the
    lines up to position, if any.

    A renamed log keeps its inode; a copy-then-truncate rotation (logrotate's copytruncate) does not,
    so a sibling whose bytes before position.offset match the anchor counts too. Only regular files count.
    """
    try:
        names = sorted(name for name in os.listdir(str(log.parent))
                       if name.startswith((log.name + ".", log.name + "-")))
    except OSError:
        return None
    for name in names:
        candidate = log.parent / name
        try:
            with open_regular_file(candidate, "rb") as handle:
                status = os.fstat(handle.fileno())
                if (status.st_dev, status.st_ino) == (position.device, position.inode) or (
                        0 < position.offset <= status.st_size
                        and anchor_at(handle, position.offset) == position.anchor):
                    return candidate
        except OSError:
            continue
    return None
