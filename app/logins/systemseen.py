"""Connections the system-wide mode's PAM hook already recorded for this account (both modes installed).

The PAM hook (app.install.pam) appends ``ip cport saddr sport spid epoch`` to /run/ssh-alert/ACCOUNT before
the account's own hooks run. A per-user check counts those connections as already alerted, so one connection
gives one alert. Only a file root owns and only root can write counts: an account cannot hide its own logins.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from app.system.paths import SYSTEM_SEEN_DIR

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Tuple

MAX_BYTES = 64 * 1024  # the newest lines are enough: hooks of one connection run within seconds


def _root_only(status: os.stat_result) -> bool:
    return status.st_uid == 0 and not status.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def parse_seen(data: bytes) -> Tuple[Tuple[str, float], ...]:
    """(connection key, epoch) of each well-formed line (pure); the key as LoginRecord.connection_key makes it."""
    found = []
    for line in data.decode("utf-8", "replace").splitlines():
        words = line.split()
        if len(words) != 6 or not words[5].isdigit():
            continue
        key = words[:4] + ([] if words[4] == "-" else [words[4]])
        found.append((" ".join(key), float(words[5])))
    return tuple(found)


def system_seen(user: str, directory: Path = SYSTEM_SEEN_DIR) -> Tuple[Tuple[str, float], ...]:
    """The connections the system hook recorded for user; () when there is no trustworthy file."""
    if not user or "/" in user or user.startswith("."):
        return ()
    try:
        if not _root_only(os.lstat(str(directory))):
            return ()
        descriptor = os.open(str(directory / user), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return ()
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode) or not _root_only(status):
            return ()
        os.lseek(descriptor, max(0, status.st_size - MAX_BYTES), os.SEEK_SET)
        data = os.read(descriptor, MAX_BYTES)
    except OSError:
        return ()
    finally:
        os.close(descriptor)
    return parse_seen(data)


TRIM_BYTES = 16 * 1024
KEPT_LINES = 256


def trim_seen(directory: Path = SYSTEM_SEEN_DIR) -> None:
    """The system check keeps each account's file short (its newest KEPT_LINES lines, mode 0644); never raises.
    A line the hook appends during the swap may be lost: at worst a per-user install alerts that one again."""
    try:
        names = os.listdir(str(directory))
    except OSError:
        return
    for name in names:
        path = directory / name
        try:
            status = os.lstat(str(path))
            if not stat.S_ISREG(status.st_mode) or status.st_size <= TRIM_BYTES:
                continue
            with open(str(path), "rb") as handle:
                handle.seek(-TRIM_BYTES // 2, os.SEEK_END)
                kept = handle.read().splitlines()[1:][-KEPT_LINES:]
            temporary = directory / ".{}.{}.tmp".format(name, os.getpid())
            descriptor = os.open(str(temporary), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
            with os.fdopen(descriptor, "wb") as handle:
                os.fchmod(handle.fileno(), 0o644)
                handle.write(b"".join(line + b"\n" for line in kept))
            os.replace(str(temporary), str(path))
        except OSError:
            continue
