"""The fan-out to the event channels, pinned whole: which events each channel gets and in what order, the state
each outcome leaves (backoff, Retry-After, a jumped clock), the hourly hold, syslog and journald taking every
login, the meta keys, the log lines, the hook's release, and the Channels of a run around it all. Real SQLite,
real local sockets for syslog and journald, plain callables for the push channels, held clocks."""

import os
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, cast

import pytest

from app.channels.base import MAX_WAIT, REFUSED, RETRY, SENT, Event, Outcome
from app.check.context import RunParts
from app.check.events import login_event
from app.check.fanout import (CHANNEL_DEADLINE, LAST_ATTEMPT, LONG_WAIT, REFUSED_META, WAIT_META, Channels, Fanout,
                              Send, backoff, channel_sender, plan_channel)
from app.check.handoff import HandOff
from app.settings.config import AlertPolicy
from app.store import eventstore
from app.store.history import EMAILED, HistoryEntry
from app.store.store import Store
from app.system.paths import Paths
from support.outboxdoubles import Log

NOW = time.time()


class Config:
    """The parts of a config the fan-out reads."""

    def __init__(self, channels: Sequence[str], policy: AlertPolicy) -> None:
        self.channels = tuple(channels)
        self.policy = policy
        self.channel_options: Dict[str, Dict[str, str]] = {}


POLICY = AlertPolicy(max_per_hour=5, digest_after=3)


class Scripted:
    """A channel's sender: answers with the next of answers (the last one again when they run out), keeps what it got."""

    def __init__(self, *answers: Outcome) -> None:
        self.answers = list(answers)
        self.got: List[Event] = []

    def __call__(self, event: Event) -> Outcome:
        self.got.append(event)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def entry(number: int) -> HistoryEntry:
    return HistoryEntry(time="", epoch=NOW - 600 + number, user="alice", ip="203.0.113.{}".format(number),
                        rdns="", methods=("publickey",), key="", key_comment="", kind="interactive", outcome=EMAILED,
                        new_ip=False, trusted=False, log_key="1:1:{}".format(number))


def add_login(store: Store, number: int, alert: bool = True) -> Event:
    event = login_event(entry(number), "login-{}".format(number), "web1")
    with store.transaction():
        eventstore.add_events(store, [(event, alert, "conn-{}".format(number))])
    return event


def run(store: Store, senders: Dict[str, Callable[[Event], Outcome]], now: float, log: Optional[Log] = None,
        on_sent: Optional[Callable[[Sequence[str]], None]] = None) -> Tuple[Fanout, int]:
    """One flush at the held time now: plan every channel, send, record; returns the fan-out and how many were sent."""
    plans = {name: plan_channel(store, name, cast(Any, Config(tuple(senders), POLICY)), "web1", now) for name in senders}
    fanout = Fanout(store, senders, cast(Any, log or Log()), on_sent or (lambda connections: None), clock=lambda: now)
    fanout.start(plans)
    return fanout, fanout.collect()


def state_of(store: Store, name: str) -> Tuple[Any, ...]:
    state = eventstore.channel_state(store, name)
    return (state.last_ok, state.last_error, state.last_error_time, state.not_before, state.failures, state.holding)


def test_the_stored_names_and_texts_are_the_ones_earlier_runs_wrote() -> None:
    assert (REFUSED_META, WAIT_META, LAST_ATTEMPT) == ("channel_refused", "channel_waits", "channels_attempt")
    assert LONG_WAIT.format(asked=7200.4, detail="HTTP 429") == \
        "asked us to wait 7200 s; retried within the hour instead (HTTP 429)"
    assert CHANNEL_DEADLINE == 20.0
    assert [backoff(failures) for failures in range(0, 9)] == [30.0, 30.0, 60.0, 120.0, 240.0, 480.0, 960.0,
                                                                1800.0, 1800.0]


