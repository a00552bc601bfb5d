"""Reading sshd's settings from `sshd -T` output or sshd_config text (Include files inlined), as sshd reads them.

Keywords are case-insensitive and may be followed by "=" (sshd_config(5)); `sshd -T` prints lower-case
"keyword value" lines and no Match blocks.
"""

from __future__ import annotations

import glob
import os
import re
import shlex
from pathlib import Path

from app.system.record import Record
from app.watch.findings import OK, read_small_file

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional

CONFIG_LIMIT = 1024 * 1024
INCLUDE_DEPTH = 16  # sshd's own limit on nested Include
_LINE = re.compile(r"\s*([A-Za-z][A-Za-z0-9]*)\s*(?:=\s*|\s+|$)(.*)")


class Setting(Record):
    arguments: List[str]
    in_match: bool  # inside a Match block: applies only to the connections the block matches


def settings(text: str, keyword: str) -> List[Setting]:
    """Takes config text and a keyword; returns every line setting it, in order, arguments unquoted."""
    found = []
    in_match = False
    for line in text.split("\n"):
        match = _LINE.match(line)
        if match is None or line.lstrip().startswith("#"):
            continue
        word, rest = match.group(1).lower(), match.group(2).strip()
        if word == "match":
            in_match = True
        elif word == keyword.lower():
            try:
                arguments = shlex.split(rest, comments=True)
            except ValueError:
                arguments = rest.split()
            found.append(Setting(arguments, in_match))
    return found


def first_value(text: str, keyword: str) -> Optional[str]:
    """The value sshd uses outside Match blocks (the first one given wins), lower-cased; None when unset."""
    return next((setting.arguments[0].lower() for setting in settings(text, keyword)
                 if not setting.in_match and setting.arguments), None)


def config_text(path: Path, depth: int = 0) -> str:
    """Takes sshd_config's path; returns its text with every readable Include file inlined where it is named
    (relative patterns are relative to the config's directory, matches in name order); "" when unreadable."""
    read = read_small_file(path, CONFIG_LIMIT, follow_links=True)
    if read.state != OK or read.data is None:
        return ""
    lines = []
    for line in read.data.decode("utf-8", "replace").split("\n"):
        match = _LINE.match(line)
        if match is None or match.group(1).lower() != "include" or depth >= INCLUDE_DEPTH:
            lines.append(line)
            continue
        for pattern in match.group(2).split():
            pattern = pattern if os.path.isabs(pattern) else os.path.join(str(path.parent), pattern)
            included = (config_text(Path(name), depth + 1) for name in sorted(glob.glob(pattern)))
            lines.extend(text.rstrip("\n") for text in included if text)
    return "\n".join(lines)
