"""``install --system`` and ``uninstall --system`` (root): the PAM hook for every account's SSH logins.

install: the pyz and the hook script into /usr/local/lib/ssh-alert (root, 0755), the state directory
/var/lib/ssh-alert (root, 0700), the marked block in /etc/pam.d/sshd (the file as it was kept in the state
directory), and root's every-minute cron line (retries, heartbeat). uninstall takes the block out again, so
/etc/pam.d/sshd is byte for byte what it was (unless someone else edited it meanwhile: their edits stay).
Planning is pure (plan_install, plan_uninstall); apply() performs the steps.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
from pathlib import Path

from app.commands.result import Result
from app.errors import ExitCode, UserError
from app.install import crontab, pam, timer
from app.install.hooks import BrokenBlock
from app.commands.confirm import CANCELLED, CONFIRM, DRY_RUN_DONE, NOTHING_TO_DO, refuse_without_terminal
from app.system import proc
from app.system.files import replace_atomically
from app.system.paths import SYSTEM_HOOK, SYSTEM_LIB_DIR, SYSTEM_PYZ, SYSTEM_SEEN_DIR, SYSTEM_SHIV_ROOT, Paths
from app.system.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Sequence, Tuple

NEEDS_ROOT = "{command} --system changes /etc/pam.d/sshd and root's crontab: run it as root"
NO_CONFIG = "no system configuration at {path}; run first: ssh_alert.pyz setup --system"
BROKEN = "{path}: an ssh_alert block starts at line {line} and never ends; fix the file by hand, then re-run"
CRON_MARKER = "# ssh_alert --system"
RECORD = "install.json"
BACKUP = "pam.d-sshd.before-install"  # /etc/pam.d/sshd as the first install found it
DONE = ("installed: every SSH login on this host is alerted from now on; `ssh_alert.pyz status --system` shows "
        "the hook; `ssh_alert.pyz uninstall --system` removes it")
REMOVED_DIFFERENT = ("note: {path} was edited since install; the ssh_alert block was removed and the other edits "
                     "kept (the file as install found it: {backup})")


class Step(Record):
    """One effect: ("mkdir", path, mode), ("write", path, data, mode), ("remove", path), ("crontab", text)."""

    action: str
    path: Path
    data: Optional[bytes] = None
    mode: int = 0o600
    describe: str = ""


# --- facts ---------------------------------------------------------------------------------------------

def _read(path: Path) -> Optional[bytes]:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise UserError("cannot read {}: {}".format(path, error.strerror)) from None


def sshd_settings(sshd_config: Optional[str]) -> str:
    """`sshd -T` (-f sshd_config when given). Raises UserError when sshd cannot say."""
    sshd = shutil.which("sshd", path="/usr/sbin:/usr/local/sbin:/sbin:" + os.environ.get("PATH", "")) or "sshd"
    argv = [sshd, "-T"] + (["-f", sshd_config] if sshd_config else [])
    try:
        finished = proc.run(argv, timeout=20)
    except (OSError, proc.TimedOut) as error:
        raise UserError(pam.SSHD_T_FAILED.format(reason=error)) from None
    if finished.returncode != 0:
        raise UserError(pam.SSHD_T_FAILED.format(reason=proc.first_line(finished.stderr) or finished.returncode))
    return finished.stdout.decode("utf-8", "replace")


def system_python() -> str:
    """The interpreter the hook runs: the system's python3 (root's, never a user's), else this one."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3", sys.executable):
        if candidate and os.path.isabs(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return sys.executable


def cron_line(python: str) -> str:
    command = "HOME=/root SHIV_ROOT={} {} -I -S {} check --system --cron >/dev/null 2>&1".format(
        shlex.quote(str(SYSTEM_SHIV_ROOT)), shlex.quote(python), shlex.quote(str(SYSTEM_PYZ)))
    return "{} {} {}".format(crontab.SCHEDULE, command.replace("%", "\\%"), CRON_MARKER)


def with_system_cron(text: str, line: str) -> str:
    """text with line as its one system line (replaced, else appended), every other line kept exactly."""
    if [entry for entry in text.splitlines() if entry.endswith(" " + CRON_MARKER)] == [line]:
        return text
    kept = without_system_cron(text)
    return kept + ("\n" if kept and not kept.endswith("\n") else "") + line + "\n"


def without_system_cron(text: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True)
                   if not line.rstrip("\n").endswith(" " + CRON_MARKER))


