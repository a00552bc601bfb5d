"""``install``: copy the running pyz to ~/bin, add the login hooks and the every-minute cron line.

gather() reads everything install depends on (files, crontab, interpreters); plan_install() is pure and
decides every change; confirm.carry_out() lists, confirms and applies them.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import pwd
import stat
import sys
import zipfile
from pathlib import Path

from app.install import crontab, interpreter
from app.errors import UserError
from app.install.hooks import (BASH_FILES, HOOKS, SSH_RC, UNCHANGED, XAUTH_BEGIN, XAUTH_BLOCK, XAUTH_END, BrokenBlock,
                               Edit, HookSettings, default_hooks, disable_legacy_lines, find_blocks, hook_settings,
                               render_hook, with_block)
from app.errors import USE_CODE
from app.system.files import require_private_dir, unsafe_reason
from app.install.installplan import (RECORD_FORMAT, ChmodPath, CopyPyz, CrontabEdit, FileEdit, FileFact, MakeDirectory, Plan,
                                     Step, WriteRecord, backup_path, decode, dump_record, encode,
                                     load_record, merge_records, missing_directories, read_file_fact, read_optional,
                                     record_path)
from app.commands.confirm import add_confirm_flags, carry_out, refuse_without_terminal
from app.system.paths import Paths
from app.install.hookstate import HOOK_FILES, hook_file
from app.commands.prompt import Prompter, terminal_prompter
from app.commands.result import Result
from app.system.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

PYZ_NAME = "ssh_alert.pyz"
NOT_A_PYZ = ("install must be run from ssh_alert.pyz (this is {path}): build it with `make build`, then run "
             "python3 dist/ssh_alert.pyz install")
UNKNOWN_HOOK = "--hooks: unknown hook {value!r}; choose from {choices} (comma-separated)"
BROKEN_BLOCK = ("{path}: line {line} starts an ssh_alert block that never ends ({end!r} is missing); "
                "delete the block or add the line, then re-run")
PANEL_LINE = "no usable crontab ({problem}): add this line in your hosting panel's cron page (every minute):"
NO_CRON_DAEMON = ("warning: no cron daemon process is running here (cron, crond, cronie): the every-minute check "
                  "(retries, ssh -N connections) will not run; start cron or ask your host, then: ssh_alert.pyz status")
BIN_DIR_WRITABLE = ("group and others can write it: they could replace the pyz that runs at every login; "
                    "only you may")
PYZ_NOT_OURS = "install will not put ssh_alert in {path}: {reason}"
DONE = "installed: `ssh_alert.pyz status` shows the hooks and the cron line; `ssh_alert.pyz uninstall` removes them"


class InstallFacts(Record):
    """Everything install's plan depends on, read once."""

    home: Path
    source: Path  # the running pyz
    destination: Path
    pyz_up_to_date: bool  # the destination is the source, or has the same bytes
    interpreter: interpreter.Choice
    shell: str  # the account's login shell
    files: Dict[str, FileFact]  # by name relative to home: .ssh/rc and bash's startup files
    missing: Dict[str, List[Path]]  # directories to create first: "bin", "ssh", "state"
    crontab: crontab.Crontab
    cron_environ: Dict[str, str]
    record_path: Path
    record: Optional[bytes]
    cron_daemon: bool = True  # a cron daemon process is visible
    pyz_sha256: str = ""  # of the pyz installed: the cron run's watch reports a pyz replaced since
    seeded: bool = True  # a check had seeded the store: the record is then a sign of earlier runs (app.check.reset)
    paths: Optional[Paths] = None  # the state, config and data directories the hooks use (None: defaults)
    bin_dir_mode: Optional[int] = None  # the bin directory's mode when others can write it (install fixes it)


