"""From pending log lines to messages in the outbox, in order, each sent as soon as it is stored.

The Decider (app.check.decide) parses and decides a batch of lines; here each login is posted one email at a
time, as one digest, or held by the hourly limit. Each message is posted to the outbox in the same transaction
that records the lines it covers (position, history, sources, recent connections), then sent by the run's
Sender (app.check.sender). A held or failed alert stops the run there: what follows stays pending.
"""

from __future__ import annotations

import itertools
import os
import time

from app.store import history, outbox
from app.check import policy
from app.store.eventstore import add_events, event_channels
from app.check.context import RunParts, date_now
from app.check.decide import UNLOGGED, Decider, Item, connections, kind_of, log_key, login_identity
from app.check.handoff import NO_HANDOFF, HandOff
from app.check.render import build_alert, build_digest
from app.logins.statediff import Segment
from app.store.rows import Seen
from app.store.store import Store
from app.system.files import open_regular_file
from app.logins.loginlog import STALE_PARTIAL_SECONDS, Entry, Position, anchor_at, read_entries
from app.system.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Dict, List, Optional, Sequence, Tuple

    from app.check.render import Message

    from app.check.sender import Sender

MAX_BATCH = 5000  # lines held in memory at once; a longer backlog is handled batch after batch
HELD_WARNING = "held"
HELD = "{count} alert(s) held by max_per_hour = {limit}; they go out as one digest at {when}"
LIMIT_DIGEST = "limit_digest"  # meta: when the last digest beyond the hourly limit was posted


class Outgoing(Record):
    """A message to post with the lines it covers."""

    message: "Message"
    logins: int  # how many logins it reports
    routed: Tuple[str, ...] = ()  # the [users] addresses that also get it