# --- plans (pure) --------------------------------------------------------------------------------------

class SystemFacts(Record):
    """What install --system finds before it plans (install() reads it; plan_install is pure)."""

    source: bytes  # the running pyz
    installed_pyz: Optional[bytes]  # SYSTEM_PYZ as it is (None: missing)
    python: str  # the interpreter the hook runs (system_python)
    pam_text: bytes  # /etc/pam.d/sshd
    backup: Optional[bytes]  # /etc/pam.d/sshd as the first install kept it (None: not kept yet)
    record: Optional[Dict[str, Any]]  # the install record (None: none)
    cron_text: Optional[str]  # root's crontab (None: cannot be read)
    script_now: Optional[bytes]  # SYSTEM_HOOK as it is (None: missing)
    systemd: bool = False  # systemd runs: a timer instead of the cron line
    units_now: Tuple[Optional[bytes], Optional[bytes]] = (None, None)  # the timer's service and timer units as they are


def plan_install(paths: Paths, facts: SystemFacts) -> Tuple[List[Step], Dict[str, Any]]:
    """The steps of install --system and the record it leaves (systemd: a timer instead of the cron line).
    Raises UserError for a broken block."""
    source, installed_pyz, python, pam_text = facts.source, facts.installed_pyz, facts.python, facts.pam_text
    steps = [Step("mkdir", SYSTEM_LIB_DIR, mode=0o755, describe="create {} (root, 0755)".format(SYSTEM_LIB_DIR)),
             Step("mkdir", paths.state_dir, mode=0o700, describe="create {} (root, 0700)".format(paths.state_dir))]
    if installed_pyz != source:
        steps.append(Step("write", SYSTEM_PYZ, source, 0o755, "copy the pyz to {}".format(SYSTEM_PYZ)))
        steps.append(Step("extract", SYSTEM_PYZ, python.encode(), describe=""))
    script = pam.render_script(python, str(SYSTEM_PYZ), str(paths.state_dir), str(SYSTEM_SEEN_DIR),
                               str(SYSTEM_SHIV_ROOT)).encode()
    if facts.script_now != script:
        steps.append(Step("write", SYSTEM_HOOK, script, 0o755, "write the PAM hook script {}".format(SYSTEM_HOOK)))
    text = pam_text.decode("utf-8", "surrogateescape")
    try:
        edit = pam.with_pam_block(text, pam.render_block(str(SYSTEM_HOOK)))
    except BrokenBlock as error:
        raise UserError(BROKEN.format(path=pam.SERVICE_FILE, line=error.line_number)) from None
    record = dict(facts.record or {})
    if edit.action != "unchanged":
        if not pam.has_block(text):
            record["pam_newline_added"] = edit.newline_added
            if facts.backup is None:
                steps.append(Step("write", paths.state_dir / BACKUP, pam_text, 0o600,
                                  "keep {} as it is in {}".format(pam.SERVICE_FILE, paths.state_dir / BACKUP)))
        steps.append(Step("pam", Path(pam.SERVICE_FILE), edit.text.encode("utf-8", "surrogateescape"),
                          describe="{}: {} (session optional pam_exec.so ... {})".format(
                              pam.SERVICE_FILE, edit.action, SYSTEM_HOOK)))
    units = ((timer.SERVICE, timer.service_text(python, str(SYSTEM_PYZ), str(SYSTEM_SHIV_ROOT)).encode()),
             (timer.TIMER, timer.timer_text().encode()))
    if facts.systemd and tuple(text for _, text in units) != tuple(facts.units_now):
        for name, data in units:
            steps.append(Step("write", timer.UNIT_DIR / name, data, 0o644, "write {}".format(timer.UNIT_DIR / name)))
        steps.append(Step("systemctl", Path(""), b"daemon-reload"))
        steps.append(Step("systemctl", Path(timer.TIMER), b"enable --now", describe="systemctl enable --now {} "
                          "(the check every minute: retries, heartbeat, session ends)".format(timer.TIMER)))
    elif facts.cron_text is not None and not facts.systemd:
        new_cron = with_system_cron(facts.cron_text, cron_line(python))
        if new_cron != facts.cron_text:
            steps.append(Step("crontab", Path("crontab"), new_cron.encode(), describe="root's crontab: add "
                              "the every-minute check (retries, heartbeat)"))
    record["python"] = python
    steps.append(Step("write", paths.state_dir / RECORD, json.dumps(record, sort_keys=True).encode(), 0o600, ""))
    return steps, record


