"""The operational log (``ssh_alert.log`` in the state directory): what check did, rotated by size.

The login hook sends check's stderr to /dev/null, so this file is where failures become visible;
``status`` reads the last error back from it. Passwords never reach it.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from app.system.files import ensure_private_dir, last_lines, open_regular, unsafe_reason
from app.system.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

MAX_BYTES = 256 * 1024
BACKUPS = 2
_LINE = r"\A(\S+) (INFO|WARNING|ERROR) (.*)\Z"


class LogLine(Record):
    time: str
    level: str
    message: str


class OperationalLog:
    """Appends "TIME LEVEL message" lines, rotating at MAX_BYTES into .1 and .2 (what logging's
    RotatingFileHandler did; written here because importing logging cost 6 ms on every login)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def info(self, message: str) -> None:
        self._write("INFO", message)

    def warning(self, message: str) -> None:
        self._write("WARNING", message)

    def error(self, message: str) -> None:
        self._write("ERROR", message)

    def _write(self, level: str, message: str) -> None:
        """Append one entry; never raises (a full disk must not stop an alert or print on a terminal)."""
        line = "{} {} {}\n".format(time.strftime("%Y-%m-%dT%H:%M:%S%z"), level, message).encode("utf-8", "replace")
        if unsafe_reason(self.path.parent, os.getuid()) is not None:
            return  # another user's state directory is never written; the command says so itself
        try:
            ensure_private_dir(self.path.parent)
            descriptor = open_regular(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                if os.fstat(descriptor).st_size + len(line) > MAX_BYTES:
                    self._rotate()
                    os.close(descriptor)
                    descriptor = open_regular(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                os.write(descriptor, line)
            finally:
                os.close(descriptor)
        except OSError:
            pass

    def _rotate(self) -> None:
        for number in range(BACKUPS, 0, -1):
            source = str(self.path) if number == 1 else "{}.{}".format(self.path, number - 1)
            try:
                os.replace(source, "{}.{}".format(self.path, number))
            except FileNotFoundError:
                pass


def logger(path: Path) -> OperationalLog:
    """The operational log at path (created 0600 on first write)."""
    return OperationalLog(path)


def last_entry(path: Path, level: str = "ERROR", tail_bytes: int = 64 * 1024) -> Optional[LogLine]:
    """Return the newest line of the given level in the log's last tail_bytes, or None."""
    try:
        lines = last_lines(path, tail_bytes)
    except OSError:
        return None
    for line in (line.decode("utf-8", "replace") for line in reversed(lines)):
        match = re.match(_LINE, line)
        if match and match.group(2) == level:
            return LogLine(*match.groups())
    return None