class Dispatcher:
    """One check run's alerting of log lines: posts each decision to the outbox, then has sender send it."""

    def __init__(self, parts: RunParts, sender: "Sender", handoff: HandOff = NO_HANDOFF,
                 stamp: Callable[[], str] = date_now) -> None:
        self.parts, self.store, self.config, self.envelope = parts, parts.store, parts.config, parts.envelope
        self.sender, self.handoff, self.stamp = sender, handoff, stamp
        self.policy = parts.config.policy
        self.decider = Decider(parts)
        self.event_channels = event_channels(parts.config)
        self.held = False  # email is held (hourly limit) or failed: the rest of the log is read for the channels only

    # --- reading -----------------------------------------------------------------------------------------

    def segment(self, segment: Segment) -> bool:
        """Alert every pending line of segment; returns False when the hourly limit held some back."""
        if self.held and not self.event_channels:
            return False
        with open_regular_file(segment.path, "rb") as handle:
            stale = time.time() - os.fstat(handle.fileno()).st_mtime > STALE_PARTIAL_SECONDS
            entries = read_entries(handle, segment.start, include_partial=stale)
            read_any = False
            while True:
                batch = list(itertools.islice(entries, MAX_BATCH))
                if not batch:
                    break
                read_any = True
                if self.held:
                    if not self.event_channels:
                        return False
                    self._post_events(segment, self.decider.items(batch))
                elif not self._deliver(segment, self.decider.items(batch)):
                    self.held = True
            if not read_any and not self.held:  # e.g. a new or truncated log with no complete line yet: start there
                start = Position(segment.device, segment.inode, segment.start, anchor_at(handle, segment.start))
                if start != self.store.position():
                    with self.store.transaction():
                        self.store.set_position(start)
        return not self.held

    def unlogged(self, line: bytes) -> None:
        """Alert a login whose line the hook could not append (app.check.unrecorded builds it from the hook's
        environment): the identity its line would have had; the log position stays where it is."""
        segment = Segment(UNLOGGED, 0, 0, 0)
        if not self.held:
            self._deliver(segment, self.decider.items([Entry(line, 0, "")]))

    # --- posting and committing --------------------------------------------------------------------------

    def _deliver(self, segment: Segment, items: List[Item]) -> bool:
        """Post and send the logins of items: one email each, one digest, or held by the hourly limit. Returns
        False when email is held or failed (the rest of the log then goes to the channels only)."""
        emailable = [index for index, item in enumerate(items) if not item.repeat and item.decision is not None
                     and item.decision.email] if self.config.emails else []
        now = time.time()
        send_times = self.store.send_times(now)
        left = policy.emails_left(send_times, now, self.policy.max_per_hour)
        plan = policy.plan_sends(len(emailable), left, self.policy.digest_after, bool(self.store.get("holding")))
        beyond_limit = None
        if plan.held:  # the limit never opens the door: the held logins go out now as a digest, digests rate-limited
            last = self.store.get(LIMIT_DIGEST)
            when = policy.limit_digest_at(float(last) if last is not None else None, now)
            if when <= now:
                plan, beyond_limit = policy.SendPlan(digest=True, held=False), now
        if plan.held:
            held = items[:emailable[0]]
            self._post(segment, held, history.EMAILED, extra=lambda store: store.put("holding", True))
            self._post_events(segment, items[emailable[0]:])
            # The waiting hook is not released: it waits its hook_wait; the next run after `when` sends the digest.
            self.parts.log_once(HELD.format(count=len(emailable), limit=self.policy.max_per_hour,
                                            when=time.strftime("%H:%M:%S", time.localtime(when))), key=HELD_WARNING)
            return False
        self.decider.prefetch([items[index] for index in reversed(emailable)])  # newest first: those lead a digest
        if plan.digest:
            return self._digest(segment, items, emailable, beyond_limit)
        return self._one_by_one(segment, items, emailable)

    def _digest(self, segment: Segment, items: List[Item], emailable: List[int], beyond_limit: Optional[float]) -> bool:
        """Post and send the emailable items as one digest (beyond_limit: when the hourly limit was passed for it).
        Returns False when email failed."""
        chosen = [items[index] for index in emailable]
        identity = "{}..{}".format(self._identity(segment, chosen[0]), self._identity(segment, chosen[-1]))
        message = build_digest([(item.record, self.decider.context(item)) for item in chosen], self.envelope,
                               self.stamp(), outbox.message_id(identity, "digest", self.envelope.mail_domain),
                               with_html=self.policy.html)
        self._post(segment, items, history.DIGEST, Outgoing(message, len(chosen)), None if beyond_limit is None
                   else lambda store: store.put(LIMIT_DIGEST, beyond_limit))
        self.sender.expect(str(message["Message-ID"]), connections(items))
        self._send()
        if not self.held:  # released only once the digest has left
            self.handoff.progress(connections(items))
        return not self.held

    def _one_by_one(self, segment: Segment, items: List[Item], emailable: List[int]) -> bool:
        """Post and send one email per emailable item, each with the lines before it. Returns False when email
        failed (the rest goes to the other channels now)."""
        done = 0
        for index in emailable:
            item = items[index]
            message = build_alert(item.record, self.envelope, self.stamp(),
                                  outbox.message_id(self._identity(segment, item), "login",
                                                    self.envelope.mail_domain),
                                  context=self.decider.context(item), with_html=self.policy.html)
            self._post(segment, items[done:index + 1], history.EMAILED,
                       Outgoing(message, 1, self.decider.routed(item.record.user)))
            self.sender.expect(str(message["Message-ID"]), connections(items[done:index + 1]))
            self._send()
            self.handoff.progress(connections(items[done:index + 1]))
            done = index + 1
            if self.held:  # the mail server failed: the rest goes to the other channels now, by email later
                self._post_events(segment, items[done:])
                self.handoff.progress(connections(items))
                return False
        self._post(segment, items[done:], history.EMAILED if self.config.emails else history.ALERTED)
        if self.event_channels and items[done:]:
            self._send()
        self.handoff.progress(connections(items[done:]))  # sent to the channels, or nothing to send
        return True

    def _send(self) -> None:
        """Have the sender send what the outbox holds. When email fails and other channels exist, the run goes on
        for them: the rest of the log is read for the channels only, and email gets it later (as a digest)."""
        try:
            self.sender.send()
        except outbox.SendFailed:
            if not self.event_channels:
                raise
            self.held = True

    def flush_pending(self) -> None:
        """Send what earlier runs stored but could not send (first, in order)."""
        self._send()

    def _identity(self, segment: Segment, item: Item) -> str:
        return login_identity(item.record, log_key(segment, item))

    def _post(self, segment: Segment, items: Sequence[Item], emailed_as: str, outgoing: Optional[Outgoing] = None,
              extra: Optional[Callable[[Store], None]] = None) -> None:
        """Post outgoing's message (or none) with the record of items: position, history, sources, recent
        connections; extra adds to that record."""
        if not items and extra is None:
            return
        entries: List[history.HistoryEntry] = []
        recent: List[Tuple[str, float]] = []
        sources: Dict[Tuple[str, str], Seen] = {}
        events: List[outbox.EventRow] = []
        kinds: List[Tuple[float, str, str, str]] = []
        geo_seen: Dict[str, Dict[str, List[object]]] = {}
        places = self.decider.places
        for item in items:
            record = item.record
            if item.repeat:
                if record.epoch is not None and kind_of(record):  # a later hook saw what the first could not
                    kinds.append((record.epoch, record.ip, record.user, kind_of(record)))
                continue
            if record.connection_key and record.epoch is not None:
                recent.append((record.connection_key, record.epoch))
            entries.append(self.decider.history_entry(segment, item, emailed_as))
            if self.event_channels:
                events.append(self._event(segment, item, entries[-1]))
            if record.parsed:
                key = policy.source_key(record)
                sources[key] = self.decider.seen(key)
            if places is not None and item.entry in places.after:  # as of this login, not the batch's end
                geo_seen[record.user] = places.after[item.entry]

        def apply(store: Store) -> None:
            if items and segment.path != UNLOGGED:
                last = items[-1].entry
                store.set_position(Position(segment.device, segment.inode, last.end, last.anchor))
            store.add_recent(recent)
            store.put_sources(sources)
            store.add_history([history.row(entry) for entry in entries])
            for epoch, ip, user, kind in kinds:
                history.fill_kind(store, epoch, ip, user, kind)
            for user, seen in geo_seen.items():
                store.put("geoseen:" + user, seen)  # app.logins.geoip.SEEN_KEY (geoip loads only when set)
            if extra is not None:
                extra(store)

        message, logins, routed = outgoing if outgoing is not None else (None, 0, ())
        kind = (outbox.ROUTED if routed else "login") if logins == 1 else "digest"
        outbox.post(self.store, message, tuple(self.config.recipients) + routed, kind,
                    outbox.Record(apply, logins, events))

    def _post_events(self, segment: Segment, items: Sequence[Item]) -> None:
        """Store the events of items without moving the log position (email's hourly limit holds them; the
        channels have limits of their own); a login stored before is not stored again."""
        events = [self._event(segment, item, self.decider.history_entry(segment, item, history.HELD))
                  for item in items if not item.repeat]
        if events:
            with self.store.transaction():
                add_events(self.store, events)
            self._send()

    def _event(self, segment: Segment, item: Item, entry: history.HistoryEntry) -> outbox.EventRow:
        """(event, alert, connection) of one login for the event outbox."""
        from app.check.events import login_event  # with the channels' interface: only when a channel takes events

        urgent = bool(item.decision is not None and item.decision.urgent)
        event = login_event(entry, self._identity(segment, item), self.envelope.host, urgent=urgent)
        return event, bool(item.decision is None or item.decision.email), item.record.connection_key
