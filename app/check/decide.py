"""Reading and deciding, for the dispatcher (app.check.dispatch): each pending line parsed, repeats of one
connection merged, and each login decided (app.check.policy) with what is known of its source, the [rules]
verdict, its key's comment, reverse DNS and geoip. It reads the store; it writes nothing.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from app.store import history
from app.check import policy
from app.store.rows import Seen
from app.check.context import RunParts
from app.check.render import AlertContext
from app.logins.statediff import Segment, is_repeat, remember
from app.rules.keys import fingerprint
from app.logins.loginline import LoginRecord, merge_login_records, parse_line
from app.logins.loginlog import Entry
from app.system.paths import SYSTEM_SEEN_DIR
from app.system.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Sequence, Set, Tuple, TypeAlias

    from app.logins.geoip import AccountPlaces
    from app.logins.rdns import ReverseResolver
    from app.rules.rules import Rule, Verdict

UNLOGGED = Path("(not in the log)")  # the segment of a login built from the hook's environment (unrecorded)
Source: TypeAlias = "Tuple[str, str]"  # (user, address): app.check.policy.source_key


class Item(Record):
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


def log_key(segment: Segment, item: Item) -> str:
    """Where item's line is: device, inode and end offset (a login built from the environment: its connection)."""
    if segment.path == UNLOGGED:
        return "unlogged:" + (item.record.connection_key or "?") + ":{:.0f}".format(item.record.epoch or 0)
    return "{}:{}:{}".format(segment.device, segment.inode, item.entry.end)


class Decider:
    """One run's decisions on log lines: what is known of each source, read once per batch, and each login's
    context (the email and the history use one)."""

    def __init__(self, parts: RunParts) -> None:
        self.parts, self.paths, self.store, self.config = parts, parts.paths, parts.store, parts.config
        self.policy = parts.config.policy
        # by home: (any key file readable, the keys by fingerprint)
        self._keys: Dict[str, Tuple[bool, Dict[str, List[Dict[str, Any]]]]] = {}
        self._contexts: Dict[Entry, AlertContext] = {}  # per batch: the email and the history use one context
        self._seen: Dict[Source, Optional[Seen]] = {}  # per batch: as of the batch's end
        self._resolver: Optional["ReverseResolver"] = None
        self._rules: Optional[Tuple["Rule", ...]] = None
        self.places: Optional["AccountPlaces"] = None  # geoip_db only
        if self.policy.geoip_db:
            from app.store.history import account_places

            self.places = account_places(self.policy.geoip_db, parts.store)
        if self.policy.reverse_dns:
            from app.logins.rdns import ReverseResolver

            self._resolver = ReverseResolver(timeout=self.policy.reverse_dns_timeout)

    def seen(self, key: Source) -> Seen:
        """What is known of source key, a parsed login's, after the batch decided last."""
        counted = self._seen[key]
        assert counted is not None  # items() counted each parsed login into it
        return counted

    def prefetch(self, items: Sequence[Item]) -> None:
        """Start resolving the addresses of items (reverse_dns), so their names are ready when rendered."""
        if self._resolver is not None:
            self._resolver.prefetch([item.record.ip for item in items])

    def items(self, batch: Sequence[Entry]) -> List[Item]:
        """Parse and decide a batch; lines of a connection seen earlier become repeats merged into the first."""
        self._contexts.clear()
        if self.places is not None:
            self.places.clear()
        self._seen = {}
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
            if self.places is not None and record.parsed:
                self.places.locate(entry, record.user, key[1])
            decision = policy.decide_seen(record, self._lookup(key), self.policy)
            if record.parsed and (self.config.rules or self.config.routes or self.policy.work_hours
                                  or record.extra("key")):
                decision = policy.with_verdict(decision, self._verdict(record, entry))
            items.append(Item(entry, record, False, decision))
            if record.parsed:
                self._seen[key] = policy.count_login(self._seen[key], record.epoch or 0.0)
        for problem in self.places.locator.problems if self.places is not None else ():
            self.parts.log_once(problem)  # a broken database: alerts go on without location
        return items

    def _system_seen(self) -> Tuple[Tuple[str, float], ...]:
        """Connections the system-wide mode already alerts (both modes installed): repeats here."""
        if self.paths.system or not os.path.isdir(str(SYSTEM_SEEN_DIR)):
            return ()
        import pwd

        from app.logins.systemseen import system_seen

        return system_seen(pwd.getpwuid(os.getuid()).pw_name)

    def routed(self, user: str) -> Tuple[str, ...]:
        """The [users] addresses that also get user's login alerts (app.rules.routing)."""
        if not self.config.routes:
            return ()
        from app.rules.routing import addresses_for

        return addresses_for(self.config.routes, user, tuple(self.config.recipients))

    def _verdict(self, record: LoginRecord, entry: Entry) -> "Verdict":
        """The [rules], work_hours and authorized_keys verdict on one login (app.rules.rules)."""
        from app.rules.rules import evaluate

        login: Dict[str, Any] = {"user": record.user, "ip": record.ip, "kind": kind_of(record),
                 "key_fingerprint": fingerprint(record.extra("key")) if record.extra("key") else ""}
        if self.places is not None:
            login.update(self.places.rule_facts(entry))
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

    def _authorized(self, user: str) -> Optional[Dict[str, List[Dict[str, Any]]]]:
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

    def context(self, item: Item) -> AlertContext:
        if item.entry not in self._contexts:
            self._contexts[item.entry] = self._new_context(item)
        return self._contexts[item.entry]

    def _new_context(self, item: Item) -> AlertContext:
        decision = item.decision or policy.Decision(True, False, False, None, None, 0)
        record = item.record
        key_comment = self._key_comment(record.extra("key"), record.user) if record.extra("key") else None
        rdns = self._resolver.name(policy.source_key(record)[1]) if self._resolver and record.parsed else ""
        place, new = self.places.facts.get(item.entry, (None, None)) if self.places else (None, None)
        return AlertContext(key_comment=key_comment, new_ip=decision.new_ip, trusted=decision.trusted,
                            first_seen=decision.first_seen, last_seen=decision.last_seen, earlier=decision.earlier,
                            rdns=rdns, tags=decision.tags, urgent=decision.urgent, place=place,
                            new_country=bool(new and new.new_country), new_network=bool(new and new.new_network))

    def history_entry(self, segment: Segment, item: Item, emailed_as: str) -> history.HistoryEntry:
        record, decision = item.record, item.decision
        context = self.context(item)
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
        return history.HistoryEntry(**geo,
            time=record.when, epoch=record.epoch or 0.0, user=record.user, ip=record.ip, rdns=context.rdns,
            methods=record.methods, key=key, key_comment=context.key_comment or "", kind=kind_of(record),
            outcome=outcome, new_ip=context.new_ip, trusted=context.trusted,
            log_key=log_key(segment, item), raw="" if record.parsed else record.raw, port=record.extra("cport"))
