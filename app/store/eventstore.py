"""The event outbox: one row per login (or notice) for the push channels and syslog, each with its own delivery state.

An event is stored, INSERT OR IGNORE by its id (derived from the login's identity, so a line read again
adds nothing), in the transaction that records the login. Every channel then delivers it once: a row in
``event_deliveries`` says it was sent (or refused for good) to that channel, so a channel that failed is
retried alone and never re-sends to the ones that succeeded. A channel added later starts with the events
stored after it was added.
"""

from __future__ import annotations

import json
import time

from app.rules.hourly import recent_sends
from app.system.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Sequence, Tuple

    from app.channels.base import Outcome
    from app.settings.config import Config
    from app.store.store import Store

SCHEMA = """
CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,
    created REAL NOT NULL, alert INTEGER NOT NULL, connection TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE event_deliveries (event_row INTEGER NOT NULL, channel TEXT NOT NULL, state TEXT NOT NULL,
    detail TEXT NOT NULL, time REAL NOT NULL, PRIMARY KEY (event_row, channel));
CREATE TABLE channels (name TEXT PRIMARY KEY, after_row INTEGER NOT NULL, last_ok REAL, last_error TEXT,
    last_error_time REAL, not_before REAL, failures INTEGER NOT NULL DEFAULT 0, holding INTEGER NOT NULL DEFAULT 0,
    batch TEXT);
CREATE TABLE channel_sends (channel TEXT NOT NULL, time REAL NOT NULL);
CREATE INDEX channel_sends_channel ON channel_sends(channel, time);
"""
CHANNELS_PENDING = "channels_pending"  # meta: events wait for some channel (a run with no new line still sends)
PENDING_LIMIT = 1000  # events read for one channel in one run
SYSLOG = "syslog"
JOURNALD = "journald"
LOG_CHANNELS = (SYSLOG, JOURNALD)  # local logs: every login (not only alerts), one entry each, retried every run


def event_channels(config: "Config") -> Tuple[str, ...]:
    """The channels fed from the event outbox: the push channels chosen, and syslog and journald when on."""
    return tuple(name for name in config.channels if name != "email") + ((SYSLOG,) if config.policy.syslog else ()) \
        + ((JOURNALD,) if config.policy.journald else ())


class StoredEvent(Record):
    row: int
    event: Dict[str, Any]
    connection: str  # the login's connection key ("" for notices): the waiting hook looks for its own


class ChannelState(Record):
    name: str
    after_row: int  # events up to this row were stored before the channel was added: not sent to it
    last_ok: Optional[float]
    last_error: Optional[str]
    last_error_time: Optional[float]
    not_before: Optional[float]  # retry no earlier (429 Retry-After, backoff, the hourly limit)
    failures: int  # consecutive transient failures
    holding: bool  # the hourly limit held events back: the next send is a digest
    batch: Optional[Dict[str, Any]]  # a digest being sent: {"rows": [...], "event": {...}}, re-sent as it is


def add_events(store: "Store", events: Sequence[Tuple[Dict[str, Any], bool, str]], now: Optional[float] = None) -> None:
    """Store (event, alert, connection) triples at now (default: the current time); an event id already stored
    is kept as it is. created is when it was stored, not the login's time: the prune counts from it.

    alert False: a login recorded but not alerted (syslog still gets it). Call inside a transaction.
    """
    stored = time.time() if now is None else now
    store.connection.executemany(
        "INSERT OR IGNORE INTO events (event_id, kind, created, alert, connection, body) VALUES (?, ?, ?, ?, ?, ?)",
        [(event["id"], event["type"], stored, int(alert), connection,
          json.dumps(event, sort_keys=True, ensure_ascii=False)) for event, alert, connection in events])
    if events:  # a run that finds no new line still sends them (a notice posted after the channels' last send)
        store.put(CHANNELS_PENDING, True)


def channel_state(store: "Store", name: str) -> ChannelState:
    """The channel's state; a channel seen for the first time is added (it gets the events stored from now on)."""
    row = store.connection.execute("SELECT name, after_row, last_ok, last_error, last_error_time, not_before, "
                                   "failures, holding, batch FROM channels WHERE name = ?", (name,)).fetchone()
    if row is None:
        with store.transaction():
            last = store.connection.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]
            store.connection.execute("INSERT OR IGNORE INTO channels (name, after_row) VALUES (?, ?)", (name, last))
        return channel_state(store, name)
    return ChannelState(str(row[0]), int(row[1]), row[2], row[3], row[4], row[5], int(row[6]), bool(row[7]),
                        None if row[8] is None else json.loads(row[8]))


def add_channels_from_start(store: "Store", names: Sequence[str]) -> None:
    """Add channels not yet known so that they get every event stored (a store that starts anew after a reset
    owes them its notice). Call inside a transaction."""
    store.connection.executemany("INSERT OR IGNORE INTO channels (name, after_row) VALUES (?, 0)",
                                 [(name,) for name in names])


def known_channel(store: "Store", name: str) -> Optional[ChannelState]:
    """The channel's state, or None before its first run (reads only: status opens the store read-only)."""
    found = store.connection.execute("SELECT 1 FROM channels WHERE name = ?", (name,)).fetchone()
    return None if found is None else channel_state(store, name)


def pending_count(store: "Store", state: ChannelState, alerts_only: bool) -> int:
    """How many events wait for the channel."""
    return int(store.connection.execute(
        "SELECT count(*) FROM events WHERE id > ? AND (alert = 1 OR ? = 0) AND NOT EXISTS "
        "(SELECT 1 FROM event_deliveries WHERE event_row = events.id AND channel = ?)",
        (state.after_row, int(alerts_only), state.name)).fetchone()[0])


