"""From pending log lines to sent emails, in order, committing as it goes (used by ``check``).

A batch of lines is read, repeats of one connection merged, each login decided (app.policy), then
emailed one by one, as one digest, or held by the hourly limit. After each email the lines it covers
are committed: history appended, sources saved, state (position, recent connections, send times)
saved, syslog written. A held or failed alert stops the run there: its line stays pending.
"""

import itertools
import json
import os
import time
from pathlib import Path
from typing import BinaryIO, Callable, Dict, List, NamedTuple, Optional, Sequence

from app import history, policy
from app.config import Config
from app.errors import UserError
from app.files import write_private
from app.keys import authorized_key_comment, fingerprint
from app.loginline import LoginRecord, merge_records, parse_line
from app.loginlog import STALE_PARTIAL_SECONDS, Entry, Position, anchor_at, count_lines_from, read_entries
from app.paths import Paths
from app.render import AlertContext, Envelope, build_alert, build_digest
from app.statediff import Segment, State, is_repeat, remember, store_state

MAX_BATCH = 5000  # lines held in memory at once; a longer backlog is handled batch after batch
HELD = "{count} alert(s) held by max_per_hour = {limit}; they go out as one digest at {when}"


class Item(NamedTuple):
    entry: Entry
    record: LoginRecord
    repeat: bool  # another line of a connection already alerted or earlier in this batch
    decision: Optional[policy.Decision]


def kind_of(record: LoginRecord) -> str:
    if record.extra("tty") not in ("", "none"):
        return "interactive"
    return record.extra("kind")


