"""The health of what the cron run keeps, read from the store: each event channel (last success, last error, what
waits and why), the watch and the heartbeat. status shows these lines; the heartbeat and its ping report the
failing ones."""

from __future__ import annotations

import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional, Tuple

    from app.settings.config import Config
    from app.store.store import Store

HEARTBEAT_LAST = "heartbeat_last"  # meta: when the last heartbeat was posted (or the count started)
WATCH = "watch"  # meta: the snapshot of keys and ssh_alert's own parts (app.watch.watch)
SSHD_TEXT, SSHD_CHECKED = "sshd_text", "sshd_checked"  # meta: sshd's settings, read at most hourly
CHANNEL_FAILING = "failing since {since}: {error}; {pending} event(s) wait{retry}"
CHANNEL_OK = "last sent {last}{pending}"
CHANNEL_NEW = "nothing sent yet"
CHANNEL_REFUSED = "refused for good since {since} (that event is not retried; fix it, then run: ssh_alert.pyz " \
                  "test --channel {name}): {error}"


def _when(epoch: Optional[float]) -> str:
    return "never" if not epoch else time.strftime("%Y-%m-%d %H:%M", time.localtime(epoch))


def channel_lines(store: "Store", names: List[str], now: Optional[float] = None) -> List[Tuple[str, str, str]]:
    """(name, "ok" | "warn" | "fail", detail) for each channel fed from the event outbox."""
    from app.store import eventstore

    now = time.time() if now is None else now
    lines = []
    for name in names:
        state = eventstore.known_channel(store, name)
        if state is None:
            lines.append((name, "ok", CHANNEL_NEW))
            continue
        pending = eventstore.pending_count(store, state, alerts_only=name not in ("syslog", "journald"))
        failing = state.last_error_time is not None and (state.last_ok is None or state.last_error_time > state.last_ok)
        if failing and (store.get("channel_refused") or {}).get(name) == state.last_error:
            lines.append((name, "fail", CHANNEL_REFUSED.format(since=_when(state.last_error_time), name=name,
                                                               error=state.last_error)))
            continue
        if failing:
            retry = "" if not state.not_before or state.not_before <= now else \
                "; next try {}".format(_when(state.not_before))
            lines.append((name, "fail", CHANNEL_FAILING.format(since=_when(state.last_error_time),
                                                               error=state.last_error, pending=pending, retry=retry)))
            continue
        waiting = ""
        if pending:
            waiting = "; {} event(s) wait{}".format(pending, " for the hourly limit until {}".format(
                _when(state.not_before)) if state.holding and state.not_before else "")
        lines.append((name, "warn" if pending and state.holding else "ok",
                      CHANNEL_OK.format(last=_when(state.last_ok), pending=waiting)))
    return lines


WATCHED = "{keys} key(s) in {files} file(s) watched; hooks, cron line, pyz and sshd settings compared each cron run"
NOT_WATCHED = "not watched yet: the first cron run records the keys and hooks"
HEARTBEAT_LINE = "{period}; last {last}, next by {next}"


def watch_lines(store: "Store", config: "Config") -> List[Tuple[str, str, str]]:
    """(name, status, detail) for the keys and integrity watch and the heartbeat."""
    from app.watch.heartbeat import next_heartbeat

    snapshot = store.get(WATCH) or {}
    keys = snapshot.get("keys") or {}
    lines = [("watch", "ok", WATCHED.format(keys=len(keys.get("keys") or {}), files=len(keys.get("files") or {})))
             if snapshot else ("watch", "warn", NOT_WATCHED)]
    period = config.policy.heartbeat
    if period == "off":
        lines.append(("heartbeat", "warn", "off: silence cannot tell you that monitoring stopped"))
    else:
        last = store.get(HEARTBEAT_LAST)
        lines.append(("heartbeat", "ok", HEARTBEAT_LINE.format(
            period=period, last=_when(last), next=_when(next_heartbeat(last, period)) if last else "the next cron run")))
    return lines


DISK_RESERVE_USED = ("{path} has used its reserve for a full disk ({free} of {reserve} pages left, {kib} KiB free on "
                     "that file system); free space on that disk")


def disk_lines(store: "Store", path: object) -> List[Tuple[str, str, str]]:
    """("disk", "warn", detail) when the store has used its reserve and its file system has no room to make it
    again (statvfs): pages used on a disk with room are re-made by the next check, which is no news."""
    import os

    from app.store.store import JOURNAL_RESERVE, RESERVE_PAGES

    free_pages, page = store.free_pages()
    try:
        status = os.statvfs(str(path))
    except OSError:
        return []
    free_bytes = status.f_bavail * status.f_frsize
    if free_pages >= RESERVE_PAGES or free_bytes >= RESERVE_PAGES * page + JOURNAL_RESERVE:
        return []
    return [("disk", "warn", DISK_RESERVE_USED.format(path=path, free=free_pages, reserve=RESERVE_PAGES,
                                                      kib=free_bytes // 1024))]


HOLD = "logins held by max_per_hour = {limit}: they go out as one digest at {when} (digests: one a minute)"


def hold_lines(store: "Store", config: "Config") -> List[Tuple[str, str, str]]:
    """(name, status, detail): a warning while the hourly limit holds logins back, saying when their digest leaves."""
    import time

    from app.check.dispatch import LIMIT_DIGEST
    from app.check.policy import limit_digest_at

    if not store.get("holding"):
        return []
    last = store.get(LIMIT_DIGEST)
    when = limit_digest_at(float(last) if last is not None else None, time.time())
    return [("hourly limit", "warn", HOLD.format(limit=config.policy.max_per_hour,
                                                 when=time.strftime("%H:%M:%S", time.localtime(when))))]
