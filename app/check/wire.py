"""A plain alert written directly as the bytes that go over SMTP, the same bytes the email package writes.

The email package's ``EmailMessage`` with its ``SMTP`` policy parses every header it is given and folds it
again on output; importing its header parser and policies costs about 5 ms, on every login. The common
message (one text/plain part, an ASCII body, headers that fit one line in printable ASCII) has one spelling:
``plain_wire_bytes`` writes it. Anything else (non-ASCII, a header to fold, an HTML part) returns None and
app.check.render builds the message with the email package, as before. tests/check/test_render_wire.py
compares both on many messages, hostile ones included.
"""

from __future__ import annotations

import math
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Sequence, Tuple

    from email.message import EmailMessage

MAX_HEADER_LINE = 78  # the SMTP policy's max_line_length: a longer header is folded
MAX_BODY_LINE = 998  # RFC 5322 §2.1.1
_PRINTABLE = frozenset(chr(code) for code in range(0x20, 0x7F))
# A display name of these alone (a host name) is written as is, or quoted when it has a dot; the email package
# re-quotes or escapes other characters in ways of its own.
_NAME = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -._")


def _plain(value: str) -> bool:
    """True for a header value the SMTP policy writes unchanged: printable ASCII, no encoded-word opener, no
    leading, trailing or doubled spaces."""
    return bool(value) and _PRINTABLE.issuperset(value) and "=?" not in value and value == value.strip() \
        and "  " not in value


def plain_wire_bytes(display_name: str, addresses: Sequence[str], headers: Sequence[Tuple[str, str]],
                     body: str) -> Optional[bytes]:
    """The message From "display_name" <addresses[0]>, To the rest, with headers (Subject, Date, Message-ID)
    and body as 7bit text/plain, in CRLF wire form; None when the email package would write it differently."""
    sender = "{} <{}>".format('"{}"'.format(display_name) if "." in display_name else display_name, addresses[0])
    lines: List[Tuple[str, str]] = [("From", sender), ("To", ", ".join(addresses[1:])), *headers,
                                    ("Auto-Submitted", "auto-generated"), ("X-Mailer", "ssh_alert")]
    if not _NAME.issuperset(display_name) or not all(_plain(part) for part in [display_name, *addresses]) or any(
            not _plain(value) or len(name) + 2 + len(value) > MAX_HEADER_LINE for name, value in lines):
        return None
    body_lines = body.split("\n")
    if body.endswith("\n"):
        body_lines.pop()
    if not all(_PRINTABLE.issuperset(line) and len(line) <= MAX_BODY_LINE for line in body_lines):
        return None
    head = "".join("{}: {}\r\n".format(name, value) for name, value in lines)
    head += 'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: 7bit\r\nMIME-Version: 1.0\r\n'
    return (head + "\r\n" + "".join(line + "\r\n" for line in body_lines)).encode("ascii")


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def date_header(now: float) -> str:
    """The Date header for now, in local time: email.utils.formatdate(now, localtime=True), whose import (with
    calendar, locale, random and email.charset) costs about 7 ms of a login, from time.localtime (datetime's
    import would cost 2 ms more)."""
    fraction, whole = math.modf(now)  # to the second as datetime.fromtimestamp rounds: to the microsecond first
    microseconds = round(fraction * 1e6)
    local = time.localtime(int(whole) + (1 if microseconds >= 1000000 else -1 if microseconds < 0 else 0))
    return "{}, {:02d} {} {:04d} {:02d}:{:02d}:{:02d} {}".format(
        _DAYS[local.tm_wday], local.tm_mday, _MONTHS[local.tm_mon - 1], local.tm_year, local.tm_hour, local.tm_min,
        local.tm_sec, time.strftime("%z", local))


class WireMessage:
    """A message written as its wire bytes, readable like the email.message.EmailMessage the email package
    would have built: the headers it was given (Subject, Date, Message-ID) as given, anything else from the
    bytes parsed on first use (tests, `test`)."""

    def __init__(self, data: bytes, headers: Dict[str, str]) -> None:
        self.data = data
        self.headers = {name.lower(): value for name, value in headers.items()}
        self._parsed: Optional["EmailMessage"] = None

    def as_bytes(self) -> bytes:
        """The message as it goes over SMTP (CRLF line ends)."""
        return self.data

    def parsed(self) -> "EmailMessage":
        """The message parsed from its bytes by the email package (the SMTP policy)."""
        if self._parsed is None:
            import email
            from email.message import EmailMessage
            from email.policy import SMTP

            # with local line ends, as the email package holds a message it built: get_content() has "\n"
            parsed = email.message_from_bytes(self.data.replace(b"\r\n", b"\n"), _class=EmailMessage, policy=SMTP)
            self._parsed = parsed
        return self._parsed

    def __getitem__(self, name: str) -> Any:
        value = self.headers.get(name.lower())
        return value if value is not None else self.parsed()[name]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("data", "headers", "_parsed"):
            raise AttributeError(name)
        return getattr(self.parsed(), name)
