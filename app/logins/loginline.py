"""One line of the login log, as the login hook writes it, parsed into a LoginRecord.

Format (the original script's six fields first, so its old logs parse, then key=value extras)::

    2026-11-25 11:55:03 +0000 203.0.113.7 alice publickey cport=51234 saddr=10.0.0.1 sport=22
        tty=/dev/pts/0 hook=bash-profile epoch=1795607703 keytype=ssh-ed25519 key=AAAAC3Nz...

Anything else in the log (hand edits, garbage, an attacker's bytes) still becomes a record:
``parsed`` is False and ``raw`` shows the text safely.
"""

from __future__ import annotations

import re

from app.system.record import Record
from app.system.text import printable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, Optional, Sequence, Tuple

MAX_FIELD = 200  # longer values are cut: a field is shown in a subject or one body line
_TIMESTAMP = r"\A\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\Z"
_EPOCH = re.compile(r"\A[0-9]{1,12}\Z")
MAX_EPOCH = 253402300800  # 10000-01-01: every time below it can be shown as a date
_EXTRA = re.compile(r"\A([a-z][a-z_]{0,31})=(.*)\Z")
_FIELD_CHARACTERS = re.compile(r"\A[\w.:%@/+,=-]*\Z")


class LoginRecord(Record):
    """What one log line says about one login; empty strings mean "not recorded"."""

    raw: str
    parsed: bool
    when: str = ""
    ip: str = ""
    user: str = ""
    methods: Tuple[str, ...] = ()
    extras: Tuple[Tuple[str, str], ...] = ()

    def extra(self, key: str) -> str:
        """Return the key=value extra named key, or ""."""
        return dict(self.extras).get(key, "")

    @property
    def connection(self) -> Tuple[str, str, str, str]:
        """The TCP connection this login came over: (client ip, client port, server address, server port)."""
        return (self.ip, self.extra("cport"), self.extra("saddr"), self.extra("sport"))

    @property
    def connection_key(self) -> str:
        """The connection as one string, or "" when the line does not name the client port (older formats).

        With the connection's sshd process (spid), a new connection that reuses a client port within
        minutes (NAT, a busy loopback) is a new login, not a repeat of the old one.
        """
        if not (self.parsed and self.extra("cport")):
            return ""
        spid = self.extra("spid")
        return " ".join(self.connection + ((spid,) if spid else ()))

    @property
    def epoch(self) -> Optional[float]:
        """The login time as a Unix timestamp, or None when unparsed.

        The hook's epoch= extra when it is a sane integer (no time zone involved, so an offset of 24 h or
        more, which the local time field cannot express, does not matter), else the local time field
        parsed with its offset (lines of older hooks).
        """
        if not self.parsed:
            return None
        seconds = self.extra("epoch")
        if _EPOCH.match(seconds) and int(seconds) < MAX_EPOCH:
            return float(int(seconds))
        import datetime  # older hooks' lines alone: today's hook writes epoch=

        try:
            return datetime.datetime.strptime(self.when, "%Y-%m-%d %H:%M:%S %z").timestamp()
        except ValueError:
            return None


def safe_text(data: bytes, limit: int = 2000) -> str:
    """Return data as printable text: invalid UTF-8 and unsafe characters escaped, cut to limit characters."""
    text = data.decode("utf-8", "backslashreplace")
    if len(text) > limit:
        text = text[:limit] + "…"
    return printable(text)


def parse_line(line: bytes) -> LoginRecord:
    """Parse one log line (without its newline); never raises."""
    raw = safe_text(line.rstrip(b"\r\n"))
    fields = raw.split(" ")
    if len(fields) < 6 or not re.match(_TIMESTAMP, " ".join(fields[:3])):
        return LoginRecord(raw=raw, parsed=False)
    ip, user, auth = fields[3], fields[4], fields[5]
    if not all(_FIELD_CHARACTERS.match(value) and len(value) <= MAX_FIELD for value in (ip, user, auth)):
        return LoginRecord(raw=raw, parsed=False)
    methods = tuple(method for method in auth.split(",") if method and method != "unknown")
    extras: Dict[str, str] = {}
    for token in fields[6:]:
        match = _EXTRA.match(token)
        if match and match.group(1) not in extras:
            extras[match.group(1)] = match.group(2)[:MAX_FIELD]
    return LoginRecord(
        raw=raw,
        parsed=True,
        when=" ".join(fields[:3]),
        ip=ip,
        user=user,
        methods=methods,
        extras=tuple(extras.items()),
    )


def merge_login_records(first: LoginRecord, others: Sequence[LoginRecord]) -> LoginRecord:
    """One connection seen by several hooks: the first line, completed by what the others know.

    ~/.ssh/rc cannot tell a command from a file transfer, ~/.bashrc can; the alert says what any knew.
    """
    extras = dict(first.extras)
    hooks = [extras["hook"]] if extras.get("hook") else []
    methods = first.methods
    for other in others:
        methods = methods or other.methods
        for key, value in other.extras:
            if key == "hook":
                if value not in hooks:
                    hooks.append(value)
            elif value and extras.get(key, "none") in ("", "none"):
                extras[key] = value
    if hooks:
        extras["hook"] = ",".join(hooks)
    return first._replace(methods=methods, extras=tuple(extras.items()))
