"""From pending log lines to messages in the outbox, in order (used by the check run).

A batch of lines is read, repeats of one connection merged, each login decided (policy), then posted
one email at a time, as one digest, or held by the hourly limit. Each message is posted to the outbox
in the same transaction that records the lines it covers (position, history, sources, recent
connections), then flushed. A held or failed alert stops the run there: what follows stays pending.
"""

import itertools
import os
import time
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Set, Tuple

from app.store import history, outbox
from app.check import policy
from app.store.eventstore import add_events, event_channels
from app.check.events import login_event
from app.check.handoff import NO_HANDOFF, HandOff
from app.check.render import AlertContext, Envelope, build_alert, build_digest
from app.logins.statediff import Segment, is_repeat, remember
from app.store.rows import OutboxRow, Seen
from app.store.store import Store
from app.settings.config import Config
from app.system.files import open_regular_file
from app.rules.keys import fingerprint
from app.logins.loginline import LoginRecord, merge_login_records, parse_line
from app.logins.loginlog import STALE_PARTIAL_SECONDS, Entry, Position, anchor_at, read_entries
from app.system.paths import SYSTEM_SEEN_DIR, Paths

UNLOGGED = Path("(not in the log)")  # the segment of a login built from the hook's environment (unrecorded)
MAX_BATCH = 5000  # lines held in memory at once; a longer backlog is handled batch after batch
HELD_WARNING = "held"
HELD = "{count} alert(s) held by max_per_hour = {limit}; they go out as one digest at {when}"
LIMIT_DIGEST = "limit_digest"  # meta: when the last digest beyond the hourly limit was posted


class Item(NamedTuple):
    entry: Entry
    record: LoginRecord
    repeat: bool  # another line of a connection already alerted or earlier in this batch
    decision: Optional[policy.Decision]


def kind_of(record: LoginRecord) -> str:
    if record.extra("tty") not in ("", "none"):
        return "interactive"
    return record.extra("kind")


def connections(items: Sequence[Item]) -> List[str]:
    """The connection keys of items (a waiting hook looks for its own)."""
    return [item.record.connection_key for item in items if item.record.connection_key]


def login_identity(record: LoginRecord, log_key: str) -> str:
    """What names one login across runs: its connection and time, else its place in the log."""
    if record.connection_key and record.epoch is not None:
        return "{}|{:.0f}".format(record.connection_key, record.epoch)
    return log_key


