"""The login history: one row per login that check handled, whether it was emailed or not.

Rows live in the store's ``history`` table, written in the same transaction that moves the log
position past the login, so each login is recorded exactly once (its ``log_key``, the log file and
the byte offset of the line's end, is unique). ``ssh_alert.pyz history`` reads them; the release
before the store kept them in ``history.jsonl``, which ``read_jsonl`` reads for the upgrade.
"""

from __future__ import annotations

import json
from pathlib import Path

from app.rules.trust import canonical_address
from app.system.files import open_regular_file
from app.system.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterator, List, Optional, Tuple

    from app.logins.geoip import AccountPlaces
    from app.store.store import Store

# outcome values
EMAILED, DIGEST, TRUSTED_SKIPPED, KNOWN_IP = "emailed", "digest", "trusted: not emailed", "known IP: not emailed"
HELD = "held: email waits for its hourly limit or its server"  # what the push channels and syslog see meanwhile
RULE_SKIPPED = "skipped by a rule"
ALERTED = "alerted"  # sent to the push channels (alerts do not go by email)


class HistoryEntry(Record):
    time: str  # as the hook wrote it: local time with its UTC offset
    epoch: float  # 0 when the line had no readable time (its store row says NULL)
    user: str
    ip: str
    rdns: str
    methods: Tuple[str, ...]
    key: str  # "ssh-ed25519 SHA256:..." or ""
    key_comment: str
    kind: str  # interactive | command | transfer | "" (not known)
    outcome: str  # EMAILED, DIGEST, TRUSTED_SKIPPED, KNOWN_IP
    new_ip: bool
    trusted: bool
    log_key: str  # "device:inode:end offset"
    raw: str = ""  # the escaped line, for lines that did not parse
    ended: float = 0.0  # when the connection ended, as the cron run saw it (0: running, or not known)
    port: str = ""  # the client's port ("" when the line has none)
    country: str = ""  # geoip_db (app.logins.geoip): ISO code
    country_name: str = ""
    city: str = ""
    asn: int = 0
    org: str = ""
    geo_sources: Tuple[str, ...] = ()  # the attribution line of each database that answered
    new_country: bool = False
    new_network: bool = False


def duration(entry: HistoryEntry) -> str:
    """How long the connection lasted, e.g. "1h 02m" or "45s"; "" while it runs or when not known."""
    if not entry.ended or not entry.epoch or entry.ended < entry.epoch:
        return ""
    seconds = int(entry.ended - entry.epoch)
    if seconds < 60:
        return "{}s".format(seconds)
    hours, minutes = divmod(seconds // 60, 60)
    return "{}h {:02d}m".format(hours, minutes) if hours else "{}m".format(minutes)


def row(entry: HistoryEntry) -> Tuple[str, Optional[float], str, str]:
    """The store row of entry: (log_key, epoch or None when it is not known, canonical address, entry as JSON)."""
    return (entry.log_key, float(entry.epoch) if entry.epoch else None, canonical_address(entry.ip) or entry.ip,
            json.dumps(entry._asdict(), sort_keys=True))


def from_json(text: str) -> Optional[HistoryEntry]:
    """The entry a JSON object describes, or None when it is not one."""
    try:
        document = json.loads(text)
        entry = HistoryEntry(**{field: document[field] for field in HistoryEntry._fields if field in document})
    except (ValueError, TypeError, KeyError):
        return None
    return entry._replace(methods=tuple(entry.methods), geo_sources=tuple(entry.geo_sources))


def read(store: "Store", since: Optional[float] = None, address: Optional[str] = None) -> Iterator[HistoryEntry]:
    """Recorded logins, oldest first, narrowed by time and by one exact (canonical) address."""
    for text in store.history(since, address):
        entry = from_json(text)
        if entry is not None:
            yield entry


def account_places(setting: str, store: "Store") -> "AccountPlaces":
    """The geoip work of a run with geoip_db = setting (app.logins.geoip, loaded only then): the seen sets kept in
    store, else each account's addresses in its recorded history, judge what is new."""
    from app.logins.geoip import SEEN_KEY, AccountPlaces, Locator, database_paths

    return AccountPlaces(Locator(database_paths(setting)), lambda user: store.get(SEEN_KEY + user),
                         lambda user: [past.ip for past in read(store) if past.user == user])


def read_jsonl(path: Path) -> List[HistoryEntry]:
    """The previous release's history.jsonl (and its rotated .1), oldest first, each log_key once."""
    entries, seen = [], set()
    for source in (Path(str(path) + ".1"), path):
        try:
            with open_regular_file(source, "rb") as handle:  # a FIFO is refused, never waited on
                lines = handle.read().splitlines()
        except OSError:
            continue
        for line in lines:
            entry = from_json(line.decode("utf-8", "replace"))
            if entry is None or entry.log_key in seen:
                continue
            seen.add(entry.log_key)
            entries.append(entry)
    return entries


def fill_kind(store: "Store", epoch: float, ip: str, user: str, kind: str) -> None:
    """Give the recorded login of this connection (same time, address and user) the kind a later hook line of
    it carries, where its first line (``~/.ssh/rc`` cannot tell a command from a transfer) had none."""
    for row_id, text in store.history_between(epoch, epoch):
        entry = from_json(text)
        if entry is not None and not entry.kind and entry.ip == ip and entry.user == user:
            store.replace_history_entry(row_id, json.dumps(entry._replace(kind=kind)._asdict(), sort_keys=True))
