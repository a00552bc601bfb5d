"""One syslog line per login, for log collectors and fail2ban-style rules: ``ssh_alert: login user=... ip=...``.

syslog_line() computes the message (key=value, hostile values kept on one line); send() writes each message
as one datagram to the local syslog socket through the stdlib SysLogHandler: ``<PRI>ssh_alert: login ...``.
"""

import logging
import logging.handlers
import re
import socket
from typing import List, Sequence, Tuple

from app.alerting.history import HistoryEntry
from app.system.text import ELLIPSIS, printable

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


def login_fields(entry: HistoryEntry, host: str) -> List[Tuple[str, str]]:
    """Return the (key, value) pairs of one login, in line order, values made printable."""
    fields = [("host", host), ("user", entry.user), ("ip", entry.ip), ("rdns", entry.rdns),
              ("method", ",".join(entry.methods)), ("key", entry.key), ("comment", entry.key_comment),
              ("kind", entry.kind), ("new_ip", _yes_no(entry.new_ip)), ("trusted", _yes_no(entry.trusted)),
              ("outcome", entry.outcome), ("time", entry.time)]
    if entry.raw:
        fields.append(("raw", entry.raw))
    return [(key, printable(value)) for key, value in fields]


def _joined(fields: Sequence[Tuple[str, str]]) -> str:
    return " ".join(["login"] + ["{}={}".format(key, quoted(value)) for key, value in fields])


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
    low, high = 0, max(len(value.encode("utf-8")) for _, value in fields)
    while low < high:  # the largest cap whose line fits
        cap = (low + high + 1) // 2
        if len(_joined([(key, shortened(value, cap)) for key, value in fields]).encode("utf-8")) <= limit:
            low = cap
        else:
            high = cap - 1
    return _joined([(key, shortened(value, low)) for key, value in fields])


def syslog_line(entry: HistoryEntry, host: str) -> str:
    """Return the syslog message for one login (without the tag; send() adds "ssh_alert: "), at most MAX_LINE_BYTES.

    Takes the history entry and the host label alerts show. Example:
    login host=web1 user=alice ip=203.0.113.7 rdns="" method=publickey key="ssh-ed25519 SHA256:..." comment=alice@laptop
    kind=command new_ip=yes trusted=no outcome=emailed time="2026-11-25 11:55:03 +0000"
    """
    return fitted(login_fields(entry, host), MAX_LINE_BYTES)


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
