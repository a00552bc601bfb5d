"""Private files: created 0600 in 0700 directories, replaced atomically so a crash never leaves half a file.

Files are opened only when they are regular files (open_regular), and settings, code and state are used
only from files and directories no other user can change (unsafe_reason, like ssh's StrictModes).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
from pathlib import Path

from app.errors import (NOT_A_DIRECTORY, NOT_REGULAR_FILE, NOT_REGULAR_REASON, UNSAFE_OWNER, UNSAFE_PARENT_OWNER,
                        UNSAFE_WRITABLE, USE_SETTINGS, USE_STATE, UserError)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO, IO, Iterator, List, Literal, Optional, TextIO, Tuple, TypeAlias, Union, overload

PathLike: TypeAlias = "Union[str, os.PathLike[str]]"


def ensure_private_dir(directory: Path) -> None:
    """Create directory (and parents) with mode 0700 if missing; raises OSError."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)


def write_private(path: Path, data: bytes) -> None:
    """Atomically replace path with data, mode 0600, in a 0700 directory created if missing.

    Raises OSError; on failure the previous content of path is untouched.
    """
    ensure_private_dir(path.parent)
    replace_atomically(path, data, 0o600)


def replace_keeping_mode(path: Path, data: bytes, new_mode: int = 0o600) -> None:
    """Replace path atomically with data; an existing file keeps its permission bits, a new one gets new_mode.

    The mode is set on the temporary file before the rename, so path never has another mode. Raises OSError.
    """
    try:
        mode = stat.S_IMODE(os.stat(str(path)).st_mode)
    except FileNotFoundError:
        mode = new_mode
    replace_atomically(path, data, mode)


def replace_atomically(path: Path, data: bytes, mode: int) -> None:
    """Replace path with data, ending with the given mode: temp file, fsync, rename, fsync the directory.

    Raises OSError; on failure the previous content of path is untouched.
    """
    # mkstemp: O_EXCL and mode 0600 from the start, so a leftover or planted temp file is never reused.
    import tempfile  # not at the top: it imports shutil and random, a few ms the login path does not need

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
    descriptor = open_regular(path, os.O_RDWR | os.O_CREAT, 0o600)
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
    from app.system.alarm import alarm

    with alarm(timeout, LockTimeout):
        fcntl.flock(descriptor, fcntl.LOCK_EX)


# --- opening only regular files -------------------------------------------------------------------------

_KINDS = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory"),
          (stat.S_ISREG, "a regular file"))


def file_kind(mode: int) -> str:
    """Name the kind of file st_mode describes: "a FIFO", "a symbolic link", "a regular file", ..."""
    return next((name for test, name in _KINDS if test(mode)), "an unknown kind of file")


class NotRegularFile(OSError):
    """path is a FIFO, device, socket, directory or symbolic link: refused before reading or blocking on it.

    strerror says what it is ("it is a FIFO, not a regular file"); str() names the path too.
    """

    def __init__(self, path: str, kind: str) -> None:
        code = errno.ELOOP if kind == "a symbolic link" else errno.EISDIR if kind == "a directory" else errno.EINVAL
        super().__init__(code, NOT_REGULAR_REASON.format(kind=kind), path)
        self.kind = kind

    def __str__(self) -> str:
        return NOT_REGULAR_FILE.format(path=self.filename, kind=self.kind)


def _refuse_unless_regular(name: str) -> None:
    """Raise NotRegularFile when name exists and is not a regular file (a symbolic link is not followed)."""
    try:
        mode = os.lstat(name).st_mode
    except OSError:
        return
    if not stat.S_ISREG(mode):
        raise NotRegularFile(name, file_kind(mode))