def plan_uninstall(paths: Paths, pam_text: Optional[bytes], record: Optional[Dict[str, Any]],
                   cron_text: Optional[str], purge: bool, units: Tuple[Path, ...] = ()) -> Tuple[List[Step], List[str]]:
    """The steps of uninstall --system and the notes to print. Raises UserError for a broken block."""
    steps: List[Step] = []
    notes: List[str] = []
    record = record or {}
    if pam_text is not None:
        text = pam_text.decode("utf-8", "surrogateescape")
        try:
            kept = pam.without_pam_block(text, bool(record.get("pam_newline_added")))
        except BrokenBlock as error:
            raise UserError(BROKEN.format(path=pam.SERVICE_FILE, line=error.line_number)) from None
        if kept != text:
            steps.append(Step("pam", Path(pam.SERVICE_FILE), kept.encode("utf-8", "surrogateescape"),
                              describe="{}: remove the ssh_alert block".format(pam.SERVICE_FILE)))
            backup = _read(paths.state_dir / BACKUP)
            if backup is not None and backup != kept.encode("utf-8", "surrogateescape"):
                notes.append(REMOVED_DIFFERENT.format(path=pam.SERVICE_FILE, backup=paths.state_dir / BACKUP))
    if cron_text is not None and without_system_cron(cron_text) != cron_text:
        steps.append(Step("crontab", Path("crontab"), without_system_cron(cron_text).encode(),
                          describe="root's crontab: remove the system check"))
    if units:  # the timer install added where systemd runs
        steps.append(Step("systemctl", Path(timer.TIMER), b"disable --now",
                          describe="systemctl disable --now {}".format(timer.TIMER)))
        steps.extend(Step("remove", unit, describe="remove {}".format(unit)) for unit in units)
        steps.append(Step("systemctl", Path(""), b"daemon-reload", describe=""))
    for path in (SYSTEM_HOOK, SYSTEM_PYZ):
        if os.path.lexists(str(path)):
            steps.append(Step("remove", path, describe="remove {}".format(path)))
    steps.append(Step("rmtree", SYSTEM_LIB_DIR, describe=""))
    steps.append(Step("rmtree", SYSTEM_SEEN_DIR, describe=""))
    if purge:
        for directory in (paths.state_dir, paths.config_dir):
            if os.path.lexists(str(directory)):
                steps.append(Step("rmtree", directory, describe="remove {} and everything in it".format(directory)))
    else:
        steps.append(Step("remove", paths.state_dir / RECORD, describe=""))
    return steps, notes


# --- effects -------------------------------------------------------------------------------------------

def apply(step: Step) -> None:
    """Perform one step. Raises OSError or UserError."""
    if step.action == "mkdir":
        step.path.mkdir(mode=step.mode, parents=True, exist_ok=True)
        os.chown(str(step.path), 0, 0)
        os.chmod(str(step.path), step.mode)
    elif step.action == "write":
        replace_atomically(step.path, step.data or b"", step.mode)
    elif step.action == "pam":  # keeps the file's mode and owner (root, 0644 on Debian)
        status = os.stat(str(step.path))
        replace_atomically(step.path, step.data or b"", status.st_mode & 0o7777)
    elif step.action == "crontab":
        text = (step.data or b"").decode()
        crontab.write_crontab(text) if text.strip() else crontab.remove_crontab()
    elif step.action == "remove":
        try:
            os.unlink(str(step.path))
        except FileNotFoundError:
            pass
    elif step.action == "extract":  # the first login must not pay for shiv's extraction
        environ = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "SHIV_ROOT": str(SYSTEM_SHIV_ROOT)}
        proc.run([(step.data or b"").decode(), "-I", "-S", str(step.path), "--version"], timeout=60, environ=environ)
    elif step.action == "systemctl":
        argv = ["systemctl"] + (step.data or b"").decode().split() + ([step.path.name] if step.path.name else [])
        finished = proc.run(argv, timeout=60)
        if finished.returncode != 0:
            raise UserError("{} failed: {}".format(" ".join(argv), proc.first_line(finished.stderr)))
    elif step.action == "rmtree":
        shutil.rmtree(str(step.path), ignore_errors=True)


