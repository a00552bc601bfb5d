"""Logins on a full disk: the ones the hook could not append, and the ones the store cannot record.

* The hook's line did not get into the log (no space left): the check the hook started (with ``SSH_ALERT_SPID``) builds the line from its environment (``SSH_CONNECTION``, the sshd pid, ``SSH_USER_AUTH``)
  with the identity the line would have had; its connection is remembered, so a later line of it is a repeat.
* The store cannot record anything (its reserve is used up, or was never made): each pending login is sent
  directly, by email and to each push channel once, and what was sent is kept in the lock file's run mark (space
  already allocated). The next run that can write the store takes the mark's position and connections over
  (catch_up). Without the store there is no per-channel retry: a push channel that fails then misses that login
  (logged); email, when alerts go by email, decides whether it counts as sent.
"""

import os
import time
from typing import TYPE_CHECKING, Any, List, Mapping, Optional, Tuple

from app.alerting import runmark
from app.alerting.runmark import AHEAD
from app.alerting.loginlog import Position, read_entries
from app.alerting.statediff import SAME_LOGIN_SECONDS, is_repeat, plan
from app.system.files import last_lines, open_regular_file

if TYPE_CHECKING:
    from app.alerting.loginline import LoginRecord
    from app.errors import UserError

ENVIRONMENT_HOOK = "environment"  # the hook= of a line built from the environment
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


def line_recorded(log_path: Any, record: "LoginRecord", recent: Tuple[Tuple[str, float], ...]) -> bool:
    """True when this connection's login is in the log's last lines or was alerted already (recent)."""
    from app.alerting.loginline import parse_line

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


def catch_up(store: Any, mark: runmark.RunMark) -> None:
    """Take over what was alerted while the store could not record it (the mark's position and connections), once
    the store can be written again. Raises the store's OperationalError when it still cannot."""
    ahead = runmark.position(mark.mark, AHEAD)
    pairs = runmark.unrecorded(mark.mark)
    if (ahead is None and not pairs) or store.is_new:  # a new store: the reset starts from the mark (app.alerting.reset)
        return
    with store.transaction():
        if ahead is not None:
            store.set_position(ahead)
        store.add_recent(pairs)
    mark.keep(ahead=None, unrecorded=None)


def _ehlo(store: Any, configured: str) -> str:
    """The EHLO name without writing the store: configured, else the one kept, else found now."""
    if configured:
        return configured
    cached = store.get("ehlo") or {}
    if cached.get("name"):
        return str(cached["name"])
    from app.channels.mailname import local_ehlo_name

    return local_ehlo_name()


def alert_directly(paths: Any, store: Any, mark: runmark.RunMark, extra: Optional[bytes] = None) -> Optional[int]:
    """Alert each pending login (and extra, a line built from the environment) without writing the store, keeping
    each one sent in the run mark. Returns how many were sent, or None when not even the mark can be written
    (nothing is sent then: what cannot be recorded is never sent, so never repeated).

    Email, when alerts go by email, decides: a push channel that fails is logged and not tried again for that
    login (its retry state lives in the store). Raises SendFailed when the login could not be sent (it and the
    rest stay pending).
    """
    from app.alerting import policy
    from app.alerting.context import host_name, oplog
    from app.alerting.loginline import parse_line
    from app.alerting.eventstore import event_channels
    from app.alerting.fanout import channel_sender
    from app.alerting.render import Envelope
    from app.settings.config import load_config

    if not mark.keep(probe=round(time.time(), 3)):
        return None
    config = load_config(paths.config_file)
    senders = {name: channel_sender(name, config, paths) for name in event_channels(config)}
    envelope = Envelope(config.sender, config.recipients, host_name(config), _ehlo(store, config.policy.ehlo_name))
    start = runmark.position(mark.mark, AHEAD) or store.position()
    recent = store.recent() + tuple(runmark.unrecorded(mark.mark))
    pending: List[Tuple[bytes, str, Optional[Position]]] = []
    for segment in plan(start, paths.login_log)[0]:
        with open_regular_file(segment.path, "rb") as handle:
            for entry in read_entries(handle, segment.start, include_partial=False):
                pending.append((entry.data, "{}:{}:{}".format(segment.device, segment.inode, entry.end),
                                Position(segment.device, segment.inode, entry.end, entry.anchor)))
    if extra is not None:
        pending.append((extra, "", None))
    sender = None
    if config.emails:
        from app.alerting.context import transport

        sender = transport(config, paths, envelope.mail_domain)
    sent = 0
    try:
        for data, log_key, where in pending:
            record = parse_line(data)
            key, epoch = record.connection_key, record.epoch
            repeat = bool(key) and epoch is not None and is_repeat(recent, key, epoch)
            decision = policy.decide_seen(record, store.seen(*policy.source_key(record)) if record.parsed else None,
                                          config.policy)
            if not repeat and decision.email:
                _alert(record, log_key or "unlogged:{}:{:.0f}".format(key, epoch or 0), decision, envelope, config,
                       sender, senders, oplog(paths))
                sent += 1
            if key and epoch is not None and not repeat:
                recent += ((key, epoch),)
                mark.keep_sent(where, key, epoch)
            else:
                mark.keep_sent(where, "", None)
    finally:
        if sender is not None:
            sender.close()
    return sent


