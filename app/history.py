"""The login history: one JSON line per login check processed, whether it was emailed or not.

``check`` appends what it committed (after the mail went out, before the state moves on); a crash in
between can append a login twice, so readers drop repeats by ``log_key`` (the log file and the byte
offset of the line's end). ``ssh_alert.pyz history`` reads it; digests and ``notify = new`` rely on
it to say that nothing was dropped.
"""

import json
import os
from pathlib import Path
from typing import Iterable, List, NamedTuple, Tuple

from app.files import ensure_private_dir

MAX_BYTES = 4 * 1024 * 1024  # then history.jsonl becomes history.jsonl.1 (one generation kept)

# outcome values
EMAILED, DIGEST, TRUSTED_SKIPPED, KNOWN_IP = "emailed", "digest", "trusted: not emailed", "known IP: not emailed"


class HistoryEntry(NamedTuple):
    time: str  # as the hook wrote it: local time with its UTC offset
    epoch: float  # 0 when the line had no readable time
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


def append(path: Path, entries: Iterable[HistoryEntry]) -> None:
    """Append entries as JSON lines with one write (O_APPEND, 0600); rotates past MAX_BYTES. Raises OSError."""
    data = "".join(json.dumps(entry._asdict(), sort_keys=True) + "\n" for entry in entries).encode("utf-8")
    if not data:
        return
    ensure_private_dir(path.parent)
    try:
        if os.stat(str(path)).st_size > MAX_BYTES:
            os.replace(str(path), str(path) + ".1")
    except FileNotFoundError:
        pass
    descriptor = os.open(str(path), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(descriptor, data)
    finally:
        os.close(descriptor)


def read(path: Path) -> List[HistoryEntry]:
    """Every recorded login, oldest first (the rotated generation included), each once; bad lines skipped."""
    entries, seen = [], set()
    for source in (Path(str(path) + ".1"), path):
        try:
            lines = source.read_bytes().splitlines()
        except OSError:
            continue
        for line in lines:
            try:
                document = json.loads(line.decode("utf-8"))
                entry = HistoryEntry(**{field: document[field] for field in HistoryEntry._fields
                                        if field in document})
            except (ValueError, TypeError, KeyError):
                continue
            if entry.log_key in seen:
                continue
            seen.add(entry.log_key)
            entries.append(entry._replace(methods=tuple(entry.methods)))
    return entries
