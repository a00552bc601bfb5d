"""Sending the stored events through every push channel and syslog, in parallel, each channel on its own.

Per channel, in the main thread: what is pending for it, its hourly limit and digest (app.check.policy,
the same rules as email), a digest noted before it is sent so a retry sends the same one. Each channel's
requests then run in a thread of their own, so a slow or dead channel delays neither email nor the others;
the main thread records each outcome as it arrives (SQLite stays in one thread). A channel that answered
"retry" (408, 425, 429, 5xx, a temporary redirect, a reply that proves nothing, the network) waits
(Retry-After up to an hour, a longer one told once; else the same growing back-off for every channel); one
that refused (301, 308, other 4xx) is reported and not retried for that event. Only a delivery that left
the machine releases the waiting login hook: a line written to the local syslog does not.
"""

from __future__ import annotations

import time

from app.store import eventstore
from app.check import policy
from app.store.eventstore import JOURNALD, LOG_CHANNELS, SYSLOG, event_channels
from app.check.events import digest_event
from app.channels.base import MAX_WAIT, REFUSED, RETRY, SENT, Event, Outcome
from app.check.handoff import HandOff
from app.system.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Dict, List, Optional, Sequence, Tuple

    from app.check.context import RunParts
    from app.settings.config import Config
    from app.store.store import Store
    from app.system.oplog import OperationalLog
    from app.system.paths import Paths

REFUSED_META, WAIT_META = "channel_refused", "channel_waits"  # store meta: what was told once, by channel

LAST_ATTEMPT = "channels_attempt"  # meta: when the channels were last sent to
CHANNEL_DEADLINE = 20.0  # seconds one channel's requests may take in one run
MAX_BACKOFF = 1800.0
LONG_WAIT = "asked us to wait {asked:.0f} s; retried within the hour instead ({detail})"


class Send(Record):
    rows: Tuple[int, ...]  # the stored events this request delivers (several for a digest)
    event: Event
    connections: Tuple[str, ...]


class Report(Record):
    channel: str
    send: Optional[Send]  # None: the channel's thread has finished
    outcome: Optional[Outcome]


def backoff(failures: int) -> float:
    """Seconds to wait after the failures-th transient failure in a row: 30 s doubling, at most 30 minutes."""
    return float(min(30.0 * 2 ** max(0, failures - 1), MAX_BACKOFF))


def plan_channel(store: "Store", name: str, config: "Config", host: str, now: float) -> List[Send]:
    """What to send to one channel now (nothing while it must wait); notes holds and digests in the store."""
    state = eventstore.channel_state(store, name)
    if state.not_before is not None and now < state.not_before < now + 2 * 86400:  # a jumped clock does not block
        return []
    if state.batch is not None:
        batch = state.batch
        return [Send(tuple(batch["rows"]), batch["event"], tuple(batch.get("connections", ())))]
    found = eventstore.pending(store, state, alerts_only=name not in LOG_CHANNELS)
    if name in LOG_CHANNELS:  # no limit and no digest: the fleet's log gets every login, one line each
        return [Send((item.row,), item.event, (item.connection,)) for item in found]
    limits = config.policy
    times = eventstore.send_times(store, name, now)
    left = policy.emails_left(times, now, limits.max_per_hour)
    plan = policy.plan_sends(len(found), left, limits.digest_after, state.holding)
    if plan.held:
        eventstore.set_holding(store, name, True, policy.next_free(times, now, limits.max_per_hour))
        return []
    if not plan.digest:
        return [Send((item.row,), item.event, (item.connection,)) for item in found]
    digest = digest_event([item.event for item in found], host, now)
    send = Send(tuple(item.row for item in found), digest, tuple(item.connection for item in found if item.connection))
    eventstore.set_batch(store, name, {"rows": list(send.rows), "event": digest, "connections": list(send.connections)})
    return [send]