class Dispatcher:
    """One check run's alerting of log lines: owns the batch's decisions while it runs."""

    def __init__(self, paths: Paths, config: Config, store: Store, envelope: Envelope,  # type: ignore
                 flush: Callable[[], int], stamp: Callable[[], str], log, handoff: HandOff = NO_HANDOFF) -> None:
        self.paths, self.config, self.store, self.envelope = paths, config, store, envelope
        self.flush, self.stamp, self.log, self.handoff = flush, stamp, log, handoff
        self.policy = config.policy
        self.event_channels = event_channels(config)
        self.held = False  # email is held (hourly limit) or failed: the rest of the log is read for the channels only
        self.email_failure: Optional[outbox.SendFailed] = None
        self._keys: Dict[str, Tuple[bool, Dict[str, List[dict]]]] = {}  # by home: (any key file readable, keys)
        self._contexts: Dict[Entry, AlertContext] = {}  # per batch: the email and the history use one context
        self._waiting: Dict[str, List[str]] = {}  # Message-ID -> the connections its acceptance settles
        self._resolver = None
        self._rules: Optional[Tuple[object, ...]] = None
        self._places = None  # geoip_db: app.logins.geoip.AccountPlaces
        if self.policy.geoip_db:
            from app.store.history import account_places

            self._places = account_places(self.policy.geoip_db, store)
        if self.policy.reverse_dns:
            from app.logins.rdns import ReverseResolver

            self._resolver = ReverseResolver(timeout=self.policy.reverse_dns_timeout)

    # --- reading and deciding ----------------------------------------------------------------------

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
                    self._post_events(segment, self._items(batch))
                elif not self._deliver(segment, self._items(batch)):
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
            self._deliver(segment, self._items([Entry(line, 0, "")]))

    def _items(self, batch: Sequence[Entry]) -> List[Item]:
        """Parse and decide a batch; lines of a connection seen earlier become repeats merged into the first."""
        self._contexts.clear()
        if self._places is not None:
            self._places.clear()
        self._seen: Dict[Tuple[str, str], Optional[Seen]] = {}
        items: List[Item] = []
        recent = self.store.recent() + self._system_seen()
        first_index: Dict[str, int] = {}
        for entry in batch:
            record = parse_line(entry.data)
            connection, epoch = record.connection_key, record.epoch
            if connection and epoch is not None:
                if is_repeat(recent, connection, epoch):
                    index = first_index.get(connection)
                    if index is not None:
                        first = items[index]
                        items[index] = first._replace(record=merge_login_records(first.record, [record]))
                    items.append(Item(entry, record, True, None))
                    continue
                recent = remember(recent, connection, epoch)
                first_index[connection] = len(items)
            key = policy.source_key(record)
            if self._places is not None and record.parsed:
                self._places.locate(entry, record.user, key[1])
            decision = policy.decide_seen(record, self._lookup(key), self.policy)
            if record.parsed and (self.config.rules or self.config.routes or self.policy.work_hours
                                  or record.extra("key")):
                decision = policy.with_verdict(decision, self._verdict(record, entry))
            items.append(Item(entry, record, False, decision))
            if record.parsed:
                self._seen[key] = policy.count_login(self._seen[key], record.epoch or 0.0)
        for problem in self._places.locator.problems if self._places is not None else ():
            self.log_once(problem)  # a broken database: alerts go on without location
        return items

    def _system_seen(self) -> Tuple[Tuple[str, float], ...]:
        """Connections the system-wide mode already alerts (both modes installed): repeats here."""
        if self.paths.system or not os.path.isdir(str(SYSTEM_SEEN_DIR)):
            return ()
        import pwd

        from app.logins.systemseen import system_seen

        return system_seen(pwd.getpwuid(os.getuid()).pw_name)

    def _routed(self, user: str) -> Tuple[str, ...]:
        """The [users] addresses that also get user's login alerts (app.rules.routing)."""
        if not self.config.routes:
            return ()
        from app.rules.routing import addresses_for

        return addresses_for(self.config.routes, user, tuple(self.config.recipients))

    def _verdict(self, record: LoginRecord, entry: Entry):  # type: ignore[no-untyped-def]
        """The [rules], work_hours and authorized_keys verdict on one login (app.rules.rules)."""
        from app.rules.rules import evaluate

        login = {"user": record.user, "ip": record.ip, "kind": kind_of(record),
                 "key_fingerprint": fingerprint(record.extra("key")) if record.extra("key") else ""}
        if self._places is not None:
            login.update(self._places.rule_facts(entry))
        local = time.localtime(record.epoch) if record.epoch is not None else None
        if self._rules is None:  # [rules], then the [users] skips as rules of the same engine
            from app.rules.routing import skip_rules

            self._rules = tuple(self.config.rules) + tuple(skip_rules(list(self.config.routes)))
        return evaluate(self._rules, login, self._authorized_fingerprints(record.user), self.policy.work_hours,
                        local)

    def _home(self, user: str) -> str:
        """The home whose key files count: this account's; in the system-wide mode the login's account's."""
        if not self.paths.system:
            return str(self.paths.home)
        import pwd

        try:
            return pwd.getpwnam(user).pw_dir
        except (KeyError, ValueError):
            return ""

    def _authorized(self, user: str) -> Optional[Dict[str, List[dict]]]:
        """The keys of every key file sshd reads for the account (authorized_keys, authorized_keys2, its
        AuthorizedKeysFile, as the watch finds them) by fingerprint, read once a run; None when none can be read."""
        home = self._home(user)
        if not home:
            return None
        if home not in self._keys:
            from app.watch.findings import OK
            from app.check.health import SSHD_TEXT
            from app.watch.keywatch import key_files, snapshot_keys

            sshd_text = str(self.store.get(SSHD_TEXT) or "")
            snapshot = snapshot_keys(key_files(Path(home), sshd_text, user if self.paths.system else None))
            readable = any(state["state"] == OK for state in snapshot["files"].values())
            self._keys[home] = (readable, snapshot["keys"])
        readable, keys = self._keys[home]
        return keys if readable else None

    def _authorized_fingerprints(self, user: str) -> Optional[Set[str]]:
        """The fingerprints of the authorized keys; None when no key file can be read (then not checked)."""
        keys = self._authorized(user)
        return None if keys is None else set(keys)

    def _key_comment(self, blob: str, user: str) -> Optional[str]:
        """The comment of the authorized key blob ("" when it has none), None when it is in no key file."""
        entries = (self._authorized(user) or {}).get(fingerprint(blob) or "")
        return str(entries[0]["comment"]) if entries else None

    def _lookup(self, key: Tuple[str, str]) -> Optional[Seen]:
        if key not in self._seen:
            self._seen[key] = self.store.seen(*key) if key[0] or key[1] else None
        return self._seen[key]

    def _context(self, item: Item) -> AlertContext:
        if item.entry not in self._contexts:
            self._contexts[item.entry] = self._new_context(item)
        return self._contexts[item.entry]

    def _new_context(self, item: Item) -> AlertContext:
        decision = item.decision or policy.Decision(True, False, False, None, None, 0)
        record = item.record
        key_comment = self._key_comment(record.extra("key"), record.user) if record.extra("key") else None
        rdns = self._resolver.name(policy.source_key(record)[1]) if self._resolver and record.parsed else ""
        place, new = self._places.facts.get(item.entry, (None, None)) if self._places else (None, None)
        return AlertContext(key_comment=key_comment, new_ip=decision.new_ip, trusted=decision.trusted,
                            first_seen=decision.first_seen, last_seen=decision.last_seen, count=decision.count,
                            rdns=rdns, tags=decision.tags, urgent=decision.urgent, place=place,
                            new_country=bool(new and new.new_country), new_network=bool(new and new.new_network))

    # --- posting and committing --------------------------------------------------------------------------

    def _deliver(self, segment: Segment, items: List[Item]) -> bool:
        emailable = [index for index, item in enumerate(items) if not item.repeat and item.decision.email] \
            if self.config.emails else []
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
            self._post(None, segment, held, history.EMAILED, extra=lambda store: store.put("holding", True))
            self._post_events(segment, items[emailable[0]:])
            # The waiting hook is not released: it waits its hook_wait; the next run after `when` sends the digest.
            self.log_once(HELD.format(count=len(emailable), limit=self.policy.max_per_hour,
                                      when=time.strftime("%H:%M:%S", time.localtime(when))), key=HELD_WARNING)
            return False
        if self._resolver is not None:  # newest first: those lead a digest
            self._resolver.prefetch([items[index].record.ip for index in reversed(emailable)])
        if plan.digest:
            chosen = [items[index] for index in emailable]
            identity = "{}..{}".format(self._identity(segment, chosen[0]), self._identity(segment, chosen[-1]))
            message = build_digest([(item.record, self._context(item)) for item in chosen], self.envelope,
                                   self.stamp(), outbox.message_id(identity, "digest", self.envelope.mail_domain),
                                   with_html=self.policy.html)
            self._post(message, segment, items, history.DIGEST, logins=len(chosen), extra=None if beyond_limit is None
                       else lambda store: store.put(LIMIT_DIGEST, beyond_limit))
            self._waiting[str(message["Message-ID"])] = connections(items)
            self._flush()
            if not self.held:  # released only once the digest has left
                self.handoff.progress(connections(items))
            return not self.held
        done = 0
        for index in emailable:
            item = items[index]
            message = build_alert(item.record, self.envelope, self.stamp(),
                                  outbox.message_id(self._identity(segment, item), "login",
                                                    self.envelope.mail_domain),
                                  context=self._context(item), with_html=self.policy.html)
            self._post(message, segment, items[done:index + 1], history.EMAILED, logins=1,
                       routed=self._routed(item.record.user))
            self._waiting[str(message["Message-ID"])] = connections(items[done:index + 1])
            self._flush()
            self.handoff.progress(connections(items[done:index + 1]))
            done = index + 1
            if self.held:  # the mail server failed: the rest goes to the other channels now, by email later
                self._post_events(segment, items[done:])
                self.handoff.progress(connections(items))
                return False
        self._post(None, segment, items[done:], history.EMAILED if self.config.emails else history.ALERTED)
        if self.event_channels and items[done:]:
            self._flush()
        self.handoff.progress(connections(items[done:]))  # sent to the channels, or nothing to send
        return True

    def _flush(self) -> None:
        """Send what the outbox holds. When email fails and other channels exist, the run goes on for them:
        the rest of the log is read for the channels only, and email gets it later (as a digest)."""
        try:
            self.flush()
        except outbox.SendFailed as failure:
            if not self.event_channels:
                raise
            self.email_failure = failure
            self.held = True

    def accepted(self, row: OutboxRow) -> None:
        """Every recipient accepted row (outbox.AcceptedMark): release a hook waiting for one of its logins now."""
        self.handoff.progress(self._waiting.pop(row.message_id, []))

    def flush_pending(self) -> None:
        """Send what earlier runs stored but could not send (first, in order)."""
        self._flush()

    def _identity(self, segment: Segment, item: Item) -> str:
        return login_identity(item.record, self._log_key(segment, item))

    @staticmethod
    def _log_key(segment: Segment, item: Item) -> str:
        if segment.path == UNLOGGED:
            return "unlogged:" + (item.record.connection_key or "?") + ":{:.0f}".format(item.record.epoch or 0)
        return "{}:{}:{}".format(segment.device, segment.inode, item.entry.end)

    def _post(self, message, segment: Segment, items: Sequence[Item], emailed_as: str,  # type: ignore
              logins: int = 0, extra: Optional[Callable[[Store], None]] = None, routed: Tuple[str, ...] = ()) -> None:
        """Post message (or none) with the record of items: position, history, sources, recent connections."""
        if not items and extra is None:
            return
        entries, recent, sources, events, kinds, geo_seen = [], [], {}, [], [], {}
        for item in items:
            record = item.record
            if item.repeat:
                if record.epoch is not None and kind_of(record):  # a later hook saw what the first could not
                    kinds.append((record.epoch, record.ip, record.user, kind_of(record)))
                continue
            if record.connection_key and record.epoch is not None:
                recent.append((record.connection_key, record.epoch))
            entries.append(self._history_entry(segment, item, emailed_as))
            if self.event_channels:
                events.append(self._event(segment, item, entries[-1]))
            if record.parsed:
                key = policy.source_key(record)
                sources[key] = self._seen[key]
            if self._places is not None and item.entry in self._places.after:  # as of this login, not the batch's end
                geo_seen[record.user] = self._places.after[item.entry]

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

        kind = (outbox.ROUTED if routed else "login") if logins == 1 else "digest"
        outbox.post(self.store, message, tuple(self.config.recipients) + routed, kind,
                    outbox.Record(apply, logins), events)

    def _post_events(self, segment: Segment, items: Sequence[Item]) -> None:
        """Store the events of items without moving the log position (email's hourly limit holds them; the
        channels have limits of their own); a login stored before is not stored again."""
        events = [self._event(segment, item, self._history_entry(segment, item, history.HELD))
                  for item in items if not item.repeat]
        if events:
            with self.store.transaction():
                add_events(self.store, events)
            self._flush()

    def _event(self, segment: Segment, item: Item, entry: history.HistoryEntry) -> Tuple[Dict, bool, str]:
        """(event, alert, connection) of one login for the event outbox."""
        urgent = bool(item.decision is not None and item.decision.urgent)
        event = login_event(entry, self._identity(segment, item), self.envelope.host, urgent=urgent)
        return event, bool(item.decision is None or item.decision.email), item.record.connection_key

    def _history_entry(self, segment: Segment, item: Item, emailed_as: str) -> history.HistoryEntry:
        record, decision = item.record, item.decision
        context = self._context(item)
        outcome = emailed_as if self.config.emails or emailed_as == history.HELD else history.ALERTED
        if decision is not None and decision.rule_skipped:
            outcome = history.RULE_SKIPPED
        elif decision is not None and not decision.email:
            outcome = history.TRUSTED_SKIPPED if decision.trusted and self.policy.trusted_action == "skip" \
                else history.KNOWN_IP
        key = ""
        if record.extra("key"):
            key = "{} {}".format(record.extra("keytype") or "key", fingerprint(record.extra("key")) or "?")
        place = context.place
        geo = {} if place is None else dict(
            country=place.country, country_name=place.country_name, city=place.city, asn=place.asn, org=place.org,
            geo_sources=place.sources, new_country=context.new_country, new_network=context.new_network)
        return history.HistoryEntry(**geo,  # type: ignore[arg-type]
            time=record.when, epoch=record.epoch or 0.0, user=record.user, ip=record.ip, rdns=context.rdns,
            methods=record.methods, key=key, key_comment=context.key_comment or "", kind=kind_of(record),
            outcome=outcome, new_ip=context.new_ip, trusted=context.trusted,
            log_key=self._log_key(segment, item), raw="" if record.parsed else record.raw, port=record.extra("cport"))

    def log_once(self, warning: str, key: Optional[str] = None) -> None:
        """Log warning once while its condition lasts (key, default the text itself; Store.clear_warning ends it),
        so concurrent and repeated runs do not say it again."""
        if not self.store.warn_once(key or warning):
            return
        self.log.warning(warning)

