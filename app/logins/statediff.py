"""The state diff: which part of the login log has not been alerted yet.

The store keeps the log position after the last login handled. ``decide`` is pure: from the stored position and what the log looks like now it returns the byte
ranges still to alert, so rotation, truncation and rewrites are plain cases with tests.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from app.system.files import NotRegularFile, file_kind, open_regular_file
from app.logins.loginlog import Position, anchor_at, find_predecessor
from app.system.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional, Tuple


class Segment(Record):
    """Alert every line of path from byte start; device/inode identify the file."""

    path: Path
    start: int
    device: int
    inode: int


class FileFacts(Record):
    """What the log (or a rotated copy) looks like now."""

    path: Path
    device: int
    inode: int
    size: int


SAME_LOGIN_SECONDS = 300  # hooks of one connection fire within seconds; a reused client port takes longer
RECENT_KEPT = 256


def is_repeat(recent: Tuple[Tuple[str, float], ...], connection: str, epoch: float) -> bool:
    """True when connection was already alerted for a login within SAME_LOGIN_SECONDS of epoch.

    Several hooks (~/.ssh/rc, the bash login file, ~/.bashrc) see the same connection; its
    ``$SSH_CONNECTION`` (client address and port, server address and port) names it.
    """
    return any(seen == connection and abs(seen_epoch - epoch) <= SAME_LOGIN_SECONDS for seen, seen_epoch in recent)


def remember(recent: Tuple[Tuple[str, float], ...], connection: str, epoch: float) -> Tuple[Tuple[str, float], ...]:
    """Add an alerted connection, keeping the newest RECENT_KEPT."""
    return (recent + ((connection, epoch),))[-RECENT_KEPT:]


def facts(path: Path) -> Optional[FileFacts]:
    """What the file at path is now; None when there is none. Raises NotRegularFile for a FIFO, device, link..."""
    try:
        status = os.lstat(str(path))
    except OSError:
        return None
    if not stat.S_ISREG(status.st_mode):
        raise NotRegularFile(str(path), file_kind(status.st_mode))
    return FileFacts(path, status.st_dev, status.st_ino, status.st_size)


def decide(position: Optional[Position], log: Optional[FileFacts], anchor_matches: bool,
           predecessor: Optional[FileFacts]) -> Tuple[Tuple[Segment, ...], str]:
    """Return the segments still to alert and why, from the stored position and the files as they are now.

    anchor_matches: whether the bytes before position.offset in log are still the ones alerted.
    predecessor: the rotated file holding the lines up to position, when log was replaced or truncated.
    """
    if log is None and predecessor is None:
        return (), "no log"
    if position is None:
        return ((Segment(log.path, 0, log.device, log.inode),) if log and log.size else ()), "new log"
    if log is not None and (log.device, log.inode) == (position.device, position.inode):
        if log.size >= position.offset and anchor_matches:
            if log.size == position.offset:
                return (), "up to date"
            return (Segment(log.path, position.offset, log.device, log.inode),), "appended"
        reason = "truncated" if log.size < position.offset else "rewritten"
    else:
        reason = "rotated"
    segments = []
    if predecessor is not None and predecessor.size > position.offset:
        segments.append(Segment(predecessor.path, position.offset, predecessor.device, predecessor.inode))
    if log is not None and (log.size or not segments):
        segments.append(Segment(log.path, 0, log.device, log.inode))
    return tuple(segments), reason


def plan(position: Optional[Position], log_path: Path) -> Tuple[Tuple[Segment, ...], str]:
    """Gather the facts about log_path (a stat, and one read of at most 64 bytes) and decide.

    Siblings such as logins.log.1 are looked at only when the log was rotated or truncated.
    """
    log = facts(log_path)
    anchor_matches = True
    if position is not None and log is not None and (log.device, log.inode) == (position.device, position.inode):
        if log.size >= position.offset:
            try:
                with open_regular_file(log_path, "rb") as handle:
                    anchor_matches = anchor_at(handle, position.offset) == position.anchor
            except OSError:
                anchor_matches = True  # unreadable now: reading it later reports the real error
        else:
            anchor_matches = False
    predecessor = None
    if position is not None and not (log is not None and anchor_matches
                                     and (log.device, log.inode) == (position.device, position.inode)):
        found = find_predecessor(log_path, position)
        predecessor = facts(found) if found else None
    return decide(position, log, anchor_matches, predecessor)

