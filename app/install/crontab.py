"""The cron fallback: one marked line in the user's crontab running `check` every minute.

The text functions are pure; read_crontab, write_crontab and remove_crontab are the only effects, each one
`crontab` run through proc.run.
"""

from __future__ import annotations

import os
import shlex
import shutil

from app.system import proc
from app.errors import UserError
from app.system.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, List, Mapping, Optional

MARKER = "# ssh_alert"
SCHEDULE = "* * * * *"
LEGACY_CRON_MARKERS = ("ssh_login_monitor",)
# Passed on the cron line when install ran with them (absolute only), so cron's check finds the same files.
ENVIRONMENT = ("XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "SHIV_ROOT")
TIMEOUT = 10.0
# --cron: cron's check also alerts connections no hook saw (ssh -N), see app.logins.sessions.
CHECK_ARGUMENTS = ("check", "--cron")

CRONTAB_FAILED = "crontab {action} failed: {reason}"
NO_CRONTAB_COMMAND = "no crontab command"


class Crontab(Record):
    """The user's crontab as `crontab -l` shows it."""

    available: bool  # False: no crontab command, or it refused us (problem says why)
    exists: bool  # False: "no crontab for user" (text is "")
    text: str
    problem: str = ""


def cron_line(python: str, pyz: str, environ: Mapping[str, str]) -> str:
    """The crontab line: every minute, `python -S pyz check --cron`, silent; paths absolute and quoted for sh.

    environ: the ENVIRONMENT variables install ran with, and HOME when it is not the account's home in the
    password database (cron would give that one: the run would watch another home)."""
    assignments = ["{}={}".format(name, shlex.quote(environ[name])) for name in ("HOME",) + ENVIRONMENT
                   if os.path.isabs(environ.get(name, ""))]
    # Like the login hook: run the pyz only while this account owns it and its directory (`[ -O` is a builtin).
    guard = ["[", "-O", shlex.quote(pyz), "]", "&&", "[", "-O", shlex.quote(os.path.dirname(pyz) or "/"), "]", "&&"]
    command = " ".join(guard + assignments + [shlex.quote(python), "-S", shlex.quote(pyz)] + list(CHECK_ARGUMENTS)
                       + [">/dev/null", "2>&1"])
    # cron turns an unescaped % into a newline (crontab(5)).
    return "{} {} {}".format(SCHEDULE, command.replace("%", "\\%"), MARKER)


def is_cron_line(line: str) -> bool:
    """True for ssh_alert's own line (a line ending with MARKER that is not itself a comment)."""
    stripped = line.strip()
    return stripped.endswith(" " + MARKER) and not stripped.startswith("#")


def find_cron_line(text: str) -> Optional[str]:
    """The first ssh_alert line of a crontab text, or None."""
    return next((line for line in text.splitlines() if is_cron_line(line)), None)


def with_cron_line(text: str, line: str) -> str:
    """Return text with line as its one ssh_alert line: the first one replaced in place, else appended.

    Every other line is kept exactly; the result ends with a newline (crontab refuses a text without one).
    """
    lines = text.splitlines(keepends=True)
    result = []
    placed = False
    for existing in lines:
        if is_cron_line(existing):
            if not placed:
                result.append(line + "\n")
                placed = True
            continue
        result.append(existing)
    if not placed:
        if result and not result[-1].endswith("\n"):
            result[-1] += "\n"
        result.append(line + "\n")
    return "".join(result)


def without_cron_line(text: str) -> str:
    """Return text without ssh_alert's line(s); every other line kept exactly."""
    return "".join(line for line in text.splitlines(keepends=True) if not is_cron_line(line))


# --- the effects ---------------------------------------------------------------------------------------

def _command() -> Optional[str]:
    return shutil.which("crontab")


def read_crontab() -> Crontab:
    """Run `crontab -l`. Never raises: an unusable crontab is reported as available=False with the reason."""
    command = _command()
    if command is None:
        return Crontab(False, False, "", NO_CRONTAB_COMMAND)
    try:
        finished = proc.run([command, "-l"], timeout=TIMEOUT)
    except (OSError, proc.TimedOut) as error:
        return Crontab(False, False, "", "crontab -l: {}".format(error))
    if finished.returncode == 0:
        return Crontab(True, True, finished.stdout.decode("utf-8", "surrogateescape"))
    if b"no crontab for" in finished.stderr:
        return Crontab(True, False, "")
    return Crontab(False, False, "", "crontab -l: " + (proc.first_line(finished.stderr) or
                                                       "exit {}".format(finished.returncode)))


def write_crontab(text: str) -> None:
    """Install text as the user's crontab (`crontab -`). Raises UserError when crontab refuses it."""
    _run_crontab(["-"], text.encode("utf-8", "surrogateescape"), "-")


def remove_crontab() -> None:
    """Remove the user's crontab (`crontab -r`); raises UserError when that fails."""
    _run_crontab(["-r"], b"", "-r")


def _run_crontab(arguments: List[str], stdin: bytes, action: str) -> None:
    command = _command()
    if command is None:
        raise UserError(CRONTAB_FAILED.format(action=action, reason=NO_CRONTAB_COMMAND))
    try:
        finished = proc.run([command] + arguments, stdin=stdin, timeout=TIMEOUT)
    except (OSError, proc.TimedOut) as error:
        raise UserError(CRONTAB_FAILED.format(action=action, reason=error))
    if finished.returncode != 0:
        raise UserError(CRONTAB_FAILED.format(action=action, reason=proc.first_line(finished.stderr + finished.stdout)
                                              or "exit {}".format(finished.returncode)))


CRON_DAEMONS = ("cron", "crond", "cronie", "fcron", "anacron", "busybox-crond", "systemd-cron")


def daemon_running(proc: str = "/proc") -> bool:
    """True when a process named like a cron daemon is visible (any user's: /proc/PID/comm is readable)."""
    try:
        names = os.listdir(proc)
    except OSError:
        return True  # cannot tell: no warning
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(os.path.join(proc, name, "comm"), encoding="utf-8", errors="replace") as handle:
                if handle.read().strip() in CRON_DAEMONS:
                    return True
        except OSError:
            continue
    return False


def cron_environment(environ: Mapping[str, str]) -> Dict[str, str]:
    """What the cron line must set for the run to see what install saw: the ENVIRONMENT variables given, and
    HOME when it differs from the password database's."""
    import pwd

    chosen = {name: environ[name] for name in ENVIRONMENT if name in environ}
    try:
        account_home = pwd.getpwuid(os.getuid()).pw_dir
    except KeyError:
        account_home = ""
    home = environ.get("HOME", "")
    if home and os.path.isabs(home) and os.path.realpath(home) != os.path.realpath(account_home or "/"):
        chosen["HOME"] = home
    return chosen