def channel_sender(name: str, config: "Config", paths: "Paths") -> Callable[[Event], Outcome]:
    """The send function of an event channel: syslog, or a push channel (app.channels.push)."""
    if name == SYSLOG:
        from app.channels.syslog import sender

        policy = config.policy
        return sender(policy.syslog_socket, policy.syslog_facility, policy.syslog_format, policy.syslog_target)
    if name == JOURNALD:
        from app.channels.journald import sender as journald_sender

        return journald_sender(config.policy.journald_socket)
    from app.channels.push import sender as push_sender

    return push_sender(name, config, paths)


class Fanout:
    """One run's sending to the event channels: start() the threads, then collect() their outcomes."""

    def __init__(self, store: "Store", senders: Dict[str, Callable[[Event], Outcome]], log: "OperationalLog",
                 on_sent: Callable[[Sequence[str]], None] = lambda connections: None,
                 clock: Callable[[], float] = time.time) -> None:
        self.store, self.senders, self.log, self.on_sent, self.clock = store, senders, log, on_sent, clock
        import queue  # imported here: a run without event channels never starts a thread

        self.reports: "queue.Queue[Report]" = queue.Queue()
        self.running: Dict[str, Send] = {}  # channel -> the send it is on
        self.refused: List[Tuple[str, str]] = []  # (channel, detail) refused for good in this run
        self.long_waits: List[Tuple[str, str]] = []  # (channel, detail) asked to wait longer than MAX_WAIT
        self.failed: Dict[str, str] = {}  # channel -> detail: failed for now in this run, its events stay pending

    def start(self, plans: Dict[str, List[Send]]) -> None:
        """Send each channel's plan in a thread of its own (daemon: a hung server cannot keep the run alive)."""
        import threading

        for name, sends in plans.items():
            if sends and name in self.senders:
                self.running[name] = sends[0]
                threading.Thread(target=self._send_all, args=(name, sends), name="channel-" + name,
                                 daemon=True).start()

    def _send_all(self, name: str, sends: Sequence[Send]) -> None:
        try:
            for send in sends:
                try:
                    outcome = self.senders[name](send.event)
                except Exception as error:  # noqa: BLE001 - one channel's bug must not stop the others
                    outcome = Outcome(RETRY, "{}: {}".format(type(error).__name__, error))
                if outcome.state == SENT and name not in LOG_CHANNELS:
                    # the waiting hook goes on at the first delivery that left the machine: a line written to
                    # the local syslog or journal has not, and an intruder's first command could still stop the rest
                    self.on_sent(send.connections)
                self.reports.put(Report(name, send, outcome))
                if outcome.state != SENT:
                    break
        finally:
            self.reports.put(Report(name, None, None))

    def collect(self, deadline: float = CHANNEL_DEADLINE) -> int:
        """Record every outcome as it arrives, until all channels finished or deadline seconds passed; returns
        how many events were sent. A channel still running then is recorded as failed and retried later."""
        import queue

        end = time.monotonic() + deadline
        sent = 0
        while self.running:
            try:
                report = self.reports.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                break
            if report.send is None:
                self.running.pop(report.channel, None)
                continue
            self.running[report.channel] = report.send
            sent += self._record(report)
        for name, send in self.running.items():  # it may still deliver: the retry carries the same event id
            self._record(Report(name, send, Outcome(RETRY, "no answer within {:g} s".format(deadline))))
        self.running = {}
        return sent

    def _record(self, report: Report) -> int:
        name, send, outcome = report
        assert send is not None and outcome is not None
        now = self.clock()
        state = eventstore.channel_state(self.store, name)
        not_before = None
        if outcome.state == RETRY and name not in LOG_CHANNELS:  # local logs are retried on every run
            # the server's Retry-After (capped at an hour), else the same growing back-off for every channel
            not_before = now + (min(outcome.retry_after, MAX_WAIT) if outcome.retry_after is not None
                                else backoff(state.failures + 1))
            if outcome.retry_after is not None and outcome.retry_after > MAX_WAIT:
                self.long_waits.append((name, LONG_WAIT.format(asked=outcome.retry_after, detail=outcome.detail)))
        eventstore.record_outcome(self.store, name, send.rows, outcome, now, not_before)
        if outcome.state == SENT:
            self.log.info("{}: sent {}".format(name, send.event.get("title", "")))
            for meta in (REFUSED_META, WAIT_META):  # it works again: a new refusal or long wait is told again
                if name in (self.store.get(meta) or {}):
                    with self.store.transaction():
                        self.store.put(meta, {key: value for key, value in self.store.get(meta).items()
                                              if key != name})
            return len(send.rows)
        if outcome.state == RETRY:
            self.failed[name] = outcome.detail
        if outcome.state == REFUSED:
            self.refused.append((name, outcome.detail))
            self.log.error("{} refused {} for good: {}".format(name, send.event.get("title", ""), outcome.detail))
        elif state.last_error != outcome.detail or state.last_ok is not None and state.failures == 0:
            # said once while the same failure lasts: a channel down for a day does not fill the log
            self.log.warning("{}: {}; retried {}".format(name, outcome.detail, "on the next run" if not_before is None
                                                         else "after {:.0f} s".format(not_before - now)))
        return 0


