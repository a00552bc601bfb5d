"""Private files: created 0600 in 0700 directories, replaced atomically so a crash never leaves half a file."""

import contextlib
import fcntl
import os
import signal
import tempfile
from pathlib import Path
from typing import Iterator


def ensure_private_dir(directory: Path) -> None:
    """Create directory (and parents) with mode 0700 if missing; raises OSError."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)


def write_private(path: Path, data: bytes) -> None:
    """Atomically replace path with data, mode 0600, in a 0700 directory created if missing.

    Raises OSError; on failure the previous content of path is untouched.
    """
    ensure_private_dir(path.parent)
    replace_atomically(path, data, 0o600)


def replace_atomically(path: Path, data: bytes, mode: int) -> None:
    """Replace path with data, ending with the given mode: temp file, fsync, rename, fsync the directory.

    Raises OSError; on failure the previous content of path is untouched.
    """
    # mkstemp: O_EXCL and mode 0600 from the start, so a leftover or planted temp file is never reused.
    descriptor, temporary = tempfile.mkstemp(dir=str(path.parent), prefix="." + path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode != 0o600:
            os.chmod(temporary, mode)
        os.replace(temporary, str(path))
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    """Make a rename durable; some file systems refuse to open directories, which is harmless."""
    try:
        descriptor = os.open(str(directory), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


class LockTimeout(Exception):
    """The lock was not acquired in time."""


@contextlib.contextmanager
def exclusive_lock(path: Path, timeout: float) -> Iterator[bool]:
    """Hold an exclusive flock on path (created 0600) for the with-block; yields whether we had to wait.

    Waits up to timeout seconds (main thread only: uses SIGALRM to interrupt the blocking flock);
    raises LockTimeout, or OSError when the lock file cannot be opened.
    """
    ensure_private_dir(path.parent)
    descriptor = os.open(str(path), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            waited = False
        except BlockingIOError:
            waited = True
            _wait_for_lock(descriptor, timeout)
        yield waited
    finally:
        os.close(descriptor)


def _wait_for_lock(descriptor: int, timeout: float) -> None:
    def expire(signum: int, frame: object) -> None:
        raise LockTimeout()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