def test_each_channel_gets_its_events_in_order_and_each_outcome_leaves_its_whole_state(store: Store) -> None:
    names = ("ntfy", "telegram", "webhook", "pushover", "gotify", "matrix", "syslog", "journald")
    for name in names:
        eventstore.channel_state(store, name)
    events = [add_login(store, 0), add_login(store, 1, alert=False), add_login(store, 2)]
    with store.transaction():
        store.put("channel_refused", {"ntfy": "HTTP 401", "gotify": "HTTP 403"})
        store.put("channel_waits", {"ntfy": "long", "webhook": "long"})

    def broken(event: Event) -> Outcome:
        raise ValueError("boom")

    senders: Dict[str, Any] = {
        "ntfy": Scripted(Outcome(SENT)), "telegram": Scripted(Outcome(RETRY, "HTTP 503")),
        "webhook": Scripted(Outcome(RETRY, "HTTP 429", 7200.0)), "pushover": Scripted(Outcome(RETRY, "HTTP 429", 3600.0)),
        "gotify": Scripted(Outcome(REFUSED, "HTTP 401")), "matrix": broken,
        "syslog": Scripted(Outcome(SENT)), "journald": Scripted(Outcome(RETRY, "socket gone"))}
    log, settled = Log(), []  # type: Tuple[Log, List[Tuple[str, ...]]]
    fanout, sent = run(store, senders, NOW, log, lambda connections: settled.append(tuple(connections)))

    assert sent == 2 + 3  # ntfy's two alerts, syslog's three logins
    assert senders["ntfy"].got == [events[0], events[2]]
    assert senders["syslog"].got == events  # the recorded-only login too
    assert senders["journald"].got == [events[0]]  # stops at its first failure
    for name in ("telegram", "webhook", "pushover", "gotify"):
        assert senders[name].got == [events[0]], name
    assert settled == [("conn-0",), ("conn-2",)]  # only what left the machine releases the hook
    assert fanout.running == {}
    assert state_of(store, "ntfy") == (NOW, None, None, None, 0, False)
    assert state_of(store, "syslog") == (NOW, None, None, None, 0, False)
    assert state_of(store, "telegram") == (None, "HTTP 503", NOW, NOW + 30.0, 1, False)
    assert state_of(store, "webhook") == (None, "HTTP 429", NOW, NOW + MAX_WAIT, 1, False)
    assert state_of(store, "pushover") == (None, "HTTP 429", NOW, NOW + 3600.0, 1, False)
    assert state_of(store, "gotify") == (None, "HTTP 401", NOW, None, 0, False)
    assert state_of(store, "matrix") == (None, "ValueError: boom", NOW, NOW + 30.0, 1, False)
    assert state_of(store, "journald") == (None, "socket gone", NOW, None, 1, False)  # local logs: every run
    assert fanout.failed == {"telegram": "HTTP 503", "webhook": "HTTP 429", "pushover": "HTTP 429",
                             "matrix": "ValueError: boom", "journald": "socket gone"}
    assert fanout.refused == [("gotify", "HTTP 401")]
    assert fanout.long_waits == [("webhook", "asked us to wait 7200 s; retried within the hour instead (HTTP 429)")]
    assert [item.connection for item in eventstore.pending(store, eventstore.channel_state(store, "gotify"), True)] \
        == ["conn-2"]  # refused for the first only
    assert store.get("channel_refused") == {"gotify": "HTTP 403"}  # ntfy works again: told again next time
    assert store.get("channel_waits") == {"webhook": "long"}
    title = events[0]["title"]
    assert sorted(log.lines) == sorted([
        ("info", "ntfy: sent " + title), ("info", "ntfy: sent " + events[2]["title"]),
        ("info", "syslog: sent " + title), ("info", "syslog: sent " + events[1]["title"]),
        ("info", "syslog: sent " + events[2]["title"]),
        ("warning", "telegram: HTTP 503; retried after 30 s"), ("warning", "webhook: HTTP 429; retried after 3600 s"),
        ("warning", "pushover: HTTP 429; retried after 3600 s"), ("warning", "matrix: ValueError: boom; retried after 30 s"),
        ("warning", "journald: socket gone; retried on the next run"),
        ("error", "gotify refused {} for good: HTTP 401".format(title))])


