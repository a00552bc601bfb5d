"""The one sanitiser: text from outside (log lines, key comments, reverse DNS, replies) made safe to show."""

from __future__ import annotations

import re

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

ELLIPSIS = "\u2026"
# C0/C1 controls, zero-width characters (U+200B-200D, U+2060-206F, U+FEFF), bidi controls (U+200E/F,
# U+202A-202E, U+2066-2069), line/paragraph separators, lone surrogates: anything that could break a line,
# fake a second one, or reorder what a reader sees. str.isprintable() is False for every one of them, so text
# it passes is left as it is, and only other text pays for compiling this class (about 1 ms, at every login).
UNPRINTABLE = "[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ud800-\udfff]"


def _escape(match: "re.Match[str]") -> str:
    code = ord(match.group())
    return "\\x{:02x}".format(code) if code < 256 else "\\u{:04x}".format(code)


def printable(text: str, limit: Optional[int] = None) -> str:
    """Return text with those characters escaped as \\xNN or \\uXXXX; cut to limit characters with … when given.

    The result holds only characters that are shown as themselves, so printable(printable(text)) == printable(text).
    """
    if not text.isprintable():
        text = re.sub(UNPRINTABLE, _escape, text)
    if limit is not None and len(text) > limit:
        text = text[:limit - 1] + ELLIPSIS
    return text
