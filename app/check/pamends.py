"""When each connection ended, in the system-wide mode: its duration goes into the history, and with
notify_logout = yes one alert says who logged out after how long.

The PAM hook runs at session open only (app.install.pam says why not at close). It records the connection's
own sshd process (spid=). The cron run (root, every minute) looks at each alerted connection's process: gone,
or replaced by a newer process with the same pid, means the connection ended; the end is the time of that run,
so a duration is known to within a minute. A connection counts only when a run saw it open, or it was
recorded after the previous run: a first run never backdates ends it cannot know. Each end is told once: a
connection is matched to its own history row (address and client port), and one the previous run ended is not
taken for a new one though it was recorded within START_SLACK of that run.
"""

from __future__ import annotations

import json
import os
import time

from app.store import history
from app.check.sessionends import LOGOUT_SUBJECT
from app.logins.sessions import boot_time, start_ticks

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

    from app.check.context import RunParts
    from app.store.store import Store

# meta: {"connections": {connection key: login epoch}, "at": when that run looked, "ended": the connections that
# run ended which were recorded within START_SLACK before it (a later run would take them for new ones)}
LIVE = "pam_live"
START_SLACK = 2.0  # a process that started later than the login (plus this) is another one with a reused pid


def process_started(pid: str, proc: str = "/proc") -> Optional[float]:
    """The start time of process pid (Unix time), None when there is no such process."""
    try:
        with open(os.path.join(proc, "stat"), encoding="utf-8", errors="replace") as handle:
            booted = boot_time(handle.read())
        with open(os.path.join(proc, pid, "stat"), encoding="utf-8", errors="replace") as handle:
            ticks = start_ticks(handle.read())
    except (OSError, ValueError):
        return None
    if booted is None or ticks is None:
        return None
    return booted + ticks / os.sysconf("SC_CLK_TCK")


def is_open(connection: str, epoch: float, proc: str = "/proc") -> bool:
    """True while the connection's sshd process (the key's last word, its spid) still runs."""
    spid = connection.split()[-1] if len(connection.split()) == 5 else ""
    if not spid.isdigit():
        return False
    started = process_started(spid, proc)
    return started is not None and started <= epoch + START_SLACK


def ended_connections(previous: Dict[str, Any], recent: Sequence[Tuple[str, float]],
                      alive: Callable[[str, float], bool], now: float) -> Tuple[List[Tuple[str, float]], Dict[str, float]]:
    """(the connections that ended since the last run, those still open) from the last run's record, the
    store's recent connections and alive(connection, epoch) (pure but for alive)."""
    known = dict(previous.get("connections") or {})
    last_at = previous.get("at")
    told = set(previous.get("ended") or ())
    for connection, epoch in recent:
        if connection in told:
            continue
        if last_at is not None and epoch >= float(last_at) - START_SLACK and len(connection.split()) == 5:
            known.setdefault(connection, epoch)
        elif last_at is None and alive(connection, epoch):
            known.setdefault(connection, epoch)
    ended: List[Tuple[str, float]] = []
    still: Dict[str, float] = {}
    for connection, epoch in sorted(known.items(), key=lambda item: item[1]):
        if alive(connection, epoch):
            still[connection] = float(epoch)
        else:
            ended.append((connection, float(epoch)))
    return ended, still


def ended_entries(store: "Store", ended: Sequence[Tuple[str, float]]) -> List[Tuple[int, history.HistoryEntry]]:
    """The history rows of the ended connections: same login time, address and client port (when both name one),
    no end yet, and each row once, so that connections of one second from one address end their own logins."""
    found: List[Tuple[int, history.HistoryEntry]] = []
    taken: Set[int] = set()
    for connection, epoch in ended:
        address, port = connection.split()[:2]
        for row, text in store.history_between(epoch, epoch):
            entry = history.from_json(text)
            if entry is not None and entry.ip == address and (entry.port or port) == port and not entry.ended \
                    and row not in taken:
                found.append((row, entry))
                taken.add(row)
                break
    return found


def record_system_ends(parts: "RunParts", now: Optional[float] = None) -> int:
    """Record the end of every connection gone since the last run and, with notify_logout, post one alert for
    each, in one transaction. Returns how many ended."""
    from app.check.notices import Notice, post_notices

    store, host = parts.store, parts.envelope.host
    now = time.time() if now is None else now
    ended, still = ended_connections(store.get(LIVE) or {}, store.recent(), is_open, now)
    rows = [(row, entry._replace(ended=now)) for row, entry in ended_entries(store, ended)]
    late = [connection for connection, epoch in ended if epoch >= now - START_SLACK]

    def apply(target: "Store") -> None:
        for row, entry in rows:
            target.replace_history_entry(row, json.dumps(entry._asdict(), sort_keys=True))
        target.put(LIVE, {"connections": still, "at": now, "ended": late})

    notices = []
    if parts.config.policy.notify_logout:
        for _, entry in rows:
            subject = LOGOUT_SUBJECT.format(user=entry.user, host=host, ip=entry.ip,
                                            lasted=history.duration(entry) or "under a minute")
            text = "{} logged out of {} (from {}, logged in at {}); the end is known to within a minute.".format(
                entry.user, host, entry.ip, entry.time)
            notices.append(Notice(subject, text, "logout|" + entry.log_key, urgent=False))
    post_notices(parts, notices, apply)
    return len(rows)
