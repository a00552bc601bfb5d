"""``uninstall``: remove exactly what install added; with --purge also the config, state, logs and password.

What install added is in its record (installplan.RECORD_NAME): the files it created, the newline it added to a
file lacking one, the backups, the pyz it copied, the directories it made, whether the crontab was its own.
Without a record uninstall still removes every marked block and the marked cron line.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from app.install import crontab
from app.install.hookstate import HOOK_FILES
from app.commands.install import BROKEN_BLOCK
from app.errors import UserError
from app.install.hooks import (BEGIN, END, XAUTH_BEGIN, XAUTH_END, BrokenBlock, enable_legacy_lines, find_blocks,
                               without_blocks)
from app.install.installplan import (CrontabEdit, FileEdit, FileFact, Plan, RemoveDirectory, RemoveFile, Step,
                                     decode, encode, entries, load_record, read_file_fact, read_optional,
                                     record_path, strings, tilde)
from app.commands.confirm import add_confirm_flags, carry_out, refuse_without_terminal
from app.system.paths import Paths
from app.commands.prompt import Prompter, terminal_prompter
from app.commands.result import Result
from app.system.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Set, Tuple

NO_RECORD = ("no install record at {path}: only the marked hook blocks and the marked cron line are removed "
             "(remove ssh_alert.pyz yourself if you copied it by hand)")
PANEL_REMOVE = "no usable crontab ({problem}): if you added the ssh_alert line in your hosting panel, remove it there"
BACKUP_KEPT = "kept {backup}: {path} is no longer the same as it (changed since install)"
DONE = "uninstalled: your config, state, logs and stored password are kept (uninstall --purge deletes them)"
DONE_PURGED = "uninstalled and purged: nothing of ssh_alert is left"


class UninstallFacts(Record):
    home: Path
    record: Optional[Dict[str, Any]]
    record_path: Path
    record_exists: bool
    files: Dict[str, FileFact]  # by absolute path: the hook places and every file the record names
    backups: Dict[str, Optional[bytes]]  # the record's backups and their bytes (None: gone)
    pyz_copies: List[Path]  # pyz files install copied that still exist
    directory_entries: Dict[str, List[str]]  # the record's directories that exist: their entries (absolute)
    crontab: crontab.Crontab
    purge_directories: List[Path]  # the config, state and data directories that exist
    shiv_extractions: List[Path] = []  # --purge: shiv's unpacked copies of this pyz and their lock files


def add_parser(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser("uninstall", help="remove exactly what install added")
    add_confirm_flags(parser)
    parser.add_argument("--purge", action="store_true",
                        help="also delete the config, state, logs and stored password")
    parser.add_argument("--system", action="store_true", help="root: remove the system-wide PAM hook, restoring /etc/pam.d/sshd")


def run(paths: Paths, arguments: argparse.Namespace) -> Result:
    """uninstall, asking for confirmation at a terminal."""
    if arguments.system:
        from app.commands.system_install import uninstall as uninstall_system

        return uninstall_system(arguments)
    return uninstall(paths, arguments, terminal_prompter())


def uninstall(paths: Paths, arguments: argparse.Namespace, prompter: Optional[Prompter]) -> Result:
    """Run uninstall. Raises UserError for a refused confirmation, a broken block, or a step that fails."""
    refuse_without_terminal("uninstall", arguments, prompter)
    facts = gather(paths, arguments.purge)
    plan = plan_uninstall(facts, arguments.purge)
    return carry_out(plan, "uninstall", paths.home, arguments, prompter,
                     DONE_PURGED if arguments.purge else DONE)


def gather(paths: Paths, purge: bool) -> UninstallFacts:
    """Read the record, the files it names, the hook places and the crontab. Raises UserError."""
    record_bytes = read_optional(record_path(paths))
    record = load_record(record_bytes)
    recorded = entries(record, "files")
    names = [str(paths.home / name) for name in HOOK_FILES] + [path for path in recorded if os.path.isabs(path)]
    backups = [entry["backup"] for entry in recorded.values() if isinstance(entry.get("backup"), str)]
    return UninstallFacts(
        home=paths.home, record=record, record_path=record_path(paths), record_exists=record_bytes is not None,
        files={name: read_file_fact(Path(name)) for name in names},
        backups={backup: read_optional(Path(backup)) for backup in backups},
        pyz_copies=[Path(path) for path in strings((record or {}).get("pyz_copied"))
                    if path.endswith(".pyz") and os.path.isfile(path)],
        directory_entries={directory: _entries(directory) for directory in strings((record or {}).get("directories"))
                           if os.path.isdir(directory)},
        crontab=crontab.read_crontab(),
        purge_directories=[directory for directory in (paths.config_dir, paths.state_dir, paths.data_dir)
                           if purge and directory.is_dir()],
        shiv_extractions=shiv_extractions() if purge else [])


def shiv_extractions(module_file: str = __file__, root: Optional[str] = None) -> List[Path]:
    """shiv's extractions of this pyz (``~/.shiv/ssh_alert.pyz_<build id>``, every build) and their lock files,
    ours only (never a symlink or another user's); [] when not running from a pyz. shiv never removes them."""
    import re

    here = Path(module_file).resolve()
    extraction = next((parent.parent for parent in here.parents if parent.name == "site-packages"), None)
    if extraction is None or not re.match(r".+_[0-9a-f]{64}$", extraction.name):
        return []
    name = extraction.name.rsplit("_", 1)[0]  # the pyz's file name, e.g. ssh_alert.pyz
    directory = Path(root) if root else extraction.parent
    pattern = re.compile(r"^\.?{}_[0-9a-f]{{64}}(_lock|\.tmp)?$".format(re.escape(name)))
    found = []
    for entry in sorted(_entries(str(directory))):
        path = Path(entry)
        try:
            status = path.lstat()
        except OSError:
            continue
        if pattern.match(path.name) and status.st_uid == os.getuid() and not path.is_symlink():
            found.append(path)
    return found


def _entries(directory: str) -> List[str]:
    try:
        return [os.path.join(directory, name) for name in os.listdir(directory)]
    except OSError:
        return [directory + "/?"]  # unreadable: treat as not empty


# --- the plan (pure) -----------------------------------------------------------------------------------

def plan_uninstall(facts: UninstallFacts, purge: bool) -> Plan:
    """Every change uninstall makes, in order: cron first (nothing starts the pyz any more), then the files."""
    steps: List[Step] = []
    notes: List[str] = []
    if facts.record is None:
        notes.append(NO_RECORD.format(path=tilde(facts.record_path, facts.home)))
    cron_steps, cron_notes = _plan_cron(facts)
    steps += cron_steps
    notes += cron_notes
    recorded = entries(facts.record, "files")
    for name, fact in facts.files.items():
        if fact.content is None:
            continue
        entry = recorded.get(name, {})
        after, actions = restored_text(fact, entry, facts.record is not None)
        if after != fact.content:
            steps.append(FileEdit(fact.path, fact.target, fact.content, after, tuple(actions)))
        backup = entry.get("backup")
        if isinstance(backup, str) and facts.backups.get(backup) is not None:
            if facts.backups[backup] == after:
                steps.append(RemoveFile(Path(backup), "backup no longer needed: {} is back to it".format(
                    tilde(fact.path, facts.home))))
            else:
                notes.append(BACKUP_KEPT.format(backup=tilde(Path(backup), facts.home),
                                                path=tilde(fact.path, facts.home)))
    steps += [RemoveFile(path, "copied by install") for path in facts.pyz_copies]
    if facts.record_exists:
        steps.append(RemoveFile(facts.record_path, "install's record"))
    steps += [RemoveDirectory(directory, tree=True) for directory in facts.purge_directories]
    steps += [RemoveDirectory(path, tree=True) if path.is_dir() else RemoveFile(path, "shiv's extraction lock")
              for path in facts.shiv_extractions]
    steps += _empty_directories(facts, steps)
    return Plan(tuple(steps), tuple(notes))


def restored_text(fact: FileFact, entry: Dict[str, Any], recorded: bool) -> Tuple[Optional[bytes], List[str]]:
    """A file as it was before install: blocks removed, the added newline taken back, legacy lines re-enabled.

    Returns None (delete) for a file install created that holds nothing else; raises UserError for a broken block.
    """
    text = decode(fact.content)
    try:
        hook_blocks = find_blocks(text)
        xauth_blocks = find_blocks(text, XAUTH_BEGIN, XAUTH_END)
    except BrokenBlock as broken:
        raise UserError(BROKEN_BLOCK.format(path=fact.path, line=broken.line_number, end=broken.end))
    new = without_blocks(without_blocks(text, BEGIN, END), XAUTH_BEGIN, XAUTH_END)
    actions = (["remove hook block"] if hook_blocks else []) + (["remove xauth block"] if xauth_blocks else [])
    blocks_ended_file = any(stop == len(text) for _, stop in hook_blocks + xauth_blocks)
    if entry.get("newline_added") and blocks_ended_file and new.endswith("\n"):
        new = new[:-1]
        actions.append("remove the final newline install added")
    new, enabled = enable_legacy_lines(new)
    actions += ["re-enable legacy line: " + line.strip() for line in enabled]
    # Without a record, a file holding nothing but our blocks was ours; an empty ~/.ssh/rc would still stop
    # sshd from running xauth, so it must not be left behind.
    created = bool(entry.get("created")) if recorded else bool(hook_blocks or xauth_blocks)
    if created and new == "":
        return None, actions + ["delete (install created it)"]
    return encode(new), actions


def _plan_cron(facts: UninstallFacts) -> Tuple[List[Step], List[str]]:
    record_cron = (facts.record or {}).get("cron")
    record_cron = record_cron if isinstance(record_cron, dict) else {}
    if not facts.crontab.available:
        if facts.record is None or record_cron.get("chosen"):
            return [], [PANEL_REMOVE.format(problem=facts.crontab.problem)]
        return [], []
    before = facts.crontab.text
    current = crontab.find_cron_line(before)
    without_line = crontab.without_cron_line(before)
    after, enabled = enable_legacy_lines(without_line)
    if after == before:
        return [], []
    actions = (["remove line: " + current] if current else []) + ["re-enable legacy job: " + job.strip()
                                                                  for job in enabled]
    created = bool(record_cron.get("crontab_created")) if facts.record is not None else True
    if created and after.strip() == "":
        return [CrontabEdit(facts.crontab, None, tuple(actions + ["remove the crontab (install created it)"]))], []
    return [CrontabEdit(facts.crontab, after, tuple(actions))], []


def _empty_directories(facts: UninstallFacts, steps: List[Step]) -> List[Step]:
    """The directories install created that will be empty once the other steps ran, deepest first."""
    removed: Set[str] = set()
    for step in steps:
        if isinstance(step, RemoveFile) or (isinstance(step, FileEdit) and step.after is None):
            removed.add(str(step.path))
        elif isinstance(step, RemoveDirectory):
            removed.add(str(step.path))
    directories: List[Step] = []
    for directory in sorted(facts.directory_entries, key=lambda path: path.count("/"), reverse=True):
        if directory in removed:
            continue
        if all(entry in removed for entry in facts.directory_entries[directory]):
            directories.append(RemoveDirectory(Path(directory), tree=False))
            removed.add(directory)
    return directories
