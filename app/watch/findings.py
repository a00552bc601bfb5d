"""What the tamper and key watch reports (Finding), and the small helpers its two halves share.

A snapshot section carries a "changed" stamp: when its current state was first seen. A finding's key is
derived from the previous section (stamp included) and the new value, so a run that crashed before storing
its snapshot reports the same change under the same key, while the same change made again later (after
a restore) gets a new one.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from pathlib import Path

from app.system.files import NotRegularFile, open_regular_file
from app.system.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Optional, TypeAlias

Snapshot: TypeAlias = "Dict[str, Any]"  # a JSON object of the watch's snapshot, as the store keeps it

OK = "ok"
MISSING = "missing"
TOO_LARGE = "too large"


class Finding(Record):
    """One change to report once."""

    kind: str  # e.g. "key-added", "hook-removed"
    key: str  # stable id of this change: the same change gives the same key
    title: str  # one printable line
    text: str  # plain text: what changed, when, how to restore it
    urgent: bool


class FileRead(Record):
    """A small file read safely: state is OK, MISSING, TOO_LARGE, "unreadable: ..." or "not a regular file: ..."."""

    state: str
    data: Optional[bytes]  # None unless state is OK
    mtime: Optional[float]
    mode: Optional[int]  # permission bits, when the file exists


def is_problem(state: Optional[str]) -> bool:
    """True for a file that exists but cannot be read as a regular file (state other than OK and MISSING)."""
    return state not in (OK, MISSING, None)


def read_small_file(path: Path, limit: int, follow_links: bool = False) -> FileRead:
    """Read path when it is a regular file of at most limit bytes; never blocks on a FIFO or device.

    Takes follow_links: resolve symbolic links first (dotfiles may be links); without it a link is a problem.
    Returns a FileRead; never raises for a file that is missing, unreadable or of another kind.
    """
    name = os.path.realpath(str(path)) if follow_links else str(path)
    try:
        status = os.stat(name) if follow_links else os.lstat(name)
    except (FileNotFoundError, NotADirectoryError):
        return FileRead(MISSING, None, None, None)
    except OSError as error:
        return FileRead("unreadable: " + (error.strerror or str(error)), None, None, None)
    mtime, mode = status.st_mtime, stat.S_IMODE(status.st_mode)
    try:
        with open_regular_file(name, "rb") as handle:
            data = handle.read(limit + 1)
    except NotRegularFile as error:
        return FileRead("not a regular file: " + error.kind, None, mtime, mode)
    except (FileNotFoundError, NotADirectoryError):
        return FileRead(MISSING, None, None, None)
    except OSError as error:
        return FileRead("unreadable: " + (error.strerror or str(error)), None, mtime, mode)
    if len(data) > limit:
        return FileRead(TOO_LARGE, None, mtime, mode)
    return FileRead(OK, data, mtime, mode)


def change_key(kind: str, subject: str, previous_section: Any, previous_value: Any, current_value: Any) -> str:
    """Takes what changed and the section it was in; returns "kind:subject-digest", the finding's stable key."""
    stamp = previous_section.get("changed") if isinstance(previous_section, dict) else None
    material = json.dumps([kind, subject, stamp, previous_value, current_value], sort_keys=True, default=str)
    return "{}:{}".format(kind, hashlib.sha256(material.encode("utf-8", "surrogatepass")).hexdigest()[:24])


def stamped(previous: Any, current: Snapshot, now: float) -> Snapshot:
    """Returns current with "changed": the previous stamp when nothing else differs, else now."""
    unchanged = isinstance(previous, dict) and {k: v for k, v in previous.items() if k != "changed"} == \
        {k: v for k, v in current.items() if k != "changed"}
    return dict(current, changed=previous.get("changed", now) if unchanged else now)


def when(epoch: Optional[float]) -> str:
    """Local time of epoch as "2024-05-01 12:00:03 +0200", or "an unknown time"."""
    if not isinstance(epoch, (int, float)):
        return "an unknown time"
    return time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(epoch))


def tilde(path: str, home: str) -> str:
    """path with the home directory written as ~."""
    prefix = home.rstrip("/") + "/"
    return "~/" + path[len(prefix):] if path.startswith(prefix) else path
