"""install and uninstall as data: a Plan of steps computed from facts about the files, then applied.

Planning is pure (app.commands.install / uninstall); this module holds what both share: the step types,
how a plan is listed for --dry-run and the confirmation, the install record, and the one function per
effect that applies a step. Whether a plan is applied (--yes, --dry-run, a terminal's answer) is
app.commands.confirm's.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from app.install import crontab

from app.system import files
from app.errors import UserError
from app.system.paths import Paths
from app.system.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Sequence, Tuple, TypeAlias, Union

RECORD_NAME = "install.json"
RECORD_FORMAT = 1
BACKUP_SUFFIX = ".ssh-alert.bak"

STEP_FAILED = ("{command} stopped at \"{step}\": {reason}; the steps before it were done: "
               "re-run {command} to finish")
CANNOT_READ = "cannot read {path}: {reason}"


# --- steps ---------------------------------------------------------------------------------------------

class FileEdit(Record):
    """Replace (or create, or delete) one of the user's files."""

    path: Path  # the name the user knows (~/.bashrc)
    target: Path  # the file written: a symlink's target, so a dotfiles link stays a link
    before: Optional[bytes]  # None: the file does not exist yet
    after: Optional[bytes]  # None: delete the file
    actions: Tuple[str, ...]  # what changes, for the listing
    backup: Optional[Path] = None  # save `before` here first


class WriteRecord(Record):
    path: Path
    data: bytes


class CopyPyz(Record):
    source: Path
    destination: Path


class RemoveFile(Record):
    path: Path
    why: str


class MakeDirectory(Record):
    path: Path


class ChmodPath(Record):
    """Take away write access another user has to a file or directory ssh_alert runs code from."""

    path: Path
    mode: int
    why: str


class RemoveDirectory(Record):
    path: Path
    tree: bool  # True: with everything in it (--purge); False: only when empty


class CrontabEdit(Record):
    before: crontab.Crontab
    after: Optional[str]  # None: remove the crontab (it did not exist before install)
    actions: Tuple[str, ...]


Step: TypeAlias = ("Union[FileEdit, WriteRecord, CopyPyz, RemoveFile, MakeDirectory, RemoveDirectory, CrontabEdit, "
                   "ChmodPath]")


class Plan(Record):
    steps: Tuple[Step, ...]
    notes: Tuple[str, ...] = ()  # printed whether or not anything changes (interpreter, the line for the panel)


# --- facts ---------------------------------------------------------------------------------------------

class FileFact(Record):
    path: Path
    target: Path
    content: Optional[bytes]  # None: missing
    backup_exists: bool


def backup_path(path: Path) -> Path:
    return path.with_name(path.name + BACKUP_SUFFIX)


def read_file_fact(path: Path) -> FileFact:
    """Read one of the user's files (following a symlink). Raises UserError when it exists but cannot be read."""
    target = Path(os.path.realpath(str(path))) if path.is_symlink() else path
    try:
        content: Optional[bytes] = target.read_bytes()
    except FileNotFoundError:
        content = None
    except OSError as error:
        raise UserError(CANNOT_READ.format(path=path, reason=error.strerror or error))
    return FileFact(path, target, content, os.path.lexists(str(backup_path(path))))


def read_optional(path: Path) -> Optional[bytes]:
    """The bytes of path, or None when it is missing, unreadable or not a regular file (callers treat all as
    absent: a FIFO is never waited on)."""
    from app.system.files import open_regular_file

    try:
        with open_regular_file(path, "rb") as handle:
            content: bytes = handle.read()
    except OSError:
        return None
    return content


def missing_directories(directory: Path) -> List[Path]:
    """directory and its missing ancestors, outermost first: what creating directory would create."""
    missing = []
    while not directory.is_dir() and directory.parent != directory:
        missing.append(directory)
        directory = directory.parent
    return list(reversed(missing))


def decode(content: Optional[bytes]) -> str:
    """Text of a file, any bytes kept: surrogateescape makes encode(decode(b)) == b for every b."""
    return (content or b"").decode("utf-8", "surrogateescape")


def encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


# --- the install record --------------------------------------------------------------------------------

def record_path(paths: Paths) -> Path:
    return paths.state_dir / RECORD_NAME


def load_record(data: Optional[bytes]) -> Optional[Dict[str, Any]]:
    """The install record, or None when missing or not ours (a damaged record is ignored, never trusted)."""
    if data is None:
        return None
    try:
        record = json.loads(data.decode("utf-8"))
    except ValueError:
        return None
    return record if isinstance(record, dict) and record.get("format") == RECORD_FORMAT else None


def dump_record(record: Dict[str, Any]) -> bytes:
    return (json.dumps(record, indent=1, sort_keys=True) + "\n").encode("utf-8")


def strings(value: Any) -> List[str]:
    """A list of strings from an untrusted record value (anything else: empty)."""
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def entries(record: Optional[Dict[str, Any]], key: str) -> Dict[str, Dict[str, Any]]:
    """A mapping of dicts from an untrusted record value."""
    value = (record or {}).get(key)
    return {name: entry for name, entry in value.items() if isinstance(entry, dict)} if isinstance(value, dict) else {}


