"""The state diff: which part of the login log has not been alerted yet.

The state file (JSON, written atomically) stores the log position after the last delivered alert.
``decide`` is pure: from the stored position and what the log looks like now it returns the byte
ranges still to alert, so rotation, truncation and rewrites are plain cases with tests.
"""

import json
import os
from pathlib import Path
from typing import Any, Dict, NamedTuple, Optional, Tuple

from app.errors import STATE_UNWRITABLE, UserError
from app.files import write_private
from app.loginlog import Position, anchor_at, find_predecessor

FORMAT = 1


class StateProblem(Exception):
    """The state file exists but cannot be used; str() says why."""


class State(NamedTuple):
    position: Optional[Position]  # None: the log did not exist when the state was seeded
    sent: int = 0
    last_sent: Optional[Dict[str, Any]] = None  # {"time": ..., "subject": ...}
    last_failure: Optional[Dict[str, Any]] = None  # {"time": ..., "epoch": ..., "reason": ...}; None after a success
    recent: Tuple[Tuple[str, float], ...] = ()  # (connection, login epoch) of the latest alerts, newest last
    sessions_alerted: Tuple[str, ...] = ()  # sshd processes alerted as seen by no hook, while they live
    sent_times: Tuple[float, ...] = ()  # when emails went out in the last hour (max_per_hour)
    holding: bool = False  # alerts were held by max_per_hour: they go out together as one digest


class Segment(NamedTuple):
    """Alert every line of path from byte start; device/inode identify the file."""

    path: Path
    start: int
    device: int
    inode: int


class FileFacts(NamedTuple):
    """What the log (or a rotated copy) looks like now."""

    path: Path
    device: int
    inode: int
    size: int


def load_state(path: Path) -> Optional[State]:
    """Return the stored state, or None when there is none yet (first run).

    Raises StateProblem when the file exists but is unreadable or corrupt.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise StateProblem("cannot read it: {}".format(error.strerror))
    try:
        document = json.loads(data.decode("utf-8"))
        if document.get("format") != FORMAT:
            raise ValueError("unknown format {!r}".format(document.get("format")))
        log = document["log"]
        position = None if log is None else Position(
            int(log["device"]), int(log["inode"]), int(log["offset"]), str(log["anchor"]))
        if position is not None and position.offset < 0:
            raise ValueError("negative offset")
        last_sent, last_failure = document.get("last_sent"), document.get("last_failure")
        recent = tuple((str(connection), float(epoch)) for connection, epoch in document.get("recent", ()))
        return State(position, int(document.get("sent", 0)), last_sent if isinstance(last_sent, dict) else None,
                     last_failure if isinstance(last_failure, dict) else None, recent,
                     tuple(str(key) for key in document.get("sessions_alerted", ())),
                     tuple(float(sent) for sent in document.get("sent_times", ())),
                     bool(document.get("holding", False)))
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        reason = "not valid JSON" if isinstance(error, json.JSONDecodeError) else "unexpected content ({})".format(
            str(error)[:80] or type(error).__name__)
        raise StateProblem(reason)


def state_document(state: State) -> Dict[str, Any]:
    position = state.position
    return {
        "format": FORMAT,
        "log": None if position is None else dict(position._asdict()),
        "sent": state.sent,
        "last_sent": state.last_sent,
        "last_failure": state.last_failure,
        "recent": [list(item) for item in state.recent],
        "sessions_alerted": list(state.sessions_alerted),
        "sent_times": list(state.sent_times),
        "holding": state.holding,
    }


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


def save_state(path: Path, state: State) -> None:
    """Write state atomically (temp file, fsync, rename), mode 0600; raises OSError."""
    write_private(path, json.dumps(state_document(state), sort_keys=True).encode("utf-8") + b"\n")


def store_state(path: Path, state: State) -> None:
    """save_state for check: a failure becomes a UserError naming the file (alerts stay pending)."""
    try:
        save_state(path, state)
    except OSError as error:
        raise UserError(STATE_UNWRITABLE.format(path=path, reason=error.strerror)) from None


def facts(path: Path) -> Optional[FileFacts]:
    try:
        status = os.stat(str(path))
    except OSError:
        return None
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
                with open(str(log_path), "rb") as handle:
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
