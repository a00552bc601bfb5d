"""The event outbox and its fan-out to channels, on a real SQLite store: every login reaches every channel once,
whatever fails and recovers in between; a channel that is down never holds the others back."""

import collections
from pathlib import Path
from typing import Dict, List

from hypothesis import given, settings, strategies as st

from app.store import eventstore
from app.check.events import login_event
from app.check.fanout import Fanout, backoff, plan_channel
from app.store.history import EMAILED, HistoryEntry
from app.store.store import Store
from app.channels.base import REFUSED, RETRY, SENT, Outcome
from app.settings.config import AlertPolicy

NAMES = ("ntfy", "telegram", "webhook")
START = 1_795_600_000.0


class Config:
    channels = ("email",) + NAMES
    policy = AlertPolicy(max_per_hour=5, digest_after=3)


class Silent:
    def info(self, text: str) -> None: ...
    warning = error = info


def entry(number: int) -> HistoryEntry:
    return HistoryEntry(time="", epoch=START + number, user="alice", ip="203.0.113.{}".format(number % 250),
                        rdns="", methods=("publickey",), key="", key_comment="", kind="interactive", outcome=EMAILED,
                        new_ip=False, trusted=False, log_key="1:1:{}".format(number))


def add_logins(store: Store, first: int, count: int) -> None:
    with store.transaction():
        eventstore.add_events(store, [(login_event(entry(number), "login-{}".format(number), "web1"), True,
                                       "conn-{}".format(number)) for number in range(first, first + count)])


def run_once(store: Store, up: Dict[str, str], got: Dict[str, List[str]], now: float) -> None:
    """One check run's flush: plan each channel, send through senders that answer as up says, record."""

    def sender(name: str):
        def send(event):
            if up[name] == SENT:
                got[name].extend(login["ip"] + "#" + str(login["epoch"]) for login in event["logins"])
                return Outcome(SENT)
            return Outcome(up[name], "HTTP 503" if up[name] == RETRY else "HTTP 401")
        return send

    plans = {name: plan_channel(store, name, Config, "web1", now) for name in NAMES}
    fanout = Fanout(store, {name: sender(name) for name in NAMES}, Silent(), clock=lambda: now)
    fanout.start(plans)
    fanout.collect()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.tuples(*[st.sampled_from([SENT, RETRY])] * 3),
                          st.sampled_from([5.0, 700.0, 4000.0])), min_size=1, max_size=12))
def test_every_login_reaches_every_channel_exactly_once_through_failures_and_recoveries(tmp_path_factory, steps):
    store = Store.open(tmp_path_factory.mktemp("store") / "store.db")
    got: Dict[str, List[str]] = collections.defaultdict(list)
    for name in NAMES:
        eventstore.channel_state(store, name)  # the channels exist before the first login
    added, now = 0, START
    for count, pattern, advance in steps:
        add_logins(store, added, count)
        added += count
        now += advance
        run_once(store, dict(zip(NAMES, pattern)), got, now)
    for _ in range(40):  # all back up: what waited goes out (digests and the hourly limit pace it)
        now += 4000.0
        run_once(store, dict.fromkeys(NAMES, SENT), got, now)
    expected = sorted("{}#{}".format(entry(number).ip, entry(number).epoch) for number in range(added))
    for name in NAMES:
        assert sorted(got[name]) == expected, name
    store.close()


def test_a_channel_that_is_down_delays_neither_the_others_nor_is_skipped_when_back(tmp_path: Path):
    store = Store.open(tmp_path / "store.db")
    got: Dict[str, List[str]] = collections.defaultdict(list)
    for name in NAMES:
        eventstore.channel_state(store, name)
    add_logins(store, 0, 1)
    run_once(store, {"ntfy": RETRY, "telegram": SENT, "webhook": SENT}, got, START + 10)
    assert len(got["telegram"]) == len(got["webhook"]) == 1 and not got["ntfy"]
    add_logins(store, 1, 1)
    run_once(store, {"ntfy": SENT, "telegram": SENT, "webhook": SENT}, got, START + 20)  # ntfy waits its backoff
    assert not got["ntfy"] and len(got["telegram"]) == 2
    run_once(store, {"ntfy": SENT, "telegram": SENT, "webhook": SENT}, got, START + 20 + backoff(1))
    assert len(got["ntfy"]) == 2 and len(got["telegram"]) == 2
    store.close()


def test_a_permanent_refusal_is_not_retried_for_that_event(tmp_path: Path):
    store = Store.open(tmp_path / "store.db")
    got: Dict[str, List[str]] = collections.defaultdict(list)
    for name in NAMES:
        eventstore.channel_state(store, name)
    add_logins(store, 0, 1)
    run_once(store, {"ntfy": REFUSED, "telegram": SENT, "webhook": SENT}, got, START)
    state = eventstore.channel_state(store, "ntfy")
    assert state.last_error == "HTTP 401" and eventstore.pending(store, state, True) == []
    store.close()


def test_a_channel_added_later_does_not_get_the_old_logins(tmp_path: Path):
    store = Store.open(tmp_path / "store.db")
    add_logins(store, 0, 3)
    state = eventstore.channel_state(store, "ntfy")
    assert eventstore.pending(store, state, True) == []
    add_logins(store, 3, 1)
    assert [item.connection for item in eventstore.pending(store, state, True)] == ["conn-3"]
    store.close()


def test_a_digest_that_failed_is_retried_as_the_same_event_even_after_more_logins(tmp_path: Path):
    store = Store.open(tmp_path / "store.db")
    eventstore.channel_state(store, "ntfy")
    add_logins(store, 0, 5)  # more than digest_after: one digest
    first = plan_channel(store, "ntfy", Config, "web1", START)
    assert len(first) == 1 and first[0].event["type"] == "digest" and len(first[0].rows) == 5
    add_logins(store, 5, 2)
    again = plan_channel(store, "ntfy", Config, "web1", START + 1)
    assert again[0].event["id"] == first[0].event["id"] and again[0].rows == first[0].rows
    store.close()


def test_the_hourly_limit_holds_a_channel_and_its_backlog_leaves_as_one_digest(tmp_path: Path):
    store = Store.open(tmp_path / "store.db")
    got: Dict[str, List[str]] = collections.defaultdict(list)
    for name in NAMES:
        eventstore.channel_state(store, name)
    for number in range(8):  # one at a time: five go out singly, then the limit holds the rest
        add_logins(store, number, 1)
        run_once(store, dict.fromkeys(NAMES, SENT), got, START + number)
    assert len(got["ntfy"]) == 5 and eventstore.channel_state(store, "ntfy").holding
    run_once(store, dict.fromkeys(NAMES, SENT), got, START + 3700)
    assert len(got["ntfy"]) == 8
    store.close()


def test_a_hold_ends_with_the_next_send_even_a_single_one(tmp_path: Path):
    store = Store.open(tmp_path / "store.db")
    got: Dict[str, List[str]] = collections.defaultdict(list)
    for name in NAMES:
        eventstore.channel_state(store, name)
    for number in range(6):  # the sixth is held by max_per_hour = 5
        add_logins(store, number, 1)
        run_once(store, dict.fromkeys(NAMES, SENT), got, START + number)
    assert eventstore.channel_state(store, "ntfy").holding
    run_once(store, dict.fromkeys(NAMES, SENT), got, START + 3700)  # the one held goes alone
    assert len(got["ntfy"]) == 6 and not eventstore.channel_state(store, "ntfy").holding
    store.close()
