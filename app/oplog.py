"""The operational log (``ssh_alert.log`` in the state directory): what check did, rotated by size.

The login hook sends check's stderr to /dev/null, so this file is where failures become visible;
``status`` reads the last error back from it. Passwords never reach it.
"""

import logging
import logging.handlers
import os
import re
from pathlib import Path
from typing import NamedTuple, Optional

from app.files import ensure_private_dir

MAX_BYTES = 256 * 1024
BACKUPS = 2
_LINE = re.compile(r"\A(\S+) (INFO|WARNING|ERROR) (.*)\Z")
_loggers = {}  # type: dict


class LogLine(NamedTuple):
    time: str
    level: str
    message: str


def logger(path: Path) -> logging.Logger:
    """Return a logger writing to path (created 0600 on first use), rotating at MAX_BYTES."""
    key = str(path)
    logging.raiseExceptions = False  # a full disk must not print logging's traceback on a terminal
    if key not in _loggers:
        ensure_private_dir(path.parent)
        old_umask = os.umask(0o077)
        try:
            handler = logging.handlers.RotatingFileHandler(key, maxBytes=MAX_BYTES, backupCount=BACKUPS,
                                                           encoding="utf-8")
        finally:
            os.umask(old_umask)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S%z"))
        instance = logging.getLogger("ssh_alert." + key)
        instance.propagate = False
        instance.setLevel(logging.INFO)
        instance.addHandler(handler)
        _loggers[key] = instance
    return _loggers[key]


def last_entry(path: Path, level: str = "ERROR", tail_bytes: int = 64 * 1024) -> Optional[LogLine]:
    """Return the newest line of the given level in the log's last tail_bytes, or None."""
    try:
        with open(str(path), "rb") as handle:
            handle.seek(max(0, os.fstat(handle.fileno()).st_size - tail_bytes))
            lines = handle.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        match = _LINE.match(line)
        if match and match.group(2) == level:
            return LogLine(*match.groups())
    return None