def test_a_failure_is_logged_once_while_it_lasts_and_again_after_a_recovery_and_the_backoff_grows(
        store: Store) -> None:
    eventstore.channel_state(store, "ntfy")
    add_login(store, 0)
    failing = Outcome(RETRY, "HTTP 503")
    sender = Scripted(failing, failing, Outcome(SENT), failing, failing, failing)
    log, now, waits = Log(), NOW, []
    for _ in range(6):
        if not eventstore.pending(store, eventstore.channel_state(store, "ntfy"), True):
            add_login(store, len(sender.got) + 10)
        run(store, {"ntfy": sender}, now, log)
        state = eventstore.channel_state(store, "ntfy")
        waits.append(None if state.not_before is None else state.not_before - now)
        now += 4000.0
    assert waits == [30.0, 60.0, None, 30.0, 60.0, 120.0]
    assert [line for line in log.lines if line[0] == "warning"] == [
        ("warning", "ntfy: HTTP 503; retried after 30 s"), ("warning", "ntfy: HTTP 503; retried after 30 s")]


def test_a_wait_blocks_only_until_its_time_and_a_wait_two_days_ahead_is_a_jumped_clock(store: Store) -> None:
    eventstore.channel_state(store, "ntfy")
    add_login(store, 0)
    blocked = {}
    for offset in (-5.0, 0.0, 1.0, 3600.0, 172799.0, 172800.0, 172801.0, 216000.0, 300000.0):
        eventstore.set_holding(store, "ntfy", False, NOW + offset)
        blocked[offset] = plan_channel(store, "ntfy", cast(Any, Config(("ntfy",), POLICY)), "web1", NOW) == []
    assert blocked == {-5.0: False, 0.0: False, 1.0: True, 3600.0: True, 172799.0: True, 172800.0: False,
                       172801.0: False, 216000.0: False, 300000.0: False}


def test_the_hourly_limit_holds_until_the_oldest_send_leaves_the_hour_then_one_digest_carries_the_backlog(
        store: Store) -> None:
    eventstore.channel_state(store, "ntfy")
    sender, settled = Scripted(Outcome(SENT)), []  # type: Tuple[Scripted, List[Tuple[str, ...]]]
    for number in range(5):
        add_login(store, number)
        run(store, {"ntfy": sender}, NOW + number * 10)
    for number in range(5, 9):
        add_login(store, number)
    fanout, sent = run(store, {"ntfy": sender}, NOW + 100, on_sent=lambda connections: settled.append(tuple(connections)))
    assert sent == 0 and len(sender.got) == 5
    assert state_of(store, "ntfy")[3:] == (NOW + 3600.0, 0, True)
    assert plan_channel(store, "ntfy", cast(Any, Config(("ntfy",), POLICY)), "web1", NOW + 3599) == []
    later = NOW + 3601
    plan = plan_channel(store, "ntfy", cast(Any, Config(("ntfy",), POLICY)), "web1", later)
    assert len(plan) == 1 and plan[0].event["type"] == "digest"
    assert plan[0].connections == ("conn-5", "conn-6", "conn-7", "conn-8")
    batch = eventstore.channel_state(store, "ntfy").batch
    assert batch == {"rows": list(plan[0].rows), "event": plan[0].event, "connections": list(plan[0].connections)}
    again = plan_channel(store, "ntfy", cast(Any, Config(("ntfy",), POLICY)), "web1", later + 1)
    assert again == plan
    fanout = Fanout(store, {"ntfy": sender}, cast(Any, Log()), lambda connections: settled.append(tuple(connections)),
                    clock=lambda: later)
    fanout.start({"ntfy": plan})
    assert fanout.collect() == 4
    assert settled == [("conn-5", "conn-6", "conn-7", "conn-8")]
    assert state_of(store, "ntfy") == (later, None, None, None, 0, False)
    assert eventstore.channel_state(store, "ntfy").batch is None