class Channels:
    """The event channels of one check run: senders made once (secrets resolved once), a fan-out per flush."""

    def __init__(self, parts: "RunParts", handoff: HandOff) -> None:
        self.store, self.config, self.paths, self.host, self.log = (parts.store, parts.config, parts.paths,
                                                                    parts.envelope.host, parts.log)
        self.handoff = handoff
        self.names = event_channels(parts.config)
        self.senders: Optional[Dict[str, Callable[[Event], Outcome]]] = None
        self.fanout: Optional[Fanout] = None
        self.refused: List[Tuple[str, str]] = []  # (channel, detail) refused for good during the run
        self.long_waits: List[Tuple[str, str]] = []  # (channel, detail) asked to wait more than an hour
        self.failed: Dict[str, str] = {}  # channel -> detail: failed for now during the run (events stay pending)

    def start(self) -> None:
        """Start sending what is pending for each channel (nothing to do without event channels)."""
        if not self.names:
            return
        if self.senders is None:
            self.senders = {name: channel_sender(name, self.config, self.paths) for name in self.names}
        now = time.time()
        plans = {name: plan_channel(self.store, name, self.config, self.host, now) for name in self.names}
        if not any(plans.values()):
            return
        with self.store.transaction():  # proves the outcomes can be recorded: a store that cannot commit
            self.store.put(LAST_ATTEMPT, now)  # (raises here) sends nothing, rather than the same again each run
        self.fanout = Fanout(self.store, self.senders, self.log, self.handoff.progress)
        self.fanout.start(plans)

    def collect(self) -> int:
        """Wait for the channels started last and record their outcomes; returns how many events were sent."""
        if not self.names:
            return 0
        sent = 0
        if self.fanout is not None:
            fanout, self.fanout = self.fanout, None
            sent = fanout.collect()
            self.refused.extend(fanout.refused)
            self.long_waits.extend(fanout.long_waits)
            self.failed.update(fanout.failed)
        left = any(eventstore.pending(self.store, eventstore.channel_state(self.store, name),
                                      alerts_only=name not in LOG_CHANNELS, limit=1) for name in self.names)
        if bool(self.store.get(eventstore.CHANNELS_PENDING)) != left:
            with self.store.transaction():
                self.store.put(eventstore.CHANNELS_PENDING, left)
        return sent

    def take_refused(self) -> List[Tuple[str, str]]:
        """The (channel, detail) refusals collected since the last call."""
        taken, self.refused = self.refused, []
        return taken

    def take_long_waits(self) -> List[Tuple[str, str]]:
        """The (channel, detail) waits longer than an hour asked for since the last call."""
        taken, self.long_waits = self.long_waits, []
        return taken

    def take_failed(self) -> List[Tuple[str, str]]:
        """(channel, detail) of the channels whose delivery failed for now during the run, once each."""
        taken, self.failed = sorted(self.failed.items()), {}
        return [(name, detail) for name, detail in taken if eventstore.pending(
            self.store, eventstore.channel_state(self.store, name), alerts_only=name not in LOG_CHANNELS, limit=1)]

    def finish(self) -> None:
        """Collect a fan-out still running (a flush that raised)."""
        if self.fanout is not None:
            self.collect()
