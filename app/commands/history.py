"""``history``: the recorded logins (alerted or not) as a table, oldest first, or per source IP (--summary).

Filters: --since (a date, a time, an ISO time with offset, or an age like 7d), --ip (an address or a CIDR
network; ::ffff:1.2.3.4 is 1.2.3.4), --user. --json prints the same selection as a JSON array.
"""

from __future__ import annotations

import argparse
import re
import shlex
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from app.errors import UserError
from app.store.history import HistoryEntry, duration, read, read_jsonl
from app.system.paths import Paths
from app.commands.result import Result
from app.system.record import Record
from app.system.text import printable
from app.rules.trust import Network, canonical_address, is_trusted, parse_networks

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Sequence, Tuple


NO_HISTORY = "no logins recorded yet in {path}"
NO_MATCH = "none of the {count} recorded login(s) match {filters}"
HISTORY_UNREADABLE = "cannot read the login history {path}: {reason}"
BAD_SINCE = ("--since {value!r} is not a time: use YYYY-MM-DD, 'YYYY-MM-DD HH:MM', an ISO time with offset "
             "(2026-11-25T11:55:03+00:00) or an age: 30m, 12h, 7d, 2w")
BAD_IP = "--ip {value!r} is not an IP address or network (examples: 203.0.113.7, 203.0.113.0/24, 2001:db8::/32)"
UNPARSED = "unparsed: "

ELLIPSIS = "\u2026"
FINGERPRINT_CHARS = 12  # of the base64 digest after "SHA256:": enough to tell keys apart at a glance
RAW_MAX = 160
NEW_MARK = "NEW"
# (header, maximum width): columns are as wide as their content, up to the maximum (then cut with …)
LOGIN_COLUMNS = (("TIME", 25), ("USER", 16), ("IP", 39), ("NEW", 3), ("RDNS", 40), ("METHOD", 32), ("KEY", 32),
                 ("KIND", 11), ("LASTED", 8), ("OUTCOME", 21))
SUMMARY_COLUMNS = (("IP", 39), ("USERS", 32), ("COUNT", 7), ("FIRST SEEN", 25), ("LAST SEEN", 25), ("RDNS", 40))

_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_RELATIVE = re.compile(r"\A\s*(\d{1,9})\s*([mhdw])\s*\Z", re.IGNORECASE)
_ABSOLUTE = re.compile(
    r"\A(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6})\d*)?)?)?"
    r"\s*(?:(Z)|([+-])(\d{2}):?(\d{2}))?\Z", re.IGNORECASE)


class SummaryRow(Record):
    """One source IP: who logged in from it, how often, first and last time (as recorded), its latest name."""

    ip: str  # canonical: ::ffff:1.2.3.4 counts as 1.2.3.4
    users: Tuple[str, ...]  # sorted
    logins: int  # "count" in --json (a field named count would hide tuple.count)
    first_seen: str
    first_epoch: float
    last_seen: str
    last_epoch: float
    rdns: str  # the newest non-empty name recorded, or ""


