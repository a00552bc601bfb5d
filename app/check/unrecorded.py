"""Logins on a full disk: the ones the hook could not append, and the ones the store cannot record.

* The hook's line did not get into the log (no space left): the check the hook started (with
  ``SSH_ALERT_SPID``) builds it from its environment (``SSH_CONNECTION``, the sshd pid, ``SSH_USER_AUTH``)
  with the identity the line would have had; its connection is remembered, so a later line of it is a repeat.
  The system-wide PAM hook (app.install.pam) says when its append failed (``SSH_ALERT_UNLOGGED``) and passes its
  time (``SSH_ALERT_EPOCH``): its check builds the very line from the PAM environment the hook trusts, and first
  takes back the piece of it a full disk let into the log (the next line would be glued to it).
* The store cannot record anything (its reserve is used up, or was never made): each pending login is sent
  directly, by email and to each push channel once, and what was sent is kept in the lock file's run mark (space
  already allocated). The next run that can write the store takes the mark's position and connections over
  (catch_up). The sending itself is app.check.directsend.
"""

from __future__ import annotations

import os
import re
import time

from app.logins import runmark
from app.logins.runmark import AHEAD
from app.logins.statediff import SAME_LOGIN_SECONDS, is_repeat
from app.system.files import last_lines, open_regular_file

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Mapping, Optional, Tuple

    from app.logins.loginline import LoginRecord
    from app.errors import UserError
    from app.store.store import Store
    from app.system.paths import Paths

ENVIRONMENT_HOOK = "environment"  # the hook= of a line built from the environment
PAM_HOOK = "pam"  # the hook= of the system-wide PAM hook's lines
# What the PAM hook's shell patterns refuse (app.install.pam), character for character:
_USER_REFUSED = r"[^A-Za-z0-9._@+-]"
_ADDRESS_REFUSED = r"[^A-Za-z0-9.:%_-]"
_METHOD_REFUSED = r"[^A-Za-z0-9@./_-]"
_KEY_REFUSED = r"[^A-Za-z0-9@.+/=-]"
_DIGITS = r"\A[0-9]+\Z"
AUTH_INFO_LIMIT = 64 * 1024
EXEC_SECONDS = 10.0  # the most a check's start can lag behind the hook's exec of Python
TAIL_BYTES = 16 * 1024  # where the hook's line is looked for: it was appended just before the check started
NO_SPACE = "no space left on the disk holding it ({detail})"
STORE_FULL_SENT = ("cannot write the store {path}: {reason}; {count} alert(s) sent without it in this run, kept in {lock} "
                   "until it can be written: free disk space")


def environment_line(environ: Mapping[str, str], now: float) -> Optional[bytes]:
    """The line the hook would have written for this connection, from a hook-started check's environment; None
    when this is not a hook's check (no SSH_CONNECTION of four fields, or no sshd pid from the hook)."""
    connection = environ.get("SSH_CONNECTION", "").split()
    spid = environ.get("SSH_ALERT_SPID", "").strip()
    if len(connection) != 4 or not spid.isdigit():
        return None
    methods: List[str] = []
    key = ""
    auth_file = environ.get("SSH_USER_AUTH", "")
    if auth_file:
        try:
            with open_regular_file(auth_file, "rb") as handle:
                auth = handle.read(AUTH_INFO_LIMIT).decode("utf-8", "replace")
        except OSError:
            auth = ""
        for line in auth.splitlines():
            fields = line.split()
            if fields:
                methods.append(fields[0])
                if fields[0] == "publickey" and len(fields) >= 3 and not key:
                    key = " keytype={} key={}".format(fields[1], fields[2])
    user = environ.get("USER") or environ.get("LOGNAME") or "unknown"
    second = int(now)  # as the hook's date +%s: whole seconds, cut, not rounded
    stamp = time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(second))
    text = "{} {} {} {} cport={} saddr={} sport={} tty={} hook={} epoch={:d} spid={}{}".format(
        stamp, connection[0], "".join(user.split()) or "unknown", ",".join(methods) or "unknown", connection[1],
        connection[2], connection[3], "".join(environ.get("SSH_TTY", "").split()) or "none", ENVIRONMENT_HOOK, second,
        spid, key)
    return text.encode("utf-8", "surrogateescape")


