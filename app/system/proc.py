"""Every subprocess ssh_alert starts goes through run(): a timeout, no shell unless asked, no inherited stdin."""

from __future__ import annotations

import os
import signal
import subprocess
from app.system.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Mapping, Optional, Sequence


class Finished(Record):
    returncode: int
    stdout: bytes
    stderr: bytes


class TimedOut(Exception):
    """The command did not finish within its timeout; it and its children were killed."""


def run(argv: Sequence[str], stdin: bytes = b"", timeout: float = 20.0,
        environ: Optional[Mapping[str, str]] = None) -> Finished:
    """Run argv with stdin as input and return its exit code and output.

    The command runs in its own process group so a timeout kills everything it started.
    Raises OSError when it cannot be started, TimedOut when it runs too long.
    """
    process = subprocess.Popen(
        list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=None if environ is None else dict(environ), start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except OSError:
            pass
        process.communicate()
        raise TimedOut("{} did not finish within {:g} s".format(os.path.basename(argv[0]), timeout))
    return Finished(process.returncode, stdout, stderr)


def first_line(output: bytes, limit: int = 300) -> str:
    """The first non-empty line of a command's output, decoded and cut, for one-line error messages."""
    for line in output.decode("utf-8", "replace").splitlines():
        if line.strip():
            return line.strip()[:limit]
    return ""
