"""Which keys may log in to this account (authorized_keys, as sshd reads it), and what changed since last time.

A snapshot is JSON-able: {"files": {path: {"state", "mtime", "mode"}}, "keys": {fingerprint: [{"file",
"type", "comment", "options"}, ...]}}. A file that cannot be read keeps the keys it had (carry_unreadable):
hiding the file is one finding, not one "key removed" per key.
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path

from app.system.record import Record
from app.watch.findings import MISSING, OK, Finding, Snapshot, change_key, is_problem, read_small_file, tilde, when
from app.rules.keys import blob_type, fingerprint
from app.watch.sshdconf import settings
from app.system.text import printable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Sequence, Tuple

KEY_FILE_LIMIT = 1024 * 1024
DEFAULT_KEY_FILES = (".ssh/authorized_keys", ".ssh/authorized_keys2")
SHOWN = 200  # characters of a comment or of the options in a title


class KeyEntry(Record):
    key_type: str
    fingerprint: str  # "SHA256:..." as ssh-keygen -lf prints it
    comment: str
    options: Tuple[str, ...]  # as written: 'command="echo a,b"', 'restrict'
    file: str


def _is_key(words: Sequence[str]) -> bool:
    return len(words) >= 2 and blob_type(words[1]) == words[0]


def _unquoted_ends(text: str, separators: str) -> List[int]:
    """Offsets of the separators outside double quotes (\\" is an escaped quote), as sshd reads options."""
    ends, quoted, index = [], False, 0
    while index < len(text):
        character = text[index]
        if character == "\\" and text[index + 1:index + 2] == '"':
            index += 2
            continue
        if character == '"':
            quoted = not quoted
        elif not quoted and character in separators:
            ends.append(index)
        index += 1
    return ends


def parse_key_line(line: str, file: str = "") -> Optional[KeyEntry]:
    """Takes one authorized_keys line; returns its KeyEntry, or None for a blank, comment or unusable line."""
    stripped = line.strip(" \t\r")
    if not stripped or stripped.startswith("#"):
        return None
    words = stripped.split(None, 2)
    options: Tuple[str, ...] = ()
    if not _is_key(words):
        end = next(iter(_unquoted_ends(stripped, " \t")), len(stripped))
        starts = [0] + [comma + 1 for comma in _unquoted_ends(stripped[:end], ",")]
        stops = [start - 1 for start in starts[1:]] + [end]
        options = tuple(stripped[start:stop] for start, stop in zip(starts, stops) if stop > start)
        words = stripped[end:].split(None, 2)
        if not _is_key(words):
            return None
    comment = words[2].strip() if len(words) > 2 else ""
    return KeyEntry(words[0], fingerprint(words[1]) or "", comment, options, file)


def _expand(pattern: str, home: str, user: str) -> Optional[str]:
    """AuthorizedKeysFile's %h, %u, %U and %% (sshd_config(5) TOKENS); None for any other token."""
    values = {"h": home, "u": user, "U": str(os.getuid()), "%": "%"}
    parts, index = [], 0
    while index < len(pattern):
        if pattern[index] == "%":
            value = values.get(pattern[index + 1:index + 2])
            if value is None:
                return None
            parts.append(value)
            index += 2
        else:
            parts.append(pattern[index])
            index += 1
    return "".join(parts)


def key_files(home: Path, sshd_config_text: str = "", user: Optional[str] = None) -> List[Path]:
    """Takes the home directory and `sshd -T` or sshd_config text; returns ~/.ssh/authorized_keys{,2} and every
    AuthorizedKeysFile (Match blocks included: watching one more file costs nothing), in order, once each."""
    if user is None:
        try:
            user = pwd.getpwuid(os.getuid()).pw_name
        except KeyError:
            user = os.environ.get("USER", "")
    found = [home / name for name in DEFAULT_KEY_FILES]
    for setting in settings(sshd_config_text, "AuthorizedKeysFile"):
        for pattern in setting.arguments:
            expanded = None if pattern.lower() == "none" else _expand(pattern, str(home), user)
            if expanded:
                path = Path(os.path.normpath(os.path.join(str(home), expanded)))  # an absolute one stays as it is
                if path not in found:
                    found.append(path)
    return found


def snapshot_keys(files: Sequence[Path]) -> Dict[str, Snapshot]:
    """Takes the key files; returns the JSON-able snapshot (module docstring). Reads only regular files
    (no symbolic link followed), at most KEY_FILE_LIMIT bytes each; never raises for a bad file."""
    states: Dict[str, Snapshot] = {}
    keys: Dict[str, List[Snapshot]] = {}
    for path in files:
        read = read_small_file(path, KEY_FILE_LIMIT)
        states[str(path)] = {"state": read.state, "mtime": read.mtime, "mode": read.mode}
        # sshd splits lines at "\n" only: a CR or U+2028 inside a comment stays in the comment.
        for line in (read.data or b"").decode("utf-8", "replace").split("\n"):
            entry = parse_key_line(line, str(path))
            if entry is not None and entry.fingerprint:
                keys.setdefault(entry.fingerprint, []).append(
                    {"file": entry.file, "type": entry.key_type, "comment": entry.comment,
                     "options": list(entry.options)})
    return {"files": states, "keys": keys}


def carry_unreadable(previous: Optional[Snapshot], current: Snapshot) -> Snapshot:
    """Returns current where every file that cannot be read now (or is no longer listed) keeps its previous keys."""
    previous_files = (previous or {}).get("files") or {}
    listed = current.get("files") or {}
    files = dict(listed, **{name: state for name, state in previous_files.items() if name not in listed})
    kept = {name for name, state in files.items() if name not in listed or is_problem(state.get("state"))}
    keys = {digest: [entry for entry in entries if entry.get("file") not in kept]
            for digest, entries in (current.get("keys") or {}).items()}
    for digest, entries in ((previous or {}).get("keys") or {}).items():
        keys.setdefault(digest, []).extend(entry for entry in entries if entry.get("file") in kept)
    return {"files": files, "keys": {digest: entries for digest, entries in keys.items() if entries}}


def _by_file(snapshot: Snapshot) -> Dict[Tuple[str, str], Snapshot]:
    """(fingerprint, file) -> the first entry: sshd uses the first line holding a key."""
    index: Dict[Tuple[str, str], Snapshot] = {}
    for digest, entries in (snapshot.get("keys") or {}).items():
        for entry in entries:
            index.setdefault((digest, str(entry.get("file"))), dict(entry, fingerprint=digest))
    return index


def _options(entry: Snapshot) -> str:
    return ",".join(printable(str(option)) for option in entry.get("options") or []) or "none"


_VERBS = {"key-added": ("added to", "SSH key added to"), "key-removed": ("removed from", "SSH key removed from"),
          "key-options": ("given other options in", "SSH key options changed in")}
_ADVICE = {"key-added": "It can now log in to this account. If you did not add it, delete its line from {0} "
                        "(ssh-keygen -lf {0} lists the fingerprints)",
           "key-removed": "It can no longer log in. If you did not remove it, someone else can edit {0}: "
                          "put the key back from your own copy",
           "key-options": "Options limit what a login with this key may do (command=, from=, restrict). If you did "
                          "not change them, restore the line in {0}"}


def _key_finding(kind: str, entry: Snapshot, before: Optional[Snapshot], previous: Snapshot, changed: str, file: str) -> Finding:
    comment = printable(str(entry.get("comment", "")), SHOWN)
    key = "{} {}".format(printable(str(entry.get("type")), SHOWN), entry["fingerprint"])
    verb, title_verb = _VERBS[kind]
    title = "{} {}: {}{}".format(title_verb, file, key, ' "{}"'.format(comment) if comment else "")
    if kind == "key-options" or (kind == "key-added" and entry.get("options")):
        title += " options: " + printable(_options(entry), SHOWN)
    lines = ["An SSH key was {} {} (the file changed at {}).".format(verb, file, changed),
             "Key: " + key, "Comment: " + (comment or "none"), "Options: " + _options(entry)]
    if kind == "key-options":
        lines.append("Options before: " + _options(before or {}))
    lines.append(_ADVICE[kind].format(file) + ", and look at recent logins: ~/bin/ssh_alert.pyz history")
    subject = "{} {}".format(entry["fingerprint"], entry["file"])
    key_id = change_key(kind, subject, previous, before, entry if kind != "key-removed" else None)
    return Finding(kind, key_id, printable(title, 300), "\n".join(lines), kind != "key-removed")


def _file_finding(name: str, before: Snapshot, now: Snapshot, previous: Snapshot, changed_time: float, file: str) -> Finding:
    state, mode = printable(str(now.get("state"))), before.get("mode")
    restore = ("run: chmod {:o} {}".format(mode, file) if isinstance(mode, int) and state.startswith("unreadable")
               else "put the regular file back (ls -l {} shows what is there now)".format(file))
    text = ("{} can no longer be read by ssh_alert ({}; noticed at {}): key changes in it cannot be seen, and "
            "sshd may not be able to read it either. The keys it held are kept as they were. Restore: {}"
            ).format(file, state, when(changed_time), restore)
    return Finding("key-file", change_key("key-file", name, previous, before.get("state"), now.get("state")),
                   "SSH key file {} cannot be read: {}".format(file, state), text, True)


def key_changes(previous: Optional[Snapshot], current: Snapshot, changed_time: float, home: str = "") -> List[Finding]:
    """Takes two snapshots, the time to name when a file's own mtime is unknown (the caller's now) and the
    home directory (files under it are shown as ~/...); returns one Finding per key file that became
    unreadable and per key added, removed or given other options (by fingerprint and file).
    No previous snapshot (a first run): no findings."""
    if not isinstance(previous, dict) or not isinstance(previous.get("files"), dict):
        return []
    current = carry_unreadable(previous, current)

    def shown(name: str) -> str:
        return printable(tilde(name, home) if home else name)

    def changed(entry: Snapshot) -> str:
        state = current["files"].get(entry["file"]) or {}
        return when(state.get("mtime") if state.get("state") == OK else changed_time)

    findings = []
    for name, now in current["files"].items():
        before = previous["files"].get(name) or {"state": MISSING}
        if is_problem(now.get("state")) and now.get("state") != before.get("state"):
            findings.append(_file_finding(name, before, now, previous, changed_time, shown(name)))
    old, new = _by_file(previous), _by_file(current)
    for subject in sorted(set(old) | set(new)):
        before, after = old.get(subject), new.get(subject)
        if after is not None and before is None:
            findings.append(_key_finding("key-added", after, None, previous, changed(after), shown(subject[1])))
        elif before is not None and after is None:
            findings.append(_key_finding("key-removed", before, before, previous, changed(before), shown(subject[1])))
        elif before is not None and after is not None and before.get("options") != after.get("options"):
            findings.append(_key_finding("key-options", after, before, previous, changed(after), shown(subject[1])))
    return findings