def pam_line(environ: Mapping[str, str], epoch: int, hook: str = PAM_HOOK) -> bytes:
    """The line the system-wide PAM hook writes (app.install.pam), built as the hook builds it from what it trusts:
    PAM_USER, PAM_RHOST, SSH_AUTH_INFO_0, an SSH_CONNECTION whose address is PAM_RHOST, the sshd pid it found
    (SSH_ALERT_SPID); epoch: the hook's time. The hook's bytes exactly (but hook=)."""
    user = environ.get("PAM_USER") or "unknown"
    if re.search(_USER_REFUSED, user) or user.startswith("."):
        user = "invalid-name"
    address = environ.get("PAM_RHOST") or "unknown"
    if re.search(_ADDRESS_REFUSED, address):
        address = "invalid-address"
    connection = re.split("[ \t\n]+", environ.get("SSH_CONNECTION", "").strip(" \t\n"))  # the shell's set --
    if (len(connection) != 4 or connection[0] != address or not re.match(_DIGITS, connection[1] + connection[3])
            or re.search(_ADDRESS_REFUSED, connection[2])):
        connection = ["", "", "", ""]
    methods: List[str] = []
    key = ""
    for line in environ.get("SSH_AUTH_INFO_0", "").split("\n"):  # the shell's read -r method type blob rest
        method, kind, blob = (re.split("[ \t]+", line.strip(" \t"), maxsplit=3) + ["", ""])[:3]
        if not method or re.search(_METHOD_REFUSED, method):
            continue
        methods.append(method)
        if method == "publickey" and not key and kind + blob and not re.search(_KEY_REFUSED, kind + blob):
            key = " keytype={} key={}".format(kind, blob)
    spid = environ.get("SSH_ALERT_SPID", "")
    text = "{} {} {} {} cport={} saddr={} sport={} tty=none hook={} epoch={:d} spid={}{}".format(
        time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(epoch)), address, user, ",".join(methods) or "unknown",
        connection[1], connection[2], connection[3], hook, epoch, spid if re.match(_DIGITS, spid) else "", key)
    return text.encode("utf-8", "surrogateescape")


def drop_fragment(log_path: "os.PathLike[str]", line: bytes) -> bool:
    """Take back from the log's end a piece of line (without its newline) that the hook's failed append left there:
    a full disk cuts a write at the last block's end, and the next line appended would be glued to it. Only an
    exact beginning of line, at a line's start. Returns whether it was there."""
    from app.system.files import open_regular

    try:
        descriptor = open_regular(log_path, os.O_RDWR)
    except OSError:
        return False
    try:
        size = os.fstat(descriptor).st_size
        tail = os.pread(descriptor, min(size, len(line) + 1), max(0, size - len(line) - 1))
        piece = tail[tail.rfind(b"\n") + 1:]
        at_line_start = b"\n" in tail or len(tail) == size
        # size again just before: a line appended meanwhile (space freed) is never cut
        if piece and at_line_start and line.startswith(piece) and os.fstat(descriptor).st_size == size:
            os.ftruncate(descriptor, size - len(piece))
            return True
    except OSError:
        pass
    finally:
        os.close(descriptor)
    return False


def line_recorded(log_path: "os.PathLike[str]", record: "LoginRecord", recent: Tuple[Tuple[str, float], ...]) -> bool:
    """True when this connection's login is in the log's last lines or was alerted already (recent)."""
    from app.logins.loginline import parse_line

    key, epoch = record.connection_key, record.epoch
    if not key or epoch is None:
        return True
    if is_repeat(recent, key, epoch):
        return True
    try:
        lines = last_lines(log_path, TAIL_BYTES)
    except OSError:
        return False
    for line in reversed(lines):
        found = parse_line(line)
        if found.connection_key == key and found.epoch is not None and abs(found.epoch - epoch) <= SAME_LOGIN_SECONDS:
            return True
    return False


def catch_up(store: "Store", mark: runmark.RunMark) -> None:
    """Take over what was alerted while the store could not record it (the mark's position and connections), once
    the store can be written again. Raises the store's OperationalError when it still cannot."""
    ahead = runmark.position(mark.mark, AHEAD)
    pairs = runmark.unrecorded(mark.mark)
    if (ahead is None and not pairs) or store.is_new:  # a new store: the reset starts from the mark (app.check.reset)
        return
    with store.transaction():
        if ahead is not None:
            store.set_position(ahead)
        store.add_recent(pairs)
    mark.keep(ahead=None, unrecorded=None)


