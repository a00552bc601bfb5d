"""The event outbox at its edges: which channels it feeds, what a channel added later gets, how each outcome
changes a channel's state, its hourly window, and what prune forgets and keeps."""

import time
from typing import Dict, List

from app.channels.base import Outcome
from app.store import eventstore
from app.store.store import Store

NOW = 1_795_600_000.0
DAY = 86400.0


class Policy:
    def __init__(self, syslog: bool, journald: bool) -> None:
        self.syslog, self.journald = syslog, journald


class Config:
    def __init__(self, channels, syslog: bool, journald: bool = False) -> None:
        self.channels = channels
        self.policy = Policy(syslog, journald)


def event(number: int, created: float = NOW, **extra) -> Dict:
    found = {"id": "evt_{}".format(number), "type": "login", "time": created, "title": "login {}".format(number)}
    found.update(extra)
    return found


def add(store: Store, *numbers: int, created: float = NOW, alert: bool = True) -> None:
    with store.transaction():
        eventstore.add_events(store, [(event(number, created), alert, "conn-{}".format(number)) for number in numbers],
                              created)


def rows(store: Store) -> List[int]:
    return [row[0] for row in store.connection.execute("SELECT id FROM events ORDER BY id")]


def titles(found) -> List[str]:
    return [item.event["title"] for item in found]


def test_the_event_channels_are_the_push_channels_chosen_and_syslog_and_journald_when_on() -> None:
    assert eventstore.event_channels(Config(("email", "ntfy", "webhook"), True)) == ("ntfy", "webhook", "syslog")
    assert eventstore.event_channels(Config(("ntfy", "email"), False)) == ("ntfy",)
    assert eventstore.event_channels(Config(("email",), False)) == ()
    assert eventstore.event_channels(Config(("email", "ntfy"), True, True)) == ("ntfy", "syslog", "journald")


def test_an_event_stored_again_is_kept_as_it_was_and_created_is_when_it_was_stored(store: Store) -> None:
    add(store, 1)
    with store.transaction():
        eventstore.add_events(store, [(event(1, NOW + 50, title="changed"), True, "other"),
                                      ({"id": "evt_2", "type": "notice", "title": "Grüße", "time": NOW - 9 * DAY},
                                       False, "")])
    stored = list(store.connection.execute("SELECT event_id, kind, created, alert, connection FROM events ORDER BY id"))
    assert stored[0] == ("evt_1", "login", NOW, 1, "conn-1")
    assert stored[1][:2] == ("evt_2", "notice") and stored[1][3:] == (0, "")
    assert abs(stored[1][2] - time.time()) < 60


def test_a_new_channel_is_added_with_a_clean_state_and_known_channel_only_reads(store: Store) -> None:
    add(store, 1, 2)
    assert eventstore.known_channel(store, "ntfy") is None
    assert store.connection.execute("SELECT count(*) FROM channels").fetchone()[0] == 0
    state = eventstore.channel_state(store, "ntfy")
    assert state == eventstore.ChannelState("ntfy", rows(store)[-1], None, None, None, None, 0, False, None)
    assert eventstore.known_channel(store, "ntfy") == state


def test_pending_skips_events_stored_before_the_channel_was_added(store: Store) -> None:
    add(store, 1)
    state = eventstore.channel_state(store, "ntfy")
    add(store, 2, 3)
    assert titles(eventstore.pending(store, state, True)) == ["login 2", "login 3"]
    assert eventstore.pending_count(store, state, True) == 2


def test_recorded_only_logins_wait_for_channels_that_take_everything(store: Store) -> None:
    state = eventstore.channel_state(store, "syslog")
    add(store, 1)
    add(store, 2, alert=False)
    add(store, 3)
    assert titles(eventstore.pending(store, state, False)) == ["login 1", "login 2", "login 3"]
    assert titles(eventstore.pending(store, state, True)) == ["login 1", "login 3"]
    assert eventstore.pending_count(store, state, False) == 3 and eventstore.pending_count(store, state, True) == 2
    assert [item.connection for item in eventstore.pending(store, state, False, limit=2)] == ["conn-1", "conn-2"]