def pending(store: "Store", state: ChannelState, alerts_only: bool, limit: int = PENDING_LIMIT) -> List[StoredEvent]:
    """Events not yet sent to (or refused by) the channel, oldest first; alerts_only skips recorded-only logins."""
    rows = store.connection.execute(
        "SELECT id, body, connection FROM events WHERE id > ? AND (alert = 1 OR ? = 0) AND NOT EXISTS "
        "(SELECT 1 FROM event_deliveries WHERE event_row = events.id AND channel = ?) ORDER BY id LIMIT ?",
        (state.after_row, int(alerts_only), state.name, limit)).fetchall()
    return [StoredEvent(int(row[0]), json.loads(row[1]), str(row[2])) for row in rows]


def record_outcome(store: "Store", channel: str, rows: Sequence[int], outcome: "Outcome", now: float,
                   not_before: Optional[float] = None) -> None:
    """Record one attempt (outcome's state and detail): "sent" and "refused" close rows for channel; "retry" leaves
    them pending until not_before."""
    state, detail = outcome.state, outcome.detail
    with store.transaction():
        if state in ("sent", "refused"):
            store.connection.executemany(
                "INSERT OR REPLACE INTO event_deliveries (event_row, channel, state, detail, time) VALUES (?, ?, ?, ?, ?)",
                [(row, channel, state, detail, now) for row in rows])
            store.connection.execute("UPDATE channels SET batch = NULL WHERE name = ?", (channel,))
        if state == "sent":
            store.connection.execute("INSERT INTO channel_sends (channel, time) VALUES (?, ?)", (channel, now))
            store.connection.execute("UPDATE channels SET last_ok = ?, failures = 0, not_before = NULL, holding = 0 "
                                     "WHERE name = ?", (now, channel))
        else:
            store.connection.execute(
                "UPDATE channels SET last_error = ?, last_error_time = ?, not_before = ?, "
                "failures = failures + ? WHERE name = ?", (detail, now, not_before, int(state == "retry"), channel))


def skip_event(store: "Store", event_id: str, channel: str) -> None:
    """Close the stored event for channel without sending it there (a notice about that channel itself).

    Call inside the transaction that stores the event."""
    store.connection.execute(
        "INSERT OR IGNORE INTO event_deliveries (event_row, channel, state, detail, time) "
        "SELECT id, ?, 'skipped', 'about this channel', ? FROM events WHERE event_id = ?",
        (channel, time.time(), event_id))


def set_holding(store: "Store", channel: str, holding: bool, not_before: Optional[float] = None) -> None:
    with store.transaction():
        store.connection.execute("UPDATE channels SET holding = ?, not_before = ? WHERE name = ?",
                                 (int(holding), not_before, channel))


def set_batch(store: "Store", channel: str, batch: Dict[str, Any]) -> None:
    """Note the digest about to be sent, so a retry sends the same one (same id) whatever arrives meanwhile."""
    with store.transaction():
        store.connection.execute("UPDATE channels SET batch = ? WHERE name = ?",
                                 (json.dumps(batch, sort_keys=True, ensure_ascii=False), channel))


def send_times(store: "Store", channel: str, now: float) -> Tuple[float, ...]:
    """The channel's send times within the hourly window (app.rules.hourly.recent_sends)."""
    times = [float(row[0]) for row in store.connection.execute(
        "SELECT time FROM channel_sends WHERE channel = ? AND time > ? ORDER BY time", (channel, now - 7200.0))]
    return recent_sends(times, now)


def _waiting(channels: Sequence[str], unknown_after: str = "0") -> Tuple[str, List[Any]]:
    """The SQL condition (and its values) of an event that some of channels still waits for: stored after the
    channel was added, an alert (syslog and journald take recorded-only logins too), neither sent to it nor refused by it.
    unknown_after: the after_row (SQL) of a channel that has not run yet."""
    clause = " OR ".join(
        "(id > coalesce((SELECT after_row FROM channels WHERE name = ?), {}) AND (alert = 1 OR ? = 0) AND NOT EXISTS "
        "(SELECT 1 FROM event_deliveries WHERE event_row = events.id AND channel = ?))".format(unknown_after)
        for _ in channels)
    values: List[Any] = []
    for name in channels:
        values += [name, int(name not in LOG_CHANNELS), name]
    return "({})".format(clause or "0"), values


def waiting_count(store: "Store", channels: Sequence[str]) -> int:
    """How many events some of channels still waits for (each counted once, however many channels wait); a
    channel that has not run yet waits for none (it starts with the events stored after its first run)."""
    clause, values = _waiting(channels, "(SELECT coalesce(max(id), 0) FROM events)")
    return int(store.connection.execute("SELECT count(*) FROM events WHERE " + clause, values).fetchone()[0])


def prune(store: "Store", channels: Sequence[str], now: float) -> None:
    """Forget the events every channel is done with, a day after they were stored, and old send times. An event
    still waiting for some channel is kept however old it is (a channel failing for weeks gets it when it works
    again); one stored before a channel was added, or recorded-only for a push channel, does not wait for it.
    Call inside a transaction."""
    clause, values = _waiting(channels)
    store.connection.execute("DELETE FROM events WHERE created < ? AND NOT " + clause, [now - 86400.0] + values)
    store.connection.execute("DELETE FROM event_deliveries WHERE event_row NOT IN (SELECT id FROM events)")
    store.connection.execute("DELETE FROM channel_sends WHERE time < ?", (now - 7200.0,))
