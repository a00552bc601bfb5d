"""The heartbeat: a regular summary that says ssh_alert still runs, and a healthchecks.io-style ping.

Silence is ambiguous: no alert can mean no login, or a cron job that stopped, a full disk, a revoked mail
password. A summary arriving every day or week turns its absence into the alarm; a dead man's switch ping
lets a service raise that alarm for the reader. Pure: the caller keeps the last send time, sends and pings.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit, urlunsplit

from app.store.history import HistoryEntry
from app.rules.trust import canonical_address
from app.system.text import ELLIPSIS, printable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Sequence, Tuple

DAY = 86400.0
PERIODS = ("weekly", "daily", "off")
PERIOD_SECONDS = {"daily": DAY, "weekly": 7 * DAY}
PERIOD_UNITS = {"daily": "day", "weekly": "week"}
MAX_PING_BODY = 10000  # bytes; healthchecks.io keeps the first 10 kB of a ping's body
MAX_LISTED = 20  # new addresses and users named in the text; the rest are counted
MAX_FIELD = 100  # characters of one user, address, name or host shown
MAX_LINE = 300  # characters of one unhealthy line shown

UNHEALTHY = "UNHEALTHY"
TITLE = "ssh_alert {period} on {host}: {status}{logins}, {addresses}, {new} new"
PROMISE = ("This message arrives every {unit} while ssh_alert works: cron ran it, it read the login log and "
           "it reached you. If a {unit} passes without it, the monitoring has stopped: run ssh_alert.pyz status "
           "on {host}.")
HEALTHY = "Health: no problems found."
UNHEALTHY_HEADING = UNHEALTHY + ":"
UNPARSED_LINES = "Log lines that did not parse: {count} (ssh_alert.pyz history shows them)"
MORE = "  {ellipsis} and {count} more"
UNKNOWN_PERIOD = "{period!r} is not a heartbeat period; write weekly, daily or off"
NOT_A_PING_URL = "the ping URL {url} is not an http:// or https:// URL"
HIDDEN_URL = "(not a URL)"


def notice_subject(title: str, host: str) -> str:
    """The heartbeat's title without "ssh_alert" and the host, for a notice subject that names both once
    ("ssh_alert on web1: daily: 12 logins, ..."); the title itself when it is not a heartbeat's (pure)."""
    prefix = "ssh_alert "
    marker = " on {}: ".format(host)
    if not title.startswith(prefix) or marker not in title:
        return title
    period, _, summary = title[len(prefix):].partition(marker)
    return "{}: {}".format(period, summary)


def _period_seconds(period: str) -> Optional[float]:
    if period == "off":
        return None
    if period not in PERIOD_SECONDS:
        raise ValueError(UNKNOWN_PERIOD.format(period=period))
    return PERIOD_SECONDS[period]


def next_heartbeat(last: Optional[float], period: str) -> Optional[float]:
    """Takes the last send time (None: never started) and the period; returns when the next heartbeat is due,
    None when the period is off or nothing started the count; raises ValueError for an unknown period."""
    seconds = _period_seconds(period)
    if seconds is None or last is None:
        return None
    return last + seconds


def heartbeat_due(last_sent: Optional[float], now: float, period: str) -> bool:
    """Takes the last send time (None: first run), now and the period; returns True when a heartbeat is due.

    The first run is not due: the caller records now as the start, so a fresh install does not send at once.
    Raises ValueError for an unknown period.
    """
    due_at = next_heartbeat(last_sent, period)
    if due_at is None or last_sent is None:
        return False
    # A clock set back would hold the heartbeat until it caught up, maybe for years, and the silence would
    # read as a dead monitor: send now, and the caller's new start puts the schedule on the new clock.
    return last_sent > now or now >= due_at


def _utc(epoch: float) -> str:
    try:
        return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))
    except (OverflowError, OSError, ValueError):
        return "?"


def _count(number: int, singular: str, plural: str) -> str:
    return "{} {}".format(number, singular if number == 1 else plural)


def _field(text: str) -> str:
    return printable(text, MAX_FIELD)


def _new_address_line(address: str, entry: HistoryEntry) -> str:
    words = [_field(address), _field(entry.user)]
    if entry.rdns:
        words.append("(" + _field(entry.rdns) + ")")
    if entry.time:
        words.append("at " + _field(entry.time))
    return "  " + " ".join(words)


def _listed(lines: List[str]) -> List[str]:
    if len(lines) <= MAX_LISTED:
        return lines
    return lines[:MAX_LISTED] + [MORE.format(ellipsis=ELLIPSIS, count=len(lines) - MAX_LISTED)]