def test_a_channel_that_does_not_answer_in_time_is_recorded_as_failed_in_its_daemon_thread(store: Store) -> None:
    for name in ("ntfy", "gotify"):
        eventstore.channel_state(store, name)
    event = add_login(store, 0)
    release = threading.Event()

    def hung(event: Event) -> Outcome:
        release.wait(10)
        return Outcome(SENT)

    log = Log()
    untitled = {key: value for key, value in event.items() if key != "title"}
    row = eventstore.pending(store, eventstore.channel_state(store, "ntfy"), True)[0].row
    fanout = Fanout(store, {"ntfy": hung, "gotify": Scripted(Outcome(REFUSED, "HTTP 401")), "telegram": hung},
                    cast(Any, log), clock=lambda: NOW)
    fanout.start({"ntfy": [Send((row,), event, ("conn-0",))], "gotify": [Send((row,), untitled, ())], "telegram": []})
    threads = {thread.name: thread.daemon for thread in threading.enumerate() if thread.name.startswith("channel-")}
    try:
        assert threads.get("channel-ntfy") is True
        assert fanout.collect(deadline=1.0) == 0
    finally:
        release.set()
    assert state_of(store, "ntfy") == (None, "no answer within 1 s", NOW, NOW + 30.0, 1, False)
    assert fanout.failed == {"ntfy": "no answer within 1 s"} and fanout.running == {}
    assert ("error", "gotify refused  for good: HTTP 401") in log.lines


def test_a_slow_answer_within_the_deadline_is_waited_for_and_an_event_without_a_title_logs_an_empty_one(
        store: Store) -> None:
    eventstore.channel_state(store, "ntfy")
    event = add_login(store, 0)
    row = eventstore.pending(store, eventstore.channel_state(store, "ntfy"), True)[0].row
    log = Log()

    def slow(event: Event) -> Outcome:
        time.sleep(0.3)
        return Outcome(SENT)

    fanout = Fanout(store, {"ntfy": slow}, cast(Any, log), clock=lambda: NOW)
    fanout.start({"ntfy": [Send((row,), {"id": event["id"]}, ())]})
    assert fanout.collect() == 1 and log.lines == [("info", "ntfy: sent ")]


def test_channel_senders_are_syslog_journald_or_push_by_name(tmp_path: Path) -> None:
    config = cast(Any, Config(("email", "ntfy"), AlertPolicy(syslog=True, journald=True)))
    paths = Paths.from_environ({"HOME": str(tmp_path)})
    assert channel_sender("syslog", config, paths).__module__ == "app.channels.syslog"
    assert channel_sender("journald", config, paths).__module__ == "app.channels.journald"
    assert channel_sender("ntfy", config, paths).__module__ == "app.channels.push"


@pytest.fixture
def sockets() -> Iterator[Tuple[str, socket.socket, socket.socket]]:
    """A directory with a syslog and a journald datagram socket bound in it (short path: AF_UNIX's limit)."""
    directory = tempfile.mkdtemp(prefix="fo", dir="/tmp")
    syslog, journald = (socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) for _ in range(2))
    syslog.bind(os.path.join(directory, "log"))
    journald.bind(os.path.join(directory, "journal"))
    for sock in (syslog, journald):
        sock.settimeout(0.01)
    yield directory, syslog, journald
    syslog.close()
    journald.close()
    shutil.rmtree(directory)


def datagrams(sock: socket.socket) -> List[bytes]:
    got = []
    try:
        while True:
            got.append(sock.recv(65536))
    except socket.timeout:
        return got


def parts_for(store: Store, tmp_path: Path, config: Config, log: Log) -> RunParts:
    envelope = cast(Any, type("Envelope", (), {"host": "web1"}))
    return RunParts(Paths.from_environ({"HOME": str(tmp_path)}), store, cast(Any, config), envelope, cast(Any, log))


def test_a_run_without_event_channels_starts_and_sends_nothing(store: Store, tmp_path: Path) -> None:
    add_login(store, 0)
    channels = Channels(parts_for(store, tmp_path, Config(("email",), POLICY), Log()), HandOff("", None))
    channels.start()
    assert channels.collect() == 0 and channels.fanout is None and store.get(LAST_ATTEMPT) is None