def _alert(record: "LoginRecord", log_key: str, decision: Any, envelope: Any, config: Any, sender: Any,
           senders: Mapping[str, Any], log: Any) -> None:
    """Send one login by email (when alerts go by email) and to every event channel, with the identity the
    dispatcher gives it. Raises SendFailed when email failed, or every channel did where there is no email."""
    from app.alerting import history, outbox
    from app.alerting.context import date_now
    from app.alerting.dispatch import kind_of, login_identity
    from app.alerting.events import login_event
    from app.alerting.keys import fingerprint
    from app.alerting.render import AlertContext, build_alert
    from app.channels.base import SENT
    from app.channels.delivery import DeliveryError

    identity = login_identity(record, log_key)
    context = AlertContext(new_ip=decision.new_ip, trusted=decision.trusted, first_seen=decision.first_seen,
                           last_seen=decision.last_seen, count=decision.count)
    if sender is not None:
        message = build_alert(record, envelope, date_now(), outbox.message_id(identity, "login", envelope.mail_domain),
                              context=context)
        try:
            result = sender.send(outbox.wire_bytes(message), list(config.recipients))
        except DeliveryError as error:
            raise outbox.SendFailed(str(error)) from None
        if result.deferred:
            raise outbox.SendFailed("deferred for {}".format("; ".join("{} ({})".format(*item)
                                                                     for item in result.deferred)))
    if not senders:
        return
    key = "{} {}".format(record.extra("keytype") or "key", fingerprint(record.extra("key")) or "?") \
        if record.extra("key") else ""
    entry = history.HistoryEntry(
        time=record.when, epoch=record.epoch or 0.0, user=record.user, ip=record.ip, rdns="", methods=record.methods,
        key=key, key_comment="", kind=kind_of(record), outcome=history.EMAILED if sender else history.ALERTED,
        new_ip=decision.new_ip, trusted=decision.trusted, log_key=log_key, raw="" if record.parsed else record.raw)
    event = login_event(entry, identity, envelope.host)
    failed = []
    for name, send in senders.items():
        try:
            outcome = send(event)
        except Exception as error:  # a channel's bug must not stop the others on a full disk
            outcome = None
            failed.append("{}: {}".format(name, error))
        if outcome is not None and outcome.state != SENT:
            failed.append("{}: {}".format(name, outcome.detail))
    for line in failed:
        log.error("full disk, sent without the store: " + line)
    if sender is None and len(failed) == len(senders):
        raise outbox.SendFailed("; ".join(failed))


# --- the run's side: what check calls (app.alerting.run) -----------------------------------------------------

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


def unlogged_line(paths: Any, store: Any, now: float, pid: int) -> Optional[bytes]:
    """For the hook's check (SSH_ALERT_SPID set by the hook): this connection's line built from the environment
    when the hook could not append it (a full disk), else None. pid: the process the hook started (its time is the
    line's)."""
    if not os.environ.get("SSH_ALERT_SPID"):
        return None
    line = environment_line(os.environ, started_at(pid, now))
    if line is None:
        return None
    from app.alerting.loginline import parse_line

    if line_recorded(paths.login_log, parse_line(line), store.recent()):
        return None
    return line


def without_store(paths: Any, store: Any, run_mark: runmark.RunMark, error: Exception,
                  extra: Optional[bytes]) -> "UserError":
    """The store cannot be written: on a full disk, email what is pending with the run mark as the record.
    Returns the error the run ends with."""
    from app.alerting import outbox
    from app.alerting.store import DatabaseError
    from app.errors import DELIVERY_FAILED, STORE_UNWRITABLE, ExitCode, UserError

    reason = store_reason(error)
    failure = UserError(STORE_UNWRITABLE.format(path=paths.store_file, reason=reason))
    if reason == str(error):  # not a full disk: what cannot be recorded is not sent
        return failure
    try:
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


def keep_position(store: Any, run_mark: runmark.RunMark) -> None:
    """Copy the store's log position into the run mark (outside the store, for a store that gets lost)."""
    from app.alerting.store import DatabaseError

    try:
        if not store.is_new:
            run_mark.keep_position(store.position())
    except DatabaseError:
        pass