def add_parser(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser("history", help="recorded logins as a table (alerted or not)")
    parser.add_argument("--since", metavar="WHEN",
                        help="only logins since WHEN: 2026-11-01, '2026-11-01 08:00', 7d, 12h")
    parser.add_argument("--ip", metavar="ADDR", help="only logins from this address (or CIDR network)")
    parser.add_argument("--user", metavar="USER", help="only logins of this user")
    parser.add_argument("--summary", action="store_true", help="per source IP: count, first and last seen")
    parser.add_argument("--json", action="store_true", help="print the same data as JSON")
    parser.add_argument("--system", action="store_true", help="the system-wide mode's logins (root)")


def run(paths: Paths, arguments: argparse.Namespace) -> Result:
    """The history selected by the flags, as lines and as records (--json).

    Raises UserError for a bad --since or --ip, or an unusable store."""
    since = parse_since(arguments.since, time.time()) if arguments.since is not None else None
    network = parse_network(arguments.ip) if arguments.ip is not None else None
    address = str(network.network_address) if network is not None and network.num_addresses == 1 else None
    recorded, candidates = load(paths, since, address)
    selected = [entry for entry in candidates if matches(entry, since, network, arguments.user)]
    return Result(output(selected, recorded, arguments, paths.store_file), data=records(selected, arguments.summary))


def load(paths: Paths, since: Optional[float], address: Optional[str]) -> Tuple[int, List[HistoryEntry]]:
    """How many logins are recorded, and those at or after since from address (either None: any).

    Before the first check of this release, reads the previous release's history.jsonl. Raises UserError
    when the store cannot be read (a permission problem must not look like "no logins").
    """
    from app.store.store import DatabaseError, Store

    if not paths.store_file.exists():
        entries = read_jsonl(paths.history_file)
        return len(entries), entries
    try:
        store = Store.open(paths.store_file)
        try:
            return store.count_history(), list(read(store, since, address))
        finally:
            store.close()
    except DatabaseError as error:
        raise UserError(HISTORY_UNREADABLE.format(path=paths.store_file, reason=error)) from None


def output(selected: Sequence[HistoryEntry], recorded: int, arguments: argparse.Namespace, path: Path) -> List[str]:
    """Return the lines to print for the selected entries (recorded: how many exist before filtering)."""
    if not recorded:
        return [NO_HISTORY.format(path=path)]
    if not selected:
        return [NO_MATCH.format(count=recorded, filters=describe_filters(arguments))]
    return summary_table(summary(selected)) if arguments.summary else table(selected)


def records(selected: Sequence[HistoryEntry], per_ip: bool) -> List[Dict[str, Any]]:
    """The selected logins (per_ip: the summary rows) as JSON objects, every field; [] when none."""
    if per_ip:
        return [{"count" if name == "logins" else name: value for name, value in row._asdict().items()}
                for row in summary(selected)]
    return [entry._asdict() for entry in selected]


def describe_filters(arguments: argparse.Namespace) -> str:
    """Return the filter flags as typed (shell-quoted), e.g. "--since 7d --ip 203.0.113.0/24"."""
    flags = [("--since", arguments.since), ("--ip", arguments.ip), ("--user", arguments.user)]
    return printable(" ".join("{} {}".format(flag, shlex.quote(value)) for flag, value in flags if value is not None))


# --- filters -------------------------------------------------------------------------------------------

def parse_since(text: str, now: float) -> float:
    """Return the epoch that text names: an age (30m, 12h, 7d, 2w) before now, or a date/time.

    A date or time without an offset is local time; YYYY-MM-DD means its midnight. Raises UserError (exit 2).
    """
    relative = _RELATIVE.match(text)
    if relative:
        return now - int(relative.group(1)) * _UNIT_SECONDS[relative.group(2).lower()]
    absolute = _ABSOLUTE.match(text.strip())
    if absolute is None:
        raise UserError(BAD_SINCE.format(value=text))
    year, month, day, hour, minute, second, fraction, zulu, sign, offset_hours, offset_minutes = absolute.groups()
    try:
        zone = None
        if zulu:
            zone = timezone.utc
        elif sign:
            offset = timedelta(hours=int(offset_hours), minutes=int(offset_minutes))
            zone = timezone(-offset if sign == "-" else offset)
        moment = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
                          int((fraction or "0").ljust(6, "0")), tzinfo=zone)
        return moment.timestamp()  # without a zone: local time
    except (ValueError, OverflowError, OSError):
        raise UserError(BAD_SINCE.format(value=text)) from None


def parse_network(text: str) -> Network:
    """Return the network text names (an address is a /32 or /128); IPv4-mapped IPv6 becomes IPv4.

    Raises UserError (exit 2).
    """
    networks, bad = parse_networks(text)
    if bad or len(networks) != 1:
        raise UserError(BAD_IP.format(value=text))
    return networks[0]


def matches(entry: HistoryEntry, since: Optional[float], network: Optional[Network], user: Optional[str]) -> bool:
    """True when entry passes every given filter (None: no filter). A login without a readable time is never
    "since" anything; one without a readable address is in no network."""
    if since is not None and (not entry.epoch or entry.epoch < since):
        return False
    if user is not None and entry.user != user:
        return False
    if network is not None and not is_trusted(entry.ip, (network,)):  # "trusted" here: inside the network
        return False
    return True


# --- tables --------------------------------------------------------------------------------------------