def open_regular(path: PathLike, flags: int = os.O_RDONLY, mode: int = 0o600) -> int:
    """os.open path, but only a regular file: never follows a symbolic link, never blocks on a FIFO or device.

    Returns a blocking, close-on-exec descriptor. Raises NotRegularFile (an OSError naming the path and what
    it is) for anything else at path, or the OSError of os.open (FileNotFoundError, PermissionError, ...).
    """
    name = os.fspath(path)
    _refuse_unless_regular(name)  # before opening: opening a device can have effects of its own
    try:
        descriptor = os.open(name, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode)
    except OSError as error:
        # Replaced meanwhile: ELOOP is O_NOFOLLOW meeting a symlink, ENXIO a FIFO opened for writing.
        if error.errno in (errno.ELOOP, errno.ENXIO, errno.EISDIR):
            _refuse_unless_regular(name)
        raise
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise NotRegularFile(name, file_kind(status.st_mode))
        fcntl.fcntl(descriptor, fcntl.F_SETFL, fcntl.fcntl(descriptor, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


_OPEN_FLAGS = {"r": os.O_RDONLY, "w": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
               "a": os.O_WRONLY | os.O_CREAT | os.O_APPEND, "x": os.O_WRONLY | os.O_CREAT | os.O_EXCL}


if TYPE_CHECKING:  # the overloads tell the checker which file object each mode returns
    @overload
    def open_regular_file(path: PathLike, mode_str: Literal["rb"] = "rb", mode: int = 0o600,
                          encoding: None = None) -> BinaryIO: ...

    @overload
    def open_regular_file(path: PathLike, mode_str: Literal["r"], mode: int = 0o600,
                          encoding: Optional[str] = None) -> TextIO: ...

    @overload
    def open_regular_file(path: PathLike, mode_str: str, mode: int = 0o600,
                          encoding: Optional[str] = None) -> IO[Any]: ...


def open_regular_file(path: PathLike, mode_str: str = "rb", mode: int = 0o600,
                      encoding: Optional[str] = None) -> IO[Any]:
    """Like open(path, mode_str) (r, w, a, x; b or t; +), through open_regular; new files get mode.

    Raises NotRegularFile, the OSError of opening, or ValueError for a mode string open() would refuse.
    """
    letters = set(mode_str)
    kind = "".join(letter for letter in mode_str if letter in _OPEN_FLAGS)
    if len(kind) != 1 or not letters <= set("rwaxbt+") or {"b", "t"} <= letters or len(mode_str) != len(letters):
        raise ValueError("invalid mode: {!r}".format(mode_str))
    flags = _OPEN_FLAGS[kind]
    if "+" in letters:
        flags = (flags & ~os.O_WRONLY) | os.O_RDWR
    descriptor = open_regular(path, flags, mode)
    try:
        return os.fdopen(descriptor, mode_str, encoding=encoding)
    except BaseException:
        os.close(descriptor)
        raise


def last_lines(path: PathLike, block: int = 64 * 1024) -> List[bytes]:
    """The lines in the last block bytes of the regular file at path, without the first when the block cut it.

    The one tail reader (the login log's recent lines, the operational log's last error). Raises OSError,
    NotRegularFile included.
    """
    with open_regular_file(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        handle.seek(max(0, size - block))
        lines = handle.read().splitlines()
    return lines[1:] if size > block else lines


# --- files and directories no other user can change (like ssh's StrictModes) ----------------------------

def _user_name(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return "no such user"


def _writers(mode: int) -> str:
    """Who besides the owner may write: "group", "others", "group and others" or ""."""
    return " and ".join(who for who, bit in (("group", stat.S_IWGRP), ("others", stat.S_IWOTH)) if mode & bit)


def _status(name: str, follow: bool) -> Optional[os.stat_result]:
    try:
        return os.stat(name) if follow else os.lstat(name)
    except OSError:  # missing (not created yet), or not searchable: nothing there another user controls
        return None


def _chain(name: str) -> List[Tuple[str, bool]]:
    """name and every directory above it, as written and with symbolic links resolved: (path, is name itself)."""
    seen: List[Tuple[str, bool]] = []
    for start in (name, os.path.realpath(name)):
        current, itself = start, True
        while True:
            if (current, itself) not in seen:
                seen.append((current, itself))
            parent = os.path.dirname(current)
            if parent == current:
                break
            current, itself = parent, False
    return seen


def unsafe_reason(path: PathLike, uid: int, use: str = USE_SETTINGS, parents_only: bool = False) -> Optional[str]:
    """One line saying why another user could change path, or None when only uid (and root) can.

    path itself (when it exists) must belong to uid and not be writable by group or others; each directory
    above it, as written and with symbolic links resolved, must belong to uid or root and be writable by
    group or others only when sticky (like /tmp); a symbolic link on the way must belong to uid or root.
    use completes "ssh_alert will not ..." (errors.USE_*). parents_only: path itself is not checked.
    """
    name = os.path.abspath(os.fspath(path))
    for current, itself in _chain(name):
        if itself and parents_only:
            continue
        link = _status(current, follow=False)
        if link is None:
            continue
        status = link
        if stat.S_ISLNK(link.st_mode):  # its own mode means nothing; its owner can re-point it
            if link.st_uid not in (uid, 0):
                return _owner_reason(current, link.st_uid, uid, use, parent=True)
            continue  # where it leads is checked under its own name (the chain resolved)
        if itself:
            if status.st_uid != uid:
                return _owner_reason(current, status.st_uid, uid, use, parent=False)
            if _writers(status.st_mode):
                return _writable_reason(current, status.st_mode, use)
        else:
            if status.st_uid not in (uid, 0):
                return _owner_reason(current, status.st_uid, uid, use, parent=True)
            if _writers(status.st_mode) and not status.st_mode & stat.S_ISVTX:
                return _writable_reason(current, status.st_mode, use)
    return None


def _owner_reason(path: str, owner: int, uid: int, use: str, parent: bool) -> str:
    template = UNSAFE_PARENT_OWNER if parent else UNSAFE_OWNER
    return template.format(path=path, uid=owner, owner=_user_name(owner), user=_user_name(uid), use=use)


def _writable_reason(path: str, mode: int, use: str) -> str:
    return UNSAFE_WRITABLE.format(path=path, who=_writers(mode), mode=stat.S_IMODE(mode), use=use)


def require_private(path: PathLike, use: str = USE_SETTINGS) -> None:
    """Raise UserError (exit 2, one line) when another user could change path or a directory above it."""
    reason = unsafe_reason(path, os.getuid(), use)
    if reason is not None:
        raise UserError(reason)


def require_private_dir(path: PathLike, use: str = USE_STATE) -> None:
    """require_private for a directory (the state directory): also refuses a path that exists as anything
    but a directory. A missing directory passes when the directories above it are safe. Raises UserError."""
    name = os.path.abspath(os.fspath(path))
    status = _status(name, follow=True)
    if status is not None and not stat.S_ISDIR(status.st_mode):
        raise UserError(NOT_A_DIRECTORY.format(path=name, kind=file_kind(status.st_mode), use=use))
    require_private(name, use)
