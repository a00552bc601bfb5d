"""The syslog channel: one line per login, for log collectors and fail2ban-style rules.

``ssh_alert: event=login id=evt_... epoch=1764111303 host=web1 user=alice ip=203.0.113.7 ...`` (strict
logfmt), or one JSON object per line with syslog_format = json. The id and epoch let a central store drop
the duplicates rsyslog's own queues make across restarts. Lines are events of the outbox: a socket that
is missing or refuses leaves them pending, retried by the next run. send() writes each line as one
datagram through the stdlib SysLogHandler: ``<PRI>ssh_alert: event=login ...``.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import re
import socket

from app.channels.base import RETRY, SENT, Event, Outcome
from app.system.text import ELLIPSIS, printable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Sequence, Tuple

TAG = "ssh_alert"
MAX_LINE_BYTES = 900  # the message after the tag: with "<PRI>ssh_alert: " it stays under RFC 3164's 1024
FACILITIES = ("authpriv", "user")
UNKNOWN_FACILITY = "unknown syslog facility {facility!r}; one of: {choices}"

_NEEDS_QUOTES = re.compile(r'[\s"\\=]')


def quoted(value: str) -> str:
    """Return value as it appears after "key=": bare when plain, else in double quotes with " and \\ escaped."""
    if value and not _NEEDS_QUOTES.search(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def login_fields(login: Dict[str, Any], host: str, event_id: str) -> List[Tuple[str, str]]:
    """Return the (key, value) pairs of one login of an event (app.check.events), in line order, printable."""
    key = "{} {}".format(login["key_type"] or "key", login["key_fingerprint"]) if login["key_fingerprint"] else ""
    fields = [("event", "login"), ("id", event_id), ("epoch", "{:.0f}".format(login["epoch"] or 0)),
              ("host", host), ("user", login["user"]), ("ip", login["ip"]), ("rdns", login["rdns"]),
              ("method", ",".join(login["methods"])), ("key", key), ("comment", login["key_comment"]),
              ("kind", login["kind"]), ("new_ip", _yes_no(login["new_ip"])), ("trusted", _yes_no(login["trusted"])),
              ("outcome", login["outcome"]), ("time", login["time"])]
    if login.get("country") or login.get("asn"):  # geoip_db
        fields += [("country", login["country"]), ("asn", login["asn"] or ""), ("org", login["org"]),
                   ("new_country", _yes_no(login["new_country"])), ("new_network", _yes_no(login["new_network"]))]
    if login.get("raw"):
        fields.append(("raw", login["raw"]))
    return [(name, printable(str(value))) for name, value in fields]


def _joined(fields: Sequence[Tuple[str, str]]) -> str:
    return " ".join("{}={}".format(key, quoted(value)) for key, value in fields)


def shortened(value: str, cap: int) -> str:
    """Return value if its UTF-8 form fits in cap bytes, else its longest prefix that does with … added."""
    encoded = value.encode("utf-8")
    if len(encoded) <= cap:
        return value
    room = max(0, cap - len(ELLIPSIS.encode("utf-8")))
    return encoded[:room].decode("utf-8", "ignore") + ELLIPSIS


def fitted(fields: Sequence[Tuple[str, str]], limit: int) -> str:
    """Join fields into "login k=v ...", within limit bytes when it can: the long values are cut (with …) to
    the largest common length that fits, so one huge value cannot crowd out the others."""
    line = _joined(fields)
    if len(line.encode("utf-8")) <= limit:
        return line
    fixed = list(fields[:3])  # event, id and epoch are short and never cut: they are what a collector dedupes on
    fields = fields[3:]
    limit -= len(_joined(fixed).encode("utf-8")) + 1
    low, high = 0, max(len(value.encode("utf-8")) for _, value in fields)
    while low < high:  # the largest cap whose line fits
        cap = (low + high + 1) // 2
        if len(_joined([(key, shortened(value, cap)) for key, value in fields]).encode("utf-8")) <= limit:
            low = cap
        else:
            high = cap - 1
    return _joined(fixed + [(key, shortened(value, low)) for key, value in fields])


def event_lines(event: Event, syslog_format: str = "logfmt") -> List[str]:
    """Return the syslog messages of one event (without the tag; send() adds "ssh_alert: "), each at most
    MAX_LINE_BYTES: one per login, or one for a notice. Example:
    event=login id=evt_3f... epoch=1764071703 host=web1 user=alice ip=203.0.113.7 rdns="" method=publickey
    key="ssh-ed25519 SHA256:..." comment=alice@laptop kind=command new_ip=yes trusted=no outcome=emailed
    time="2026-11-25 11:55:03 +0000"
    """
    host = str(event.get("host", ""))
    records = [login_fields(login, host, event["id"]) for login in event.get("logins", [])]
    if not records:
        records = [[("event", str(event.get("type", "notice"))), ("id", event["id"]),
                    ("epoch", "{:.0f}".format(event.get("time", 0))), ("host", host),
                    ("title", printable(str(event.get("title", ""))))]]
    if syslog_format == "json":
        return [_json_line(typed(fields)) for fields in records]
    return [fitted(fields, MAX_LINE_BYTES) for fields in records]


JSON_NUMBERS = ("epoch",)
JSON_BOOLEANS = ("new_ip", "trusted")


def typed(fields: Sequence[Tuple[str, str]]) -> List[Tuple[str, Any]]:
    """The fields as JSON shows them: epoch a number, new_ip and trusted booleans, the rest strings (the schema
    in docs/channels.md, shared with the webhook's login objects)."""
    values: List[Tuple[str, Any]] = []
    for key, value in fields:
        if key in JSON_NUMBERS and value.isdigit():
            values.append((key, int(value)))
        elif key in JSON_BOOLEANS and value in ("yes", "no"):
            values.append((key, value == "yes"))
        else:
            values.append((key, value))
    return values


def _json_line(fields: Sequence[Tuple[str, Any]]) -> str:
    """One JSON object, its strings cut like the logfmt line's values when it would not fit."""
    line = json.dumps(dict(fields), ensure_ascii=False, separators=(",", ":"))
    if len(line.encode("utf-8")) <= MAX_LINE_BYTES:
        return line
    cap = MAX_LINE_BYTES // max(1, len(fields))
    return json.dumps({key: (shortened(value, cap) if index >= 3 and isinstance(value, str) else value)
                       for index, (key, value) in enumerate(fields)}, ensure_ascii=False, separators=(",", ":"))


def sender(socket_path: str, facility: str, syslog_format: str, target: str = "") -> Callable[[Event], Outcome]:
    """The syslog channel: writes an event's lines; a missing or refusing socket is a retry, never an exception."""
    if syslog_format == "rfc5424" or target:  # structured data, to the socket or a collector (app.channels.syslog5424)
        from app.channels.syslog5424 import sender as rfc5424_sender

        return rfc5424_sender(socket_path, facility, target)

    def send_event(event: Event) -> Outcome:
        try:
            send(event_lines(event, syslog_format), socket_path, facility)
        except OSError as error:
            return Outcome(RETRY, "cannot write to syslog at {}: {}".format(socket_path, error.strerror or error))
        return Outcome(SENT)

    return send_event


class _RaisingSysLogHandler(logging.handlers.SysLogHandler):
    """The stdlib handler, except that a failed emit() raises instead of printing a traceback to stderr."""

    def handleError(self, record: logging.LogRecord) -> None:
        raise  # emit() calls this inside its except block: the OSError goes to send()'s caller


def send(lines: Sequence[str], socket_path: str = "/dev/log", facility: str = "authpriv") -> None:
    """Write each line as one datagram "<PRI>ssh_alert: line" (severity info) to the syslog socket at socket_path.

    Raises OSError when the socket is missing or refuses (the caller decides whether that matters),
    ValueError for a facility other than FACILITIES.
    """
    if facility not in FACILITIES:
        raise ValueError(UNKNOWN_FACILITY.format(facility=facility, choices=", ".join(FACILITIES)))
    handler = _RaisingSysLogHandler(address=socket_path, facility=facility, socktype=socket.SOCK_DGRAM)
    handler.ident = TAG + ": "
    handler.append_nul = False  # no trailing NUL: the datagram glibc's syslog() would send
    try:
        for line in lines:
            handler.emit(logging.makeLogRecord({"msg": line, "levelno": logging.INFO, "levelname": "INFO"}))
    finally:
        handler.close()