def test_pending_reads_at_most_a_thousand_events_by_default(store: Store) -> None:
    state = eventstore.channel_state(store, "ntfy")
    add(store, *range(1001))
    found = eventstore.pending(store, state, True)
    assert len(found) == 1000 and found[-1].event["title"] == "login 999"


def test_sent_and_refused_close_events_for_that_channel_only(store: Store) -> None:
    ntfy, telegram = eventstore.channel_state(store, "ntfy"), eventstore.channel_state(store, "telegram")
    add(store, 1, 2, 3)
    first, second, third = rows(store)
    eventstore.record_outcome(store, "ntfy", [first], Outcome("sent"), NOW)
    eventstore.record_outcome(store, "ntfy", [second], Outcome("refused", "HTTP 401"), NOW + 1)
    eventstore.record_outcome(store, "ntfy", [third], Outcome("retry", "HTTP 503"), NOW + 2, not_before=NOW + 60)
    assert titles(eventstore.pending(store, ntfy, True)) == ["login 3"]
    assert eventstore.pending_count(store, ntfy, True) == 1
    assert eventstore.pending_count(store, telegram, True) == 3


def test_a_retry_counts_a_failure_and_sets_when_to_try_again(store: Store) -> None:
    eventstore.channel_state(store, "ntfy")
    add(store, 1)
    eventstore.record_outcome(store, "ntfy", rows(store), Outcome("retry", "HTTP 503"), NOW, not_before=NOW + 60)
    eventstore.record_outcome(store, "ntfy", rows(store), Outcome("retry", "HTTP 429"), NOW + 5, not_before=NOW + 120)
    state = eventstore.channel_state(store, "ntfy")
    assert (state.last_ok, state.last_error, state.last_error_time, state.not_before, state.failures) == (
        None, "HTTP 429", NOW + 5, NOW + 120, 2)


def test_a_refusal_records_its_reason_but_is_no_transient_failure(store: Store) -> None:
    eventstore.channel_state(store, "ntfy")
    add(store, 1)
    eventstore.record_outcome(store, "ntfy", rows(store), Outcome("refused", "HTTP 401"), NOW)
    state = eventstore.channel_state(store, "ntfy")
    assert (state.last_error, state.last_error_time, state.not_before, state.failures) == ("HTTP 401", NOW, None, 0)


def test_a_send_clears_failures_the_wait_and_the_batch_and_counts_for_the_hourly_limit(store: Store) -> None:
    eventstore.channel_state(store, "ntfy")
    add(store, 1)
    eventstore.record_outcome(store, "ntfy", rows(store), Outcome("retry", "HTTP 503"), NOW, not_before=NOW + 60)
    eventstore.set_batch(store, "ntfy", {"rows": rows(store), "event": {"id": "evt_d"}})
    eventstore.set_holding(store, "ntfy", True, NOW + 3000)
    held = eventstore.channel_state(store, "ntfy")
    assert held.holding and held.not_before == NOW + 3000 and held.batch == {"rows": rows(store), "event": {"id": "evt_d"}}
    eventstore.record_outcome(store, "ntfy", rows(store), Outcome("sent"), NOW + 100)
    state = eventstore.channel_state(store, "ntfy")
    assert (state.last_ok, state.last_error, state.failures, state.not_before, state.batch) == (
        NOW + 100, "HTTP 503", 0, None, None)
    assert eventstore.send_times(store, "ntfy", NOW + 200) == (NOW + 100,)
    assert eventstore.send_times(store, "telegram", NOW + 200) == ()
    eventstore.set_holding(store, "ntfy", False)
    assert not eventstore.channel_state(store, "ntfy").holding


def test_send_times_are_those_of_the_last_hour_oldest_first(store: Store) -> None:
    with store.transaction():
        store.connection.executemany("INSERT INTO channel_sends (channel, time) VALUES ('ntfy', ?)",
                                     [(NOW - 10,), (NOW - 3700,), (NOW - 3000,), (NOW + 50,)])
    assert eventstore.send_times(store, "ntfy", NOW) == (NOW - 3000, NOW - 10)