def cut(text: str, width: int) -> str:
    """Return text made printable, cut to width characters with a final … when longer."""
    text = printable(text)
    return text if len(text) <= width else text[:max(0, width - 1)] + ELLIPSIS


def key_label(entry: HistoryEntry) -> str:
    """The key's comment, else its fingerprint shortened ("SHA256:abcdefghijkl…"), else "-"."""
    if entry.key_comment:
        return entry.key_comment
    if not entry.key:
        return "-"
    fingerprint = entry.key.split()[-1]
    algorithm, separator, digest = fingerprint.partition(":")
    if separator and len(digest) > FINGERPRINT_CHARS:
        return algorithm + ":" + digest[:FINGERPRINT_CHARS] + ELLIPSIS
    return fingerprint


def is_unparsed(entry: HistoryEntry) -> bool:
    return bool(entry.raw) and not entry.user and not entry.ip


def login_cells(entry: HistoryEntry) -> List[str]:
    """The table cells of one parsed login, in LOGIN_COLUMNS order ("-" for what is not known)."""
    return [entry.time or "-", entry.user or "-", entry.ip or "-", NEW_MARK if entry.new_ip else "",
            entry.rdns or "-", ",".join(entry.methods) or "-", key_label(entry), entry.kind or "-",
            duration(entry) or "-", entry.outcome or "-"]


def aligned(columns: Sequence[Tuple[str, int]], rows: Sequence[Sequence[str]]) -> Tuple[List[int], List[str]]:
    """Return the column widths and the lines (header first): each column as wide as its widest cell, up to
    its maximum; cells cut with … beyond it; no trailing spaces."""
    cut_rows = [[cut(cell, maximum) for cell, (_, maximum) in zip(row, columns)] for row in rows]
    widths = [max([len(header)] + [len(row[index]) for row in cut_rows])
              for index, (header, _) in enumerate(columns)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
             for row in [[header for header, _ in columns]] + cut_rows]
    return widths, lines


def table(entries: Sequence[HistoryEntry]) -> List[str]:
    """Return the login table, header first, entries in the given order (oldest first: newest by the prompt).

    A line that did not parse shows its time (if any) and its raw text.
    """
    parsed = [entry for entry in entries if not is_unparsed(entry)]
    widths, lines = aligned(LOGIN_COLUMNS, [login_cells(entry) for entry in parsed])
    rows = iter(lines[1:])
    result = [lines[0]]
    for entry in entries:
        if is_unparsed(entry):
            time_cell = cut(entry.time or "-", LOGIN_COLUMNS[0][1]).ljust(widths[0])
            result.append("{}  {}{}".format(time_cell, UNPARSED, cut(entry.raw, RAW_MAX)))
        else:
            result.append(next(rows))
    return result


def summary(entries: Sequence[HistoryEntry]) -> List[SummaryRow]:
    """Group entries by source IP (canonical form); sorted by last seen, oldest first. Entries without an IP
    are left out."""
    groups: Dict[str, List[HistoryEntry]] = {}
    for entry in entries:
        if entry.ip:
            groups.setdefault(canonical_address(entry.ip) or entry.ip, []).append(entry)
    rows = []
    for ip, group in groups.items():
        first = min(group, key=lambda entry: entry.epoch)  # the earliest; on a tie, the first recorded
        last = max(reversed(group), key=lambda entry: entry.epoch)  # the latest; on a tie, the last recorded
        names = [entry.rdns for entry in group if entry.rdns]
        rows.append(SummaryRow(ip=ip, users=tuple(sorted({entry.user for entry in group if entry.user})),
                               logins=len(group), first_seen=first.time, first_epoch=first.epoch,
                               last_seen=last.time, last_epoch=last.epoch, rdns=names[-1] if names else ""))
    return sorted(rows, key=lambda row: row.last_epoch)


def summary_table(rows: Sequence[SummaryRow]) -> List[str]:
    """Return the per-IP table, header first."""
    cells = [[row.ip, ",".join(row.users) or "-", str(row.logins), row.first_seen or "-", row.last_seen or "-",
              row.rdns or "-"] for row in rows]
    return aligned(SUMMARY_COLUMNS, cells)[1]