def merge_records(old: Optional[Dict[str, Any]], new: Dict[str, Any]) -> Dict[str, Any]:
    """What every install so far did: a later install keeps what an earlier one created (so uninstall still
    removes it) and adds its own."""
    if old is None:
        return new
    merged = dict(new)
    merged["seeded"] = old.get("seeded") is not False or bool(new.get("seeded"))  # once seeded, always a sign
    merged["hooks"] = _union(strings(old.get("hooks")), new["hooks"])
    merged["pyz_copied"] = _union(strings(old.get("pyz_copied")), new["pyz_copied"])
    merged["directories"] = _union(strings(old.get("directories")), new["directories"])
    merged_files: Dict[str, Dict[str, Any]] = entries(old, "files")
    for path, entry in new["files"].items():
        earlier = merged_files.get(path, {})
        merged_files[path] = {"created": bool(earlier.get("created")) or entry["created"],
                              "newline_added": bool(earlier.get("newline_added")) or entry["newline_added"],
                              "backup": earlier.get("backup") or entry["backup"]}
    merged["files"] = merged_files
    old_cron: Dict[str, Any] = old["cron"] if isinstance(old.get("cron"), dict) else {}
    merged["cron"] = dict(new["cron"], installed=bool(old_cron.get("installed")) or new["cron"]["installed"],
                          crontab_created=bool(old_cron.get("crontab_created")) or new["cron"]["crontab_created"])
    return merged


def _union(first: Sequence[str], second: Sequence[str]) -> List[str]:
    return list(first) + [item for item in second if item not in first]


# --- listing -------------------------------------------------------------------------------------------

def tilde(path: Path, home: Path) -> str:
    """path with the home directory written as ~, as users know their files."""
    text, prefix = str(path), str(home).rstrip("/") + "/"
    return "~/" + text[len(prefix):] if text.startswith(prefix) else text


def describe_step(step: Step, home: Path) -> str:
    """One line for one step, as --dry-run and the confirmation list it."""
    if isinstance(step, FileEdit):
        backup = " (backup: {})".format(tilde(step.backup, home)) if step.backup else ""
        return "{}: {}{}".format(tilde(step.path, home), "; ".join(step.actions), backup)
    if isinstance(step, WriteRecord):
        return "{}: record what install did (uninstall reads it)".format(tilde(step.path, home))
    if isinstance(step, CopyPyz):
        return "{}: copy pyz from {} (mode 0700)".format(tilde(step.destination, home), tilde(step.source, home))
    if isinstance(step, RemoveFile):
        return "{}: remove ({})".format(tilde(step.path, home), step.why)
    if isinstance(step, MakeDirectory):
        return "{}/: create directory (mode 0700)".format(tilde(step.path, home))
    if isinstance(step, ChmodPath):
        return "{}: chmod {:04o} ({})".format(tilde(step.path, home), step.mode, step.why)
    if isinstance(step, RemoveDirectory):
        return "{}/: {}".format(tilde(step.path, home), "delete with everything in it (--purge)" if step.tree
                                else "remove directory if empty (install created it)")
    return "crontab: " + "; ".join(step.actions)


def describe_plan(plan: Plan, home: Path) -> List[str]:
    return ["  " + describe_step(step, home) for step in plan.steps]


# --- applying ------------------------------------------------------------------------------------------

def apply_plan(plan: Plan, command: str, home: Path) -> None:
    """Apply every step in order. Raises UserError naming the step that failed."""
    for step in plan.steps:
        try:
            apply_step(step)
        except OSError as error:
            raise UserError(STEP_FAILED.format(command=command, step=describe_step(step, home),
                                               reason=error.strerror or error))


def apply_step(step: Step) -> None:
    if isinstance(step, FileEdit):
        apply_file_edit(step)
    elif isinstance(step, WriteRecord):
        files.write_private(step.path, step.data)
    elif isinstance(step, CopyPyz):
        replace_file(step.destination, step.source.read_bytes(), 0o700, keep_mode=False)
    elif isinstance(step, RemoveFile):
        remove_file(step.path)
    elif isinstance(step, MakeDirectory):
        step.path.mkdir(mode=0o700, exist_ok=True)
    elif isinstance(step, RemoveDirectory):
        remove_directory(step)
    elif isinstance(step, ChmodPath):
        os.chmod(str(step.path), step.mode)
    else:
        apply_crontab(step)


def apply_file_edit(edit: FileEdit) -> None:
    if edit.backup is not None and edit.before is not None and not os.path.lexists(str(edit.backup)):
        replace_file(edit.backup, edit.before, 0o600)
    if edit.after is None:
        remove_file(edit.path)
    else:
        replace_file(edit.target, edit.after, 0o600)


def replace_file(path: Path, data: bytes, new_mode: int, keep_mode: bool = True) -> None:
    """Atomically replace path with data: temp file in the same directory, fsync, rename.

    An existing file keeps its permission bits (unless keep_mode is False); a new one gets new_mode.
    Raises OSError, leaving path untouched.
    """
    if keep_mode:
        files.replace_keeping_mode(path, data, new_mode)
    else:
        files.replace_atomically(path, data, new_mode)


def remove_file(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def remove_directory(step: RemoveDirectory) -> None:
    if step.tree:
        shutil.rmtree(str(step.path), ignore_errors=False)
        return
    try:
        step.path.rmdir()
    except OSError:
        pass  # not empty (the user keeps something there) or already gone: leave it


def apply_crontab(edit: CrontabEdit) -> None:
    if edit.after is None:
        crontab.remove_crontab()
    else:
        crontab.write_crontab(edit.after)