# --- prune -------------------------------------------------------------------------------------------------

def deliver(store: Store, channel: str, *numbers: int, created: float = NOW) -> None:
    ids = dict(store.connection.execute("SELECT event_id, id FROM events"))
    eventstore.record_outcome(store, channel, [ids["evt_{}".format(number)] for number in numbers], Outcome("sent"),
                              created)


def stored(store: Store) -> List[str]:
    return [row[0] for row in store.connection.execute("SELECT event_id FROM events ORDER BY id")]


def prune(store: Store, channels, now: float = NOW) -> None:
    with store.transaction():
        eventstore.prune(store, channels, now)


def test_prune_keeps_events_a_channel_still_needs(store: Store) -> None:
    for name in ("ntfy", "telegram"):
        eventstore.channel_state(store, name)
    add(store, 1, 2, 3, 4, created=NOW - 2 * DAY)
    deliver(store, "ntfy", 1, 2, 3, 4)
    deliver(store, "telegram", 1, 3)
    prune(store, ["ntfy", "telegram"])
    assert stored(store) == ["evt_2", "evt_4"]  # those telegram still needs
    assert store.connection.execute("SELECT count(*) FROM event_deliveries").fetchone()[0] == 2  # 1's and 3's gone


def test_prune_keeps_events_done_with_for_less_than_a_day(store: Store) -> None:
    eventstore.channel_state(store, "ntfy")
    add(store, 1, created=NOW - DAY - 1)
    add(store, 2, created=NOW - DAY + 1)
    add(store, 3, created=NOW - DAY - 0.5)
    deliver(store, "ntfy", 1, 2, 3)
    prune(store, ["ntfy"])
    assert stored(store) == ["evt_2"]


def test_prune_never_forgets_an_event_some_channel_still_needs_however_long_ago_it_was_stored(store: Store) -> None:
    eventstore.channel_state(store, "ntfy")
    eventstore.channel_state(store, "syslog")
    add(store, 1, created=NOW - 400 * DAY)
    add(store, 2, created=NOW - 40 * DAY, alert=False)  # recorded only: ntfy never gets it, syslog does
    add(store, 3, created=NOW - 40 * DAY, alert=False)
    deliver(store, "syslog", 1, 3)
    prune(store, ["ntfy", "syslog"])
    assert stored(store) == ["evt_1", "evt_2"]  # 1 waits for ntfy, 2 for syslog; 3 is done with


def test_prune_with_no_channels_forgets_what_is_over_a_day_old(store: Store) -> None:
    add(store, 1, created=NOW - 2 * DAY)
    add(store, 2, created=NOW - 60)
    prune(store, [])
    assert stored(store) == ["evt_2"]


def test_prune_keeps_everything_for_a_channel_not_run_yet(store: Store) -> None:
    eventstore.channel_state(store, "ntfy")
    add(store, 1, 2, created=NOW - 2 * DAY)
    deliver(store, "ntfy", 1, 2)
    prune(store, ["ntfy", "gotify"])
    assert stored(store) == ["evt_1", "evt_2"]


def test_prune_ignores_events_stored_before_a_channel_was_added(store: Store) -> None:
    eventstore.channel_state(store, "ntfy")
    add(store, 1, 2, created=NOW - 2 * DAY)
    eventstore.channel_state(store, "telegram")  # added after 1 and 2: never owes them
    add(store, 3, created=NOW - 2 * DAY)
    deliver(store, "ntfy", 1, 2, 3)
    prune(store, ["ntfy", "telegram"])
    assert stored(store) == ["evt_3"]


def test_prune_forgets_send_times_older_than_two_hours(store: Store) -> None:
    with store.transaction():
        store.connection.executemany("INSERT INTO channel_sends (channel, time) VALUES ('ntfy', ?)",
                                     [(NOW - 7200.5,), (NOW - 7199.5,), (NOW - 10,)])
    prune(store, ["ntfy"])
    assert [row[0] for row in store.connection.execute("SELECT time FROM channel_sends ORDER BY time")] == [
        NOW - 7199.5, NOW - 10]
