"""The event outbox's parts the edge tests left loose: the pending mark stored with the events, channels added
from the start after a reset, a notice skipped for the channel it is about, and how many events some channel
still waits for (status's count), journald taking recorded-only logins like syslog."""

import time
from typing import Any, Dict, List, Sequence

from app.channels.base import Outcome
from app.store import eventstore
from app.store.store import Store

DAY = 86400.0


def event(number: int, kind: str = "login") -> Dict[str, Any]:
    return {"id": "evt_{}".format(number), "type": kind, "time": time.time(), "title": "login {}".format(number)}


def add(store: Store, *numbers: int, alert: bool = True, created: float = 0.0) -> None:
    with store.transaction():
        eventstore.add_events(store, [(event(number), alert, "conn-{}".format(number)) for number in numbers],
                              created or None)


def row_of(store: Store, number: int) -> int:
    return int(store.connection.execute("SELECT id FROM events WHERE event_id = ?",
                                        ("evt_{}".format(number),)).fetchone()[0])


def titles(store: Store, name: str, alerts_only: bool = True) -> List[str]:
    state = eventstore.channel_state(store, name)
    return [item.event["title"] for item in eventstore.pending(store, state, alerts_only)]


def send(store: Store, name: str, *numbers: int) -> None:
    eventstore.record_outcome(store, name, [row_of(store, number) for number in numbers], Outcome("sent"),
                              time.time())


def stored(store: Store) -> List[str]:
    return [row[0] for row in store.connection.execute("SELECT event_id FROM events ORDER BY id")]


def waiting(store: Store, channels: Sequence[str]) -> int:
    return eventstore.waiting_count(store, channels)


# --- the pending mark ---------------------------------------------------------------------------------------

def test_storing_no_event_leaves_the_pending_mark_unset(store: Store) -> None:
    with store.transaction():
        eventstore.add_events(store, [])
    assert store.get(eventstore.CHANNELS_PENDING) is None


def test_storing_events_sets_the_pending_mark_under_the_key_earlier_versions_wrote(store: Store) -> None:
    add(store, 1)
    assert store.get(eventstore.CHANNELS_PENDING) is True
    # the key is part of the store's format: a store written by an earlier version carries it under this name
    assert list(store.connection.execute("SELECT key, value FROM meta WHERE key = 'channels_pending'")) == [
        ("channels_pending", "true")]


# --- channels added from the start --------------------------------------------------------------------------

def test_channels_added_from_the_start_get_every_event_already_stored(store: Store) -> None:
    add(store, 1, 2)
    with store.transaction():
        eventstore.add_channels_from_start(store, ["ntfy", "syslog"])
    assert eventstore.known_channel(store, "ntfy") is not None
    assert eventstore.channel_state(store, "ntfy").after_row == 0
    assert titles(store, "ntfy") == ["login 1", "login 2"]
    assert titles(store, "syslog", alerts_only=False) == ["login 1", "login 2"]


def test_adding_channels_from_the_start_leaves_a_known_channel_as_it_was(store: Store) -> None:
    add(store, 1)
    before = eventstore.channel_state(store, "ntfy")
    add(store, 2)
    with store.transaction():
        eventstore.add_channels_from_start(store, ["ntfy", "telegram"])
    assert eventstore.channel_state(store, "ntfy") == before and before.after_row == row_of(store, 1)
    assert titles(store, "ntfy") == ["login 2"]
    assert titles(store, "telegram") == ["login 1", "login 2"]


# --- a notice skipped for its own channel ---------------------------------------------------------------------

def test_a_skipped_event_is_closed_for_that_channel_only_and_says_why(store: Store) -> None:
    eventstore.channel_state(store, "ntfy")
    eventstore.channel_state(store, "telegram")
    before = time.time()
    with store.transaction():
        eventstore.add_events(store, [(event(1, "notice"), True, ""), (event(2), True, "conn-2")])
        eventstore.skip_event(store, "evt_1", "ntfy")
    assert titles(store, "ntfy") == ["login 2"]
    assert titles(store, "telegram") == ["login 1", "login 2"]
    closed = list(store.connection.execute("SELECT event_row, channel, state, detail, time FROM event_deliveries"))
    assert [found[:4] for found in closed] == [(row_of(store, 1), "ntfy", "skipped", "about this channel")]
    assert before <= closed[0][4] <= time.time()


def test_skipping_an_event_not_stored_closes_nothing(store: Store) -> None:
    add(store, 1)
    with store.transaction():
        eventstore.skip_event(store, "evt_9", "ntfy")
    assert store.connection.execute("SELECT count(*) FROM event_deliveries").fetchone()[0] == 0


# --- how many events some channel waits for --------------------------------------------------------------------

def test_waiting_count_counts_each_event_once_however_many_channels_wait_for_it(store: Store) -> None:
    eventstore.channel_state(store, "ntfy")
    eventstore.channel_state(store, "telegram")
    add(store, 1, 2, 3)
    send(store, "ntfy", 1)
    send(store, "telegram", 1, 2)
    assert waiting(store, ["ntfy", "telegram"]) == 2  # 2 waits for ntfy, 3 for both
    assert waiting(store, ["telegram"]) == 1
    send(store, "ntfy", 2, 3)
    send(store, "telegram", 3)
    assert waiting(store, ["ntfy", "telegram"]) == 0


def test_waiting_count_with_no_channels_is_zero(store: Store) -> None:
    add(store, 1)
    assert waiting(store, []) == 0


def test_a_channel_not_run_yet_waits_for_no_event(store: Store) -> None:
    add(store, 1, 2)
    assert waiting(store, ["gotify"]) == 0
    assert eventstore.known_channel(store, "gotify") is None  # counting only reads
    eventstore.channel_state(store, "gotify")
    add(store, 3)
    assert waiting(store, ["gotify"]) == 1


def test_recorded_only_logins_wait_for_syslog_and_journald_but_not_for_push_channels(store: Store) -> None:
    for name in ("ntfy", "syslog", "journald"):
        eventstore.channel_state(store, name)
    add(store, 1, alert=False)
    add(store, 2)
    assert waiting(store, ["ntfy"]) == 1
    assert waiting(store, ["syslog"]) == 2
    assert waiting(store, ["journald"]) == 2
    send(store, "syslog", 1, 2)
    assert waiting(store, ["syslog", "ntfy"]) == 1
    assert waiting(store, ["journald"]) == 2


def test_prune_keeps_a_recorded_only_login_journald_has_not_taken_yet(store: Store) -> None:
    now = time.time()
    for name in ("ntfy", "journald"):
        eventstore.channel_state(store, name)
    add(store, 1, 2, alert=False, created=now - 3 * DAY)
    send(store, "journald", 2)
    with store.transaction():
        eventstore.prune(store, ["ntfy", "journald"], now)
    assert stored(store) == ["evt_1"]  # journald failed for days: it still gets 1 when it works again