def add_parser(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser("install", help="copy the pyz to ~/bin, add the login hooks and the cron line")
    add_confirm_flags(parser)
    parser.add_argument("--bin-dir", metavar="DIR", help="where to put ssh_alert.pyz (default: ~/bin)")
    parser.add_argument("--hooks", metavar="LIST",
                        help="comma-separated: ssh-rc, bash-profile, bashrc (default: all that apply)")
    parser.add_argument("--no-cron", action="store_true", help="do not add the every-minute cron fallback")
    parser.add_argument("--system", action="store_true", help="root: alert every account's SSH logins through PAM (/etc/pam.d/sshd; docs/system-mode.md)")
    parser.add_argument("--sshd-config", metavar="FILE", help=argparse.SUPPRESS)  # --system: the sshd_config sshd -T reads


def run(paths: Paths, arguments: argparse.Namespace) -> Result:
    """install, asking for confirmation at a terminal."""
    if arguments.system:
        from app.commands.system_install import install as install_system

        return install_system(arguments)
    return install(paths, arguments, terminal_prompter())


def install(paths: Paths, arguments: argparse.Namespace, prompter: Optional[Prompter]) -> Result:
    """Run install. Raises UserError for a bad --hooks, a refused confirmation, or a step that fails."""
    hooks = parse_hooks(arguments.hooks)
    refuse_without_terminal("install", arguments, prompter)
    require_private_dir(paths.state_dir)  # the hooks append every login there: ours alone
    source = running_pyz(sys.argv[0])
    bin_dir = Path(os.path.abspath(os.path.expanduser(arguments.bin_dir))) if arguments.bin_dir else paths.home / "bin"
    facts = gather(paths, source, bin_dir, cron=not arguments.no_cron)
    plan = plan_install(facts, hooks, cron=not arguments.no_cron)
    return carry_out(plan, "install", paths.home, arguments, prompter, DONE)


def parse_hooks(value: Optional[str]) -> Optional[Tuple[str, ...]]:
    """The --hooks list in canonical order, or None (the default: all that apply). Raises UserError."""
    if value is None:
        return None
    chosen = [item.strip() for item in value.split(",")]
    for item in chosen:
        if item not in HOOKS:
            raise UserError(UNKNOWN_HOOK.format(value=item, choices=", ".join(HOOKS)))
    return tuple(hook for hook in HOOKS if hook in chosen)


def running_pyz(argv0: str) -> Path:
    """The pyz this process runs from. Raises UserError when it is not running from a zip file."""
    path = Path(os.path.abspath(argv0))
    if not (path.is_file() and zipfile.is_zipfile(str(path))):
        raise UserError(NOT_A_PYZ.format(path=path))
    return path


# --- facts ---------------------------------------------------------------------------------------------

def gather(paths: Paths, source: Path, bin_dir: Path, cron: bool) -> InstallFacts:
    """Read the files, the crontab and the interpreters install's plan depends on. Raises UserError."""
    destination = bin_dir / PYZ_NAME
    bin_dir_mode = _bin_dir_mode(bin_dir)
    choice = interpreter.choose(interpreter.probes(interpreter.candidates(os.environ.get("PATH", os.defpath))),
                                sys.executable, (sys.version_info[0], sys.version_info[1]))
    return InstallFacts(
        home=paths.home, source=source, destination=destination,
        pyz_up_to_date=destination.is_file() and _ours_alone(destination) and (
            _same_file(source, destination) or filecmp.cmp(str(source), str(destination), shallow=False)),
        interpreter=choice, shell=_login_shell(),
        files={name: read_file_fact(paths.home / name) for name in HOOK_FILES},
        missing={"bin": missing_directories(bin_dir), "ssh": missing_directories(paths.home / ".ssh"),
                 "state": missing_directories(paths.state_dir)},
        crontab=crontab.read_crontab() if cron else crontab.Crontab(False, False, "", "--no-cron"),
        cron_environ=crontab.cron_environment(os.environ),
        cron_daemon=crontab.daemon_running() if cron else True,
        record_path=record_path(paths), record=read_optional(record_path(paths)), pyz_sha256=_sha256(source),
        seeded=_seeded(paths), paths=paths, bin_dir_mode=bin_dir_mode)


def _bin_dir_mode(bin_dir: Path) -> Optional[int]:
    """The bin directory's mode when group or others can write it (install offers chmod go-w), else None.

    Raises UserError when it, or a directory above it, is another user's or writable by others (StrictModes)."""
    uid = os.getuid()
    reason = unsafe_reason(bin_dir, uid, USE_CODE, parents_only=True)
    try:
        status = os.stat(str(bin_dir))
    except FileNotFoundError:
        status = None
    except OSError as error:
        raise UserError(PYZ_NOT_OURS.format(path=bin_dir, reason=error.strerror or error))
    if reason is None and status is not None and status.st_uid != uid:
        reason = unsafe_reason(bin_dir, uid, USE_CODE)
    if reason is not None:
        raise UserError(PYZ_NOT_OURS.format(path=bin_dir, reason=reason))
    if status is not None and stat.S_IMODE(status.st_mode) & 0o022:
        return stat.S_IMODE(status.st_mode)
    return None


def _ours_alone(path: Path) -> bool:
    """True when path is this account's and no one else can write it (else install copies it anew)."""
    try:
        status = os.lstat(str(path))
    except OSError:
        return False
    return stat.S_ISREG(status.st_mode) and status.st_uid == os.getuid() and not status.st_mode & 0o022


def _seeded(paths: Paths) -> bool:
    """Whether a check seeded the store here (the lock file's run mark says so, or a store exists)."""
    from app.logins.runmark import read_file

    try:
        return bool(read_file(paths.lock_file).get("seeded")) or paths.store_file.stat().st_size > 0
    except OSError:
        return False


def _sha256(path: Path) -> str:
    import hashlib

    with open(str(path), "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def _same_file(first: Path, second: Path) -> bool:
    try:
        return os.path.samefile(str(first), str(second))
    except OSError:
        return False


def _login_shell() -> str:
    """The shell sshd starts for this account (passwd), else $SHELL."""
    try:
        return pwd.getpwuid(os.getuid()).pw_shell or os.environ.get("SHELL", "")
    except KeyError:
        return os.environ.get("SHELL", "")


# --- the plan (pure) -----------------------------------------------------------------------------------

def hook_targets(hooks: Tuple[str, ...], existing: List[str]) -> Dict[str, str]:
    """Which file each hook goes into: {file name relative to home: hook}."""
    return {hook_file(hook, existing): hook for hook in hooks}


def plan_install(facts: InstallFacts, hooks: Optional[Tuple[str, ...]], cron: bool) -> Plan:
    """Every change install makes, in order. Raises UserError for a hook block that has lost its end marker."""
    existing = [name for name, fact in facts.files.items() if fact.content is not None]
    chosen = hooks if hooks is not None else default_hooks(facts.shell, existing)
    python = facts.interpreter.path
    record: Dict[str, Any] = {"format": RECORD_FORMAT, "hooks": list(chosen), "python": python,
                              "pyz": str(facts.destination), "pyz_copied": [], "directories": [], "files": {},
                              "pyz_sha256": facts.pyz_sha256, "seeded": facts.seeded}
    notes = [interpreter.describe(facts.interpreter)]
    steps: List[Step] = []
    if facts.bin_dir_mode is not None:
        steps.append(ChmodPath(facts.destination.parent, facts.bin_dir_mode & ~0o022, BIN_DIR_WRITABLE))
    if not facts.pyz_up_to_date:
        steps += [MakeDirectory(directory) for directory in facts.missing["bin"]]
        steps.append(CopyPyz(facts.source, facts.destination))
        record["pyz_copied"].append(str(facts.destination))
    targets = hook_targets(chosen, existing)
    where = facts.paths or Paths.from_environ({"HOME": str(facts.home)})
    settings = {hook: hook_settings(HookSettings(python, str(facts.destination), hook, str(where.state_dir),
                                                 str(where.config_dir.parent), str(where.data_dir.parent)),
                                    str(facts.home))
                for hook in chosen}
    for name in HOOK_FILES:
        fact = facts.files[name]
        hook = targets.get(name)
        if fact.content is None and hook is None:
            continue
        edit, actions = _edit_hook_file(fact, name, render_hook(settings[hook]) if hook else None, hook)
        if fact.content is not None and edit.text == decode(fact.content):
            continue
        backup = backup_path(fact.path) if fact.content is not None and not fact.backup_exists else None
        if fact.content is None and name == SSH_RC:
            steps += [MakeDirectory(directory) for directory in facts.missing["ssh"]]
        steps.append(FileEdit(fact.path, fact.target, fact.content, encode(edit.text), tuple(actions), backup))
        record["files"][str(fact.path)] = {"created": fact.content is None, "newline_added": edit.newline_added,
                                           "backup": str(backup) if backup else None}
    cron_steps, cron_record, cron_notes = _plan_cron(facts, python, cron)
    steps += cron_steps
    notes += cron_notes
    record["cron"] = cron_record
    # The record goes first: if a later step fails, uninstall still knows everything install may have done.
    state_directories = [MakeDirectory(directory) for directory in facts.missing["state"]]
    record["directories"] = [str(step.path) for step in state_directories + steps if isinstance(step, MakeDirectory)]
    merged = dump_record(merge_records(load_record(facts.record), record))
    if merged != facts.record:
        steps = state_directories + [WriteRecord(facts.record_path, merged)] + steps
    return Plan(tuple(steps), tuple(notes))


def _edit_hook_file(fact: FileFact, name: str, block: Optional[str], hook: Optional[str]) -> Tuple[Edit, List[str]]:
    """The new text of one startup file: legacy lines disabled, then the hook block (and xauth for ~/.ssh/rc)."""
    text = decode(fact.content)
    actions = ["create"] if fact.content is None else []
    try:
        if name in BASH_FILES:
            text, disabled = disable_legacy_lines(text)
            actions += ["disable legacy line: " + line.strip() for line in disabled]
        newline_added = False
        # An rc that runs xauth itself needs no second one; ours (marked) is kept up to date.
        needs_xauth = find_blocks(text, XAUTH_BEGIN, XAUTH_END) or "xauth" not in text
        if block is not None and hook == "ssh-rc" and needs_xauth:
            xauth = with_block(text, XAUTH_BLOCK, begin=XAUTH_BEGIN, end=XAUTH_END)
            if xauth.action != UNCHANGED:
                actions.append(xauth.action.replace("block", "xauth block") + " (X11 forwarding keeps working)")
            text, newline_added = xauth.text, xauth.newline_added
        if block is None:
            return Edit(text, UNCHANGED), actions
        edit = with_block(text, block, at_top=(hook == "bashrc"))
    except BrokenBlock as broken:
        raise UserError(BROKEN_BLOCK.format(path=fact.path, line=broken.line_number, end=broken.end))
    if edit.action != UNCHANGED:
        actions.append("{} ({} hook)".format(edit.action, hook))
    return Edit(edit.text, edit.action, newline_added or edit.newline_added), actions


def _plan_cron(facts: InstallFacts, python: str, cron: bool) -> Tuple[List[Step], Dict[str, Any], List[str]]:
    """The crontab edit (or, without a usable crontab, the line to paste), and its part of the record."""
    line = crontab.cron_line(python, str(facts.destination), facts.cron_environ)
    record = {"chosen": cron, "line": line, "installed": False, "crontab_created": False}
    if not cron:
        return [], record, []
    if not facts.crontab.available:
        return [], record, [PANEL_LINE.format(problem=facts.crontab.problem), line]
    notes = [] if facts.cron_daemon else [NO_CRON_DAEMON]
    record.update(installed=True, crontab_created=not facts.crontab.exists)
    before = facts.crontab.text
    without_legacy, disabled = disable_legacy_lines(before, crontab.LEGACY_CRON_MARKERS)
    after = crontab.with_cron_line(without_legacy, line)
    if after == before:
        return [], record, notes
    current = crontab.find_cron_line(before)
    actions = ["disable legacy job: " + job.strip() for job in disabled]
    if current != line:
        actions.append(("add line: " if current is None else "replace line: ") + line)
    return [CrontabEdit(facts.crontab, after, tuple(actions))], record, notes
