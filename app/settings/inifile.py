"""Edit the config file's text in place: set or remove single keys, keep every other byte the user wrote.

configparser can read the file but writing through it drops comments, blank lines and the user's layout;
setup must change only the keys it asked about. These functions work on lines: a key's line (and its
indented continuation lines) is replaced or removed, a new key goes after the last key of its section, a
new section at the end. An inline comment after the old value (``method = smtp   ; smtp | sendmail``)
stays after the new value.
"""

from __future__ import annotations

import re

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Sequence, Tuple, TypeAlias

Change: TypeAlias = "Tuple[str, str, Optional[str]]"  # (section, key, new INI text); None removes the key

_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*(?:[;#].*)?$")
_KEY = re.compile(r"^([^\s=:;#\[][^=:]*?)\s*[=:]")
_INLINE_COMMENT = re.compile(r"(\s+[;#].*)$")


class _Line:
    """Where a key sits: the index of its line and how many continuation lines follow it."""

    def __init__(self, index: int, extra: int) -> None:
        self.index, self.extra = index, extra


def _layout(lines: Sequence[str]) -> Tuple[Dict[str, Tuple[int, int]], Dict[Tuple[str, str], _Line]]:
    """The sections (name -> header index, index after its last key or header) and keys of lines."""
    sections: Dict[str, Tuple[int, int]] = {}
    keys: Dict[Tuple[str, str], _Line] = {}
    section = ""
    last: Optional[Tuple[str, str]] = None
    for index, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped[0] in ";#":
            last = None if not stripped else last
            continue
        header = _SECTION.match(line)
        if header:
            section, last = header.group(1).strip(), None
            sections[section] = (index, index + 1)
            continue
        if line[0].isspace() and last is not None:  # a continuation of the previous key's value
            keys[last].extra += 1
            sections[section] = (sections[section][0], index + 1)
            continue
        match = _KEY.match(line)
        if match and section in sections:
            last = (section, match.group(1).strip().lower())
            keys[last] = _Line(index, 0)
            sections[section] = (sections[section][0], index + 1)
    return sections, keys


def _ending(line: str) -> str:
    return line[len(line.rstrip("\r\n")):] or "\n"


def _replaced(line: str, name: str, text: str) -> str:
    """The key's line with its value replaced; its spelling of the name, spacing and inline comment kept."""
    body = line.rstrip("\r\n")
    match = re.match(r"^(\s*[^=:]*?\s*[=:]\s*)(.*)$", body)
    prefix = match.group(1) if match else "{} = ".format(name)
    comment = _INLINE_COMMENT.search(match.group(2)) if match else None
    return prefix + text + (comment.group(1) if comment else "") + _ending(line)


def edit(text: str, changes: Sequence[Change]) -> str:
    """Return text with each change applied (pure); everything else stays byte for byte.

    A value is set on the key's existing line, else on a new line after its section's last key, else in a
    new section at the end. Removing a key that is not there changes nothing.
    """
    lines: List[str] = text.splitlines(keepends=True)
    for section, name, value in changes:
        sections, keys = _layout(lines)
        where = keys.get((section, name.lower()))
        if where is not None:
            replacement = [] if value is None else [_replaced(lines[where.index], name, value)]
            lines[where.index:where.index + 1 + where.extra] = replacement
        elif value is None:
            continue
        elif section in sections:
            at = sections[section][1]
            if at > 0 and not lines[at - 1].endswith(("\n", "\r")):
                lines[at - 1] += "\n"
            lines.insert(at, "{} = {}\n".format(name, value))
        else:
            if lines and not lines[-1].endswith(("\n", "\r")):
                lines[-1] += "\n"
            if lines and lines[-1].strip():
                lines.append("\n")
            lines += ["[{}]\n".format(section), "{} = {}\n".format(name, value)]
    return "".join(lines)


def diff(old: str, new: str, path: str) -> List[str]:
    """The unified diff from old to new as lines without line ends; [] when they are equal."""
    import difflib

    return [line.rstrip("\r\n") for line in difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), path + " (now)", path + " (setup)", n=1)]