# --- the run's side: what check calls (app.check.run) -----------------------------------------------------

def started_at(pid: int, fallback: float) -> float:
    """When process pid was started (exec'd by the hook, just after it took the line's time), from /proc to about
    10 ms; fallback when that cannot be read."""
    try:
        with open("/proc/{}/stat".format(pid), "rb") as handle:
            ticks = int(handle.read().rsplit(b")", 1)[1].split()[19])
        with open("/proc/uptime", "rb") as handle:
            uptime = float(handle.read().split()[0])
        found = time.time() - (uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return fallback
    # another process by now (the hook stopped waiting and pid is gone or reused): not the hook's time
    return found if 0 <= fallback - found <= EXEC_SECONDS else fallback


def hook_epoch(environ: Mapping[str, str], started: float) -> int:
    """The hook's time for its line: SSH_ALERT_EPOCH (the PAM hook's date +%s) when it is close to started (when
    the process the hook started began, or the check did), else started cut to whole seconds."""
    given = environ.get("SSH_ALERT_EPOCH", "")
    if re.match(_DIGITS, given) and abs(started - int(given)) <= EXEC_SECONDS:
        return int(given)
    return int(started)


def unlogged_line(paths: "Paths", store: "Store", now: float, pid: int) -> Optional[bytes]:
    """For the hook's check (SSH_ALERT_SPID set by the hook): this connection's line built from the environment
    when the hook could not append it (a full disk), else None. pid: the process the hook started (its time is the
    line's). In the system-wide mode only when the PAM hook said so (SSH_ALERT_UNLOGGED); what it left is dropped."""
    if paths.system:
        if os.environ.get("SSH_ALERT_UNLOGGED") != "1":
            return None
        epoch = hook_epoch(os.environ, started_at(pid, now))
        drop_fragment(paths.login_log, pam_line(os.environ, epoch))
        built = pam_line(os.environ, epoch, ENVIRONMENT_HOOK)
        from app.logins.loginline import parse_line

        record = parse_line(built)
        if record.connection_key and line_recorded(paths.login_log, record, store.recent()):
            return None
        return built
    if not os.environ.get("SSH_ALERT_SPID"):
        return None
    line = environment_line(os.environ, started_at(pid, now))
    if line is None:
        return None
    from app.logins.loginline import parse_line

    if line_recorded(paths.login_log, parse_line(line), store.recent()):
        return None
    return line


def without_store(paths: "Paths", store: "Store", run_mark: runmark.RunMark, error: Exception,
                  extra: Optional[bytes]) -> "UserError":
    """The store cannot be written: on a full disk, email what is pending with the run mark as the record.
    Returns the error the run ends with."""
    from app.store import outbox
    from app.store.store import DatabaseError
    from app.errors import DELIVERY_FAILED, STORE_UNWRITABLE, ExitCode, UserError

    reason = store_reason(error)
    failure = UserError(STORE_UNWRITABLE.format(path=paths.store_file, reason=reason))
    if reason == str(error):  # not a full disk: what cannot be recorded is not sent
        return failure
    try:
        from app.check.directsend import alert_directly

        sent = alert_directly(paths, store, run_mark, extra)
    except outbox.SendFailed as send_failure:
        return UserError(DELIVERY_FAILED.format(reason=send_failure, pending="the"), ExitCode.NOT_DONE)
    except (OSError, DatabaseError):
        return failure
    if sent is None:
        return failure
    return UserError(STORE_FULL_SENT.format(path=paths.store_file, reason=reason, count=sent, lock=paths.lock_file))


def store_reason(error: Exception) -> str:
    """SQLite's error in words: a full disk is named as such."""
    text = str(error)
    if "full" in text:  # SQLITE_FULL: "database or disk is full"
        return NO_SPACE.format(detail=text)
    return text


def keep_position(store: "Store", run_mark: runmark.RunMark) -> None:
    """Copy the store's log position into the run mark (outside the store, for a store that gets lost)."""
    from app.store.store import DatabaseError

    try:
        if not store.is_new:
            run_mark.keep_position(store.position())
    except DatabaseError:
        pass
