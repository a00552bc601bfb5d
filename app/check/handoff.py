"""The hook's bounded wait: the session starts once this connection's alert has left the machine.

``check --hook-wait N`` runs in the foreground of the login hook. It forks at once: the parent waits at
most N seconds on a pipe, then exits 0 and the login goes on; the child leaves the session (setsid) and
runs the check. The child writes to the pipe the moment this connection's alert is committed beyond
the account's reach (the SMTP server's reply to the final dot, or sendmail's exit 0), or is decided not
to be sent (a known address with notify = new, trusted, already alerted, held by the hourly limit), or
the run ends, whether it succeeded or failed. The hook then lists the connection in the state
directory's ``waited`` file, which later hooks of the same connection read to skip their own wait;
``trim_waited`` keeps that file short.
"""

from __future__ import annotations

import os
import select
import time
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterable, Optional

WAITED_KEPT = 64  # connections kept in the waited file (ControlMaster sessions reuse one)
WAITED_TRIM_BYTES = 16 * 1024
MAX_WAIT = 30.0
DEFAULT_WAIT = 3.0


def parse_wait(text: str) -> float:
    """The hook's wait in seconds from what the hook passed: never an error (the hook must not fail)."""
    try:
        seconds = float(text)
    except ValueError:
        return DEFAULT_WAIT
    return min(max(seconds, 0.0), MAX_WAIT) if seconds == seconds else DEFAULT_WAIT


class HandOff:
    """The child's side: tells the waiting hook when its connection is settled (once)."""

    def __init__(self, connection: str, descriptor: Optional[int]) -> None:
        self.connection = " ".join(connection.split())
        self.descriptor = descriptor
        self.lock = None
        if descriptor is not None:  # a push channel's thread may release it while this one does too
            import _thread  # threading's lock without threading's import (2 ms), which runs without threads

            self.lock = _thread.allocate_lock()

    def progress(self, connections: Iterable[str]) -> None:
        """Some logins were settled (their message accepted, or nothing to send): release the hook if ours."""
        if self.descriptor is not None and self.connection in connections:
            self.settle()

    def settle(self) -> None:
        """Release the waiting hook now (idempotent): the run ended, or the connection is settled."""
        if self.lock is None:
            return
        with self.lock:
            descriptor, self.descriptor = self.descriptor, None
        if descriptor is not None:
            try:
                os.write(descriptor, b"1")
            except OSError:
                pass  # the hook stopped waiting already
            os.close(descriptor)


NO_HANDOFF = HandOff("", None)


def sync_hook_wait(path: Path, seconds: float) -> None:
    """Keep the file the hook reads its wait from (a shell builtin read, no fork) equal to the setting."""
    text = "{:g}\n".format(seconds).encode("ascii")
    from app.system.files import open_regular_file, unsafe_reason, write_private

    try:  # as bytes: an ascii text file would load its codec (encodings.ascii) at every login
        with open_regular_file(path, "rb") as handle:  # a FIFO there is replaced, never read
            if handle.read(64) == text:
                return
    except (OSError, ValueError):
        pass

    if unsafe_reason(path.parent, os.getuid(), parents_only=False) is not None:
        return  # another user's (or a writable) state directory is never written; check and status say so
    try:
        write_private(path, text)
    except OSError:
        pass  # the hook then waits the default: the safe side


def fork_for_hook(seconds: float, connection: str) -> HandOff:
    """Fork; the parent waits up to seconds for the child's word and exits 0 (never returns). Returns the
    child's HandOff. seconds 0: the parent exits at once (the check goes on detached)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid:  # the hook's process: wait, then let the login go on
        os.close(write_end)
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                if select.select([read_end], [], [], left)[0]:
                    break  # a word, or the child ended (EOF)
            except InterruptedError:
                continue
        os._exit(0)
    os.close(read_end)
    os.setsid()  # out of the session's process group: closing the session does not signal it
    return HandOff(connection, write_end)


def trim_waited(path: Path) -> None:
    """Keep the last WAITED_KEPT lines of the hooks' waited file once it has grown (a hint: no fsync)."""
    try:
        if os.lstat(str(path)).st_size <= WAITED_TRIM_BYTES:
            return
        from app.system.files import open_regular_file

        with open_regular_file(path, "rb") as handle:
            handle.seek(-WAITED_TRIM_BYTES // 2, os.SEEK_END)
            kept = handle.read().splitlines()[1:][-WAITED_KEPT:]
        temporary = "{}.{}.tmp".format(path, os.getpid())
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(b"".join(line + b"\n" for line in kept))
        os.replace(temporary, str(path))
    except OSError:
        pass


def sync_record_command(path: Path, wanted: bool) -> None:
    """Keep the flag file the hook tests for record_command (a shell test, no fork) in step with the setting."""
    from app.system.files import unsafe_reason, write_private

    if os.path.lexists(str(path)) == wanted or unsafe_reason(path.parent, os.getuid()) is not None:
        return
    try:
        if wanted:
            write_private(path, b"yes\n")
        else:
            os.unlink(str(path))
    except OSError:
        pass  # the hook then records as before; the alert shows the command only with the setting on