def carry_out(steps: List[Step], command: str, arguments: argparse.Namespace, done: str,
              notes: Sequence[str] = ()) -> Result:
    listed = [step.describe for step in steps if step.describe]
    if arguments.dry_run:
        return Result(list(notes) + ["would: " + line for line in listed] + [DRY_RUN_DONE])
    if not listed:
        return Result(list(notes) + [NOTHING_TO_DO])
    if not arguments.yes:
        from app.commands.prompt import terminal_prompter

        prompter = terminal_prompter()
        print("\n".join("  " + line for line in listed))
        if prompter is None or not prompter.confirm(CONFIRM):
            return Result([CANCELLED], ExitCode.NOT_DONE)
    for step in steps:
        try:
            apply(step)
        except OSError as error:
            raise UserError("{} --system stopped at \"{}\": {}; re-run it to finish".format(
                command, step.describe or step.path, error.strerror or error)) from None
    return Result(list(notes) + listed + [done])


def _require_root(command: str, arguments: argparse.Namespace) -> None:
    if os.geteuid() != 0:
        raise UserError(NEEDS_ROOT.format(command=command))
    from app.commands.prompt import terminal_prompter

    refuse_without_terminal(command, arguments, terminal_prompter())


def _record(paths: Paths) -> Optional[Dict[str, Any]]:
    try:
        data = _read(paths.state_dir / RECORD)
        return json.loads(data.decode()) if data else None
    except (UserError, ValueError):
        return None


def _cron_text() -> Optional[str]:
    table = crontab.read_crontab()
    return table.text if table.available else None


def install(arguments: argparse.Namespace) -> Result:
    """install --system. Raises UserError (not root, no config, usepam no, a step failed)."""
    from app.commands.install import running_pyz

    paths = Paths.system_wide()
    _require_root("install", arguments)
    if not paths.config_file.exists():
        raise UserError(NO_CONFIG.format(path=paths.config_file))
    if pam.usepam(sshd_settings(getattr(arguments, "sshd_config", None))) is False:
        raise UserError(pam.USEPAM_OFF)
    source = running_pyz(sys.argv[0]).read_bytes()
    pam_text = _read(Path(pam.SERVICE_FILE))
    if pam_text is None:
        raise UserError("no {}: is openssh-server installed with PAM?".format(pam.SERVICE_FILE))
    facts = SystemFacts(source, _read(SYSTEM_PYZ), system_python(), pam_text, _read(paths.state_dir / BACKUP),
                        _record(paths), _cron_text(), _read(SYSTEM_HOOK), systemd=timer.SYSTEMD_RUNNING.is_dir(),
                        units_now=(_read(timer.UNIT_DIR / timer.SERVICE), _read(timer.UNIT_DIR / timer.TIMER)))
    steps, _ = plan_install(paths, facts)
    return carry_out(steps, "install", arguments, DONE)


def uninstall(arguments: argparse.Namespace) -> Result:
    """uninstall --system: the block out of /etc/pam.d/sshd, the cron line, the pyz; --purge: config and state."""
    paths = Paths.system_wide()
    _require_root("uninstall", arguments)
    steps, notes = plan_uninstall(paths, _read(Path(pam.SERVICE_FILE)), _record(paths), _cron_text(),
                                  getattr(arguments, "purge", False),
                                  tuple(timer.UNIT_DIR / name for name in (timer.TIMER, timer.SERVICE)
                                        if (timer.UNIT_DIR / name).exists()))
    return carry_out(steps, "uninstall", arguments, "uninstalled: the system hook is gone", notes)