def heartbeat_summary(entries: Sequence[HistoryEntry], since: float, now: float, host: str,
                      unhealthy: Sequence[str], period: str = "") -> Tuple[str, str]:
    """Takes the logins recorded since the last heartbeat (as ``history.read(store, since)`` gives them: this
    counts them all, it does not filter again), that heartbeat's time, now, the host label, one line per
    problem (empty: healthy) and the period ("": daily for a span up to 36 hours, else weekly).

    Returns (title, plain text), both printable: logins, distinct addresses, new addresses (entries with
    new_ip), lines that did not parse, the problems, and why this message matters.
    """
    period = period or ("daily" if 0 <= now - since <= 1.5 * DAY else "weekly")
    unit = PERIOD_UNITS.get(period, "week")
    shown_host = _field(host)
    addresses: Dict[str, None] = {}
    new: Dict[str, HistoryEntry] = {}
    users: Dict[str, None] = {}
    unparsed = 0
    for entry in entries:
        if entry.raw:
            unparsed += 1
            continue
        address = canonical_address(entry.ip) or entry.ip
        addresses[address] = None
        users[entry.user] = None
        if entry.new_ip and address not in new:
            new[address] = entry
    logins = len(entries) - unparsed
    title = TITLE.format(period=period, status=UNHEALTHY + ", " if unhealthy else "",
                         logins=_count(logins, "login", "logins"),
                         addresses=_count(len(addresses), "address", "addresses"), new=len(new), host=shown_host)
    user_names = sorted(users)
    listed_users = ", ".join(_field(user) for user in user_names[:MAX_LISTED])
    if len(user_names) > MAX_LISTED:
        listed_users += ", {} and {} more".format(ELLIPSIS, len(user_names) - MAX_LISTED)
    lines = ["ssh_alert on {}, {} to {}.".format(shown_host, _utc(since), _utc(now)), "",
             "Logins: {}".format(logins) + (" by {} ({})".format(_count(len(users), "user", "users"), listed_users)
                                            if users else ""),
             "Addresses: {}".format(len(addresses)),
             "New addresses: {}".format(len(new))]
    lines += _listed([_new_address_line(address, entry) for address, entry in new.items()])
    if unparsed:
        lines.append(UNPARSED_LINES.format(count=unparsed))
    lines.append("")
    if unhealthy:
        lines.append(UNHEALTHY_HEADING)
        lines += _listed(["  - " + printable(problem, MAX_LINE) for problem in unhealthy])
    else:
        lines.append(HEALTHY)
    lines += ["", PROMISE.format(unit=unit, host=shown_host)]
    return printable(title), "\n".join(lines) + "\n"


def _fail_path(path: str) -> str:
    return path + "fail" if path.endswith("/") else path + "/fail"


def _ping_body(reason: str) -> bytes:
    data = "\n".join(printable(line) for line in reason.splitlines()).encode("utf-8")
    if len(data) <= MAX_PING_BODY:
        return data
    marker = ELLIPSIS.encode("utf-8")
    # cut on a character boundary: a split UTF-8 sequence at the end is dropped, not sent broken
    return data[:MAX_PING_BODY - len(marker)].decode("utf-8", "ignore").encode("utf-8") + marker


def ping_request(url: str, ok: bool, reason: str) -> Tuple[str, bytes]:
    """Takes the ping URL, whether the run was healthy and why (one problem per line, or a summary);
    returns (URL to POST to, body): url itself on success, url + "/fail" on failure (a trailing slash and
    the query string kept), the reason as body, printable, at most MAX_PING_BODY bytes.

    Raises ValueError for a URL that is not http(s); the message shows only redact_url(url).
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        parts, host = None, None
    if parts is None or parts.scheme not in ("http", "https") or not host:
        raise ValueError(NOT_A_PING_URL.format(url=redact_url(url)))
    target = url if ok else urlunsplit((parts.scheme, parts.netloc, _fail_path(parts.path), parts.query, ""))
    return target, _ping_body(reason)


def redact_url(url: str) -> str:
    """Takes a URL that holds a secret (a check's UUID, a token); returns scheme://host/… only, printable."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
    except ValueError:
        return HIDDEN_URL
    if not parts.scheme or not host:
        return HIDDEN_URL
    if ":" in host:
        host = "[" + host + "]"
    return printable("{}://{}/{}".format(parts.scheme, host, ELLIPSIS), MAX_FIELD)
