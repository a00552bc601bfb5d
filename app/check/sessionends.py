"""When each connection ended, seen from the cron run: its duration goes into the history, and with
notify_logout = yes one alert says who logged out after how long.

The cron run lists the account's per-connection sshd processes (app.logins.sessions). A process seen by
the last run and gone now has ended; the login it belongs to is the earliest recorded login of this account
that started with it (the same window unrecorded() uses) and has no end yet.
"""

from __future__ import annotations

import json
import time

from app.store import history
from app.logins.sessions import MATCH_AFTER, MATCH_BEFORE, SshProcess

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Sequence

    from app.check.context import RunParts
    from app.store.store import Store

LIVE = "live_sessions"  # meta: {process key: started} as the last cron run saw them
LOGOUT_SUBJECT = "SSH logout: {user}@{host} from {ip} after {lasted}"


def ended_keys(previous: Dict[str, float], live: Sequence[SshProcess]) -> List[str]:
    """The processes the last run saw that are gone now (pure)."""
    running = {process.key for process in live}
    return sorted(key for key in previous if key not in running)


def record_ends(store: "Store", live: Sequence[SshProcess], now: Optional[float] = None) -> List[history.HistoryEntry]:
    """Record the end of every connection gone since the last cron run; returns the logins that ended."""
    now = time.time() if now is None else now
    previous = store.get(LIVE) or {}
    ended: List[history.HistoryEntry] = []
    with store.transaction():
        for key in ended_keys(previous, live):
            started = float(previous[key])
            for row, text in store.history_between(started - MATCH_BEFORE, started + MATCH_AFTER):
                entry = history.from_json(text)
                if entry is not None and not entry.ended and entry.user:
                    entry = entry._replace(ended=now)
                    store.replace_history_entry(row, json.dumps(entry._asdict(), sort_keys=True))
                    ended.append(entry)
                    break
        store.put(LIVE, {process.key: process.started for process in live})
    return ended


LOGOUT_TEXT = ("{user} logged out of {host}.\n\n"
               "From:      {ip}\n"
               "Logged in: {time}\n"
               "Lasted:    {lasted}\n\n"
               "Its login was alerted when the connection started; this message says only that it ended "
               "(notify_logout = yes in [alert]).")


def logout_text(entry: history.HistoryEntry, host: str) -> str:
    """The logout alert's body: several lines of words, so spam filters do not take it for a bare link (a
    one-line body holding a host name scores SpamAssassin's BODY_URI_ONLY)."""
    return LOGOUT_TEXT.format(user=entry.user, host=host, ip=entry.ip, time=entry.time,
                              lasted=history.duration(entry) or "not known")


def alert_logouts(parts: "RunParts", live: Sequence[SshProcess]) -> int:
    """Record ends; with notify_logout, post one alert per login that ended. Returns how many were posted."""
    from app.check.notices import Notice, post_notices

    ended = record_ends(parts.store, live)
    if not parts.config.policy.notify_logout:
        return 0
    host = parts.envelope.host
    for entry in ended:
        subject = LOGOUT_SUBJECT.format(user=entry.user, host=host, ip=entry.ip, lasted=history.duration(entry) or "?")
        post_notices(parts, [Notice(subject, logout_text(entry, host), "logout|" + entry.log_key, urgent=False)])
    return len(ended)