class Dispatcher:
    """One check run's delivery: owns the transport, the sources and the state while it runs."""

    def __init__(self, paths: Paths, config: Config, state: State, envelope: Envelope, transport,  # type: ignore
                 stamp: Callable[[str], tuple], log) -> None:  # type: ignore[no-untyped-def]
        self.paths, self.config, self.state, self.envelope = paths, config, state, envelope
        self.transport, self.stamp, self.log = transport, stamp, log
        self.policy = config.policy
        self.sources = load_sources(paths.sources_file)
        self.sent = 0
        self._authorized_keys: Optional[str] = None
        self._contexts: Dict[Entry, AlertContext] = {}  # per batch: the email and the history use one context
        self._resolver = None
        if self.policy.reverse_dns:
            from app.rdns import ReverseResolver

            self._resolver = ReverseResolver(timeout=self.policy.reverse_dns_timeout)

    # --- reading and deciding ----------------------------------------------------------------------

    def segment(self, segment: Segment) -> bool:
        """Alert every pending line of segment; returns False when the hourly limit held some back."""
        with open(str(segment.path), "rb") as handle:
            stale = time.time() - os.fstat(handle.fileno()).st_mtime > STALE_PARTIAL_SECONDS
            entries = read_entries(handle, segment.start, include_partial=stale)
            line_start = segment.start
            while True:
                batch = list(itertools.islice(entries, MAX_BATCH))
                if not batch:
                    break
                if not self._deliver(segment, self._items(batch), handle, line_start):
                    return False
                line_start = batch[-1].end
            end = Position(segment.device, segment.inode, line_start, anchor_at(handle, line_start))
        if end != self.state.position:  # e.g. a truncated log with no complete line yet
            self.state = self.state._replace(position=end)
            self._save_state()
        return True

    def _items(self, batch: Sequence[Entry]) -> List[Item]:
        """Parse and decide a batch; lines of a connection seen earlier become repeats merged into the first."""
        self._contexts.clear()
        items: List[Item] = []
        recent = self.state.recent
        first_index: Dict[str, int] = {}
        sources = self.sources
        for entry in batch:
            record = parse_line(entry.data)
            connection, epoch = record.connection_key, record.epoch
            if connection and epoch is not None:
                if is_repeat(recent, connection, epoch):
                    index = first_index.get(connection)
                    if index is not None:
                        first = items[index]
                        items[index] = first._replace(record=merge_records(first.record, [record]))
                    items.append(Item(entry, record, True, None))
                    continue
                recent = remember(recent, connection, epoch)
                first_index[connection] = len(items)
            items.append(Item(entry, record, False, policy.decide(record, sources, self.policy)))
            sources = policy.remember_source(sources, record)
        return items

    def _context(self, item: Item) -> AlertContext:
        if item.entry not in self._contexts:
            self._contexts[item.entry] = self._new_context(item)
        return self._contexts[item.entry]

    def _new_context(self, item: Item) -> AlertContext:
        decision = item.decision or policy.Decision(True, False, False, None, None, 0)
        record = item.record
        key_comment = None
        if record.extra("key"):
            if self._authorized_keys is None:
                try:
                    self._authorized_keys = self.paths.authorized_keys.read_text(encoding="utf-8", errors="replace")
                except OSError:
                    self._authorized_keys = ""
            key_comment = authorized_key_comment(self._authorized_keys, record.extra("key"))
        rdns = self._resolver.name(policy.source_key(record)[1]) if self._resolver and record.parsed else ""
        return AlertContext(key_comment=key_comment, new_ip=decision.new_ip, trusted=decision.trusted,
                            first_seen=decision.first_seen, last_seen=decision.last_seen, count=decision.count,
                            rdns=rdns)

    # --- sending and committing ------------------------------------------------------------------------

    def _deliver(self, segment: Segment, items: List[Item], handle: BinaryIO, line_start: float) -> bool:
        emailable = [index for index, item in enumerate(items) if not item.repeat and item.decision.email]
        now = time.time()
        left = policy.emails_left(self.state.sent_times, now, self.policy.max_per_hour)
        plan = policy.plan_sends(len(emailable), left, self.policy.digest_after, self.state.holding)
        if plan.held:
            self.state = self.state._replace(holding=True)
            self._commit(segment, items[:emailable[0]], history.EMAILED)
            self._save_state()
            when = policy.next_free(self.state.sent_times, now, self.policy.max_per_hour)
            self.log.warning(HELD.format(count=len(emailable), limit=self.policy.max_per_hour,
                                         when=time.strftime("%H:%M", time.localtime(when))))
            return False
        pending_from = (lambda start: lambda: count_lines_from(handle, start))
        if self._resolver is not None:  # newest first: those lead a digest
            self._resolver.prefetch([items[index].record.ip for index in reversed(emailable)])
        if plan.digest:
            chosen = [items[index] for index in emailable]
            message = build_digest([(item.record, self._context(item)) for item in chosen], self.envelope,
                                   *self.stamp(self.envelope.host), with_html=self.policy.html)
            self._send(message, pending_from(int(line_start)))
            self._commit(segment, items, history.DIGEST)
            return True
        done = 0
        for index in emailable:
            item = items[index]
            message = build_alert(item.record, self.envelope, None, *self.stamp(self.envelope.host),
                                  context=self._context(item), with_html=self.policy.html)
            start = items[done - 1].entry.end if done else line_start
            self._send(message, pending_from(int(start)))
            self._commit(segment, items[done:index + 1], history.EMAILED)
            done = index + 1
        self._commit(segment, items[done:], history.EMAILED)
        return True

    def _send(self, message, pending: Callable[[], int]) -> None:  # type: ignore[no-untyped-def]
        """Send one message; on failure record it in the state and raise UserError (exit 1)."""
        from app.delivery import send_or_raise

        try:
            send_or_raise(self.transport, message, self.config.recipients, pending)
        except UserError as error:
            self.state = self.state._replace(last_failure={"time": _now_text(), "epoch": time.time(),
                                                           "reason": error.message})
            self._save_state()
            raise
        now = time.time()
        self.sent += 1
        self.state = self.state._replace(
            sent=self.state.sent + 1, last_failure=None, holding=False,
            sent_times=policy.recent_sends(self.state.sent_times, now) + (now,),
            last_sent={"time": _now_text(), "subject": message["Subject"]})
        self.log.info("sent: {}".format(message["Subject"]))

    def _commit(self, segment: Segment, items: Sequence[Item], emailed_as: str) -> None:
        """Record items as done: history, sources, then the state's position moves past them."""
        if not items:
            return
        entries = []
        recent, sources = self.state.recent, self.sources
        for item in items:
            record = item.record
            if item.repeat:
                continue
            if record.connection_key and record.epoch is not None:
                recent = remember(recent, record.connection_key, record.epoch)
            entries.append(self._history_entry(segment, item, emailed_as))
            sources = policy.remember_source(sources, record)
        last = items[-1].entry
        try:
            history.append(self.paths.history_file, entries)
            if sources is not self.sources:
                write_private(self.paths.sources_file, json.dumps(sources, sort_keys=True).encode("utf-8"))
        except OSError as error:  # history is a record, not a reason to hold alerts back
            self.log.warning("cannot record history in {}: {}".format(self.paths.state_dir, error.strerror))
        self.sources = sources
        self.state = self.state._replace(position=Position(segment.device, segment.inode, last.end, last.anchor),
                                         recent=recent)
        self._save_state()
        if self.policy.syslog and entries:
            self._syslog(entries)

    def _history_entry(self, segment: Segment, item: Item, emailed_as: str) -> history.HistoryEntry:
        record, decision = item.record, item.decision
        context = self._context(item)
        outcome = emailed_as
        if decision is not None and not decision.email:
            outcome = history.TRUSTED_SKIPPED if decision.trusted and self.policy.trusted_action == "skip" \
                else history.KNOWN_IP
        key = ""
        if record.extra("key"):
            key = "{} {}".format(record.extra("keytype") or "key", fingerprint(record.extra("key")) or "?")
        return history.HistoryEntry(
            time=record.when, epoch=record.epoch or 0.0, user=record.user, ip=record.ip, rdns=context.rdns,
            methods=record.methods, key=key, key_comment=context.key_comment or "", kind=kind_of(record),
            outcome=outcome, new_ip=context.new_ip, trusted=context.trusted,
            log_key="{}:{}:{}".format(segment.device, segment.inode, item.entry.end),
            raw="" if record.parsed else record.raw)

    def _syslog(self, entries: Sequence[history.HistoryEntry]) -> None:
        from app.syslogger import send, syslog_line

        try:
            send([syslog_line(entry, self.envelope.host) for entry in entries], self.policy.syslog_socket,
                 self.policy.syslog_facility)
        except OSError as error:
            self.log.warning("cannot write to syslog at {}: {}".format(self.policy.syslog_socket,
                                                                        error.strerror or error))

    def _save_state(self) -> None:
        store_state(self.paths.state_file, self.state)


def _now_text() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S %z")


def load_sources(path: Path) -> policy.Sources:
    """The known sources ({} when none yet or unreadable: logins then count as new, which is the safe side)."""
    try:
        sources = json.loads(path.read_text(encoding="utf-8"))
        return sources if isinstance(sources, dict) else {}
    except (OSError, ValueError):
        return {}