def test_the_local_logs_get_every_login_and_a_log_that_fails_is_reported_while_it_waits(
        store: Store, tmp_path: Path, sockets: Tuple[str, socket.socket, socket.socket]) -> None:
    directory, syslog, journald = sockets
    policy = AlertPolicy(max_per_hour=5, digest_after=3, syslog=True, syslog_socket=os.path.join(directory, "log"),
                         journald=True, journald_socket=os.path.join(directory, "journal"))
    for name in ("syslog", "journald"):
        eventstore.channel_state(store, name)
    add_login(store, 0)
    add_login(store, 1, alert=False)
    channels = Channels(parts_for(store, tmp_path, Config(("email",), policy), Log()), HandOff("conn-0", None))
    before = time.time()
    channels.start()
    assert channels.collect() == 4
    assert before <= store.get("channels_attempt") <= time.time()
    assert len(datagrams(syslog)) >= 2 and len(datagrams(journald)) >= 2
    assert store.get(eventstore.CHANNELS_PENDING) is False
    assert channels.collect() == 0  # nothing started since

    journald.close()
    os.unlink(os.path.join(directory, "journal"))
    add_login(store, 2, alert=False)
    channels.start()
    channels.finish()  # collects what was started
    assert channels.fanout is None
    assert [detail.split(":")[0] for _, detail in channels.take_failed()] == [
        "cannot write to journald at {}".format(os.path.join(directory, "journal"))]
    assert channels.take_failed() == []
    assert store.get(eventstore.CHANNELS_PENDING) is True  # journald still owes the recorded-only login
    assert eventstore.channel_state(store, "syslog").last_ok is not None


def test_a_run_releases_the_hook_at_its_login_and_reports_refusals_long_waits_and_failures_once(
        store: Store, tmp_path: Path) -> None:
    names = ("ntfy", "gotify", "webhook")
    for name in names:
        eventstore.channel_state(store, name)
    add_login(store, 0)
    add_login(store, 1, alert=False)
    reader, writer = os.pipe()
    channels = Channels(parts_for(store, tmp_path, Config(("email",) + names, POLICY), Log()), HandOff("conn-0", writer))
    ntfy = Scripted(Outcome(SENT))
    channels.senders = {"ntfy": ntfy, "gotify": Scripted(Outcome(REFUSED, "HTTP 401")),
                        "webhook": Scripted(Outcome(RETRY, "HTTP 429", 7200.0))}
    channels.start()
    assert channels.collect() == 1
    assert os.read(reader, 1) == b"1"
    os.close(reader)
    assert len(ntfy.got) == 1
    assert channels.take_refused() == [("gotify", "HTTP 401")] and channels.take_refused() == []
    assert channels.take_long_waits() == [
        ("webhook", "asked us to wait 7200 s; retried within the hour instead (HTTP 429)")]
    assert channels.take_long_waits() == []
    assert channels.take_failed() == [("webhook", "HTTP 429")] and channels.take_failed() == []
    assert store.get(eventstore.CHANNELS_PENDING) is True

    with store.transaction():
        store.put("channels_attempt", 1.0)
    channels.start()  # everything waits: no attempt, no fan-out
    assert channels.fanout is None and store.get("channels_attempt") == 1.0
    eventstore.record_outcome(store, "webhook", [row.row for row in eventstore.pending(
        store, eventstore.channel_state(store, "webhook"), True)], Outcome(SENT), NOW)
    assert channels.collect() == 0 and store.get(eventstore.CHANNELS_PENDING) is False  # the recorded-only login waits for none


def test_a_channel_that_hangs_after_a_delivery_keeps_that_delivery_and_waits_its_backoff(store: Store) -> None:
    eventstore.channel_state(store, "ntfy")
    events = [add_login(store, 0), add_login(store, 1)]
    release, got = threading.Event(), []  # type: Tuple[threading.Event, List[Event]]

    def hangs_second(event: Event) -> Outcome:
        got.append(event)
        if len(got) > 1:
            release.wait(10)
        return Outcome(SENT)

    fanout = Fanout(store, {"ntfy": hangs_second}, cast(Any, Log()), clock=lambda: NOW)
    fanout.start({"ntfy": plan_channel(store, "ntfy", cast(Any, Config(("ntfy",), POLICY)), "web1", NOW)})
    try:
        assert fanout.collect(deadline=1.0) == 1
    finally:
        release.set()
    assert got == events
    assert state_of(store, "ntfy") == (NOW, "no answer within 1 s", NOW, NOW + 30.0, 1, False)
    assert [item.connection for item in eventstore.pending(store, eventstore.channel_state(store, "ntfy"), True)] \
        == ["conn-1"]
