"""``status``: a list of health checks; the CLI prints them as text or JSON and exits 1 if any failed."""

import os
import platform
import stat
import sys
from pathlib import Path
from typing import List, NamedTuple, Optional

from app import __version__, oplog
from app.config import Config, load_config
from app.errors import UserError
from app.loginline import parse_line
from app.loginlog import count_lines_from, tail_lines
from app.paths import Paths
from app.statediff import StateProblem, load_state, plan

OK, WARN, FAIL = "ok", "warn", "fail"
HOOK_FILES = (".ssh/rc", ".bash_profile", ".bash_login", ".profile", ".bashrc")


class Check(NamedTuple):
    name: str
    status: str  # ok | warn | fail
    detail: str


def healthy(checks: List[Check]) -> bool:
    return all(check.status != FAIL for check in checks)


def run_status(paths: Paths) -> List[Check]:
    """Run every health check; never raises for a problem it can report as a check."""
    checks = [Check("version", OK, "ssh_alert {}".format(__version__)),
              Check("python", OK if sys.version_info >= (3, 8) else FAIL,
                    "{} {} ({})".format(platform.python_implementation(), platform.python_version(), sys.executable))]
    config: Optional[Config] = None
    try:
        config = load_config(paths.config_file)
        checks.append(Check("config", WARN if config.warnings else OK,
                            "; ".join(config.warnings) or "{} is valid".format(paths.config_file)))
    except UserError as error:
        checks.append(Check("config", FAIL, error.message.replace("\n", "; ")))
    if config is not None:
        checks.extend(_credential_checks(config, paths))
    checks.append(_permission_check(paths))
    checks.extend(_log_checks(paths))
    checks.append(_hook_check(paths))
    return checks


def _credential_checks(config: Config, paths: Paths) -> List[Check]:
    from app.credentials import describe_source, resolve_password
    from app.delivery import describe

    checks = [Check("delivery", OK, describe(config))]
    try:
        source = describe_source(config, paths)
        if source.kind != "none":
            resolve_password(config, paths)  # read to prove it works; never shown
        status = WARN if source.kind == "plaintext" else OK
        detail = source.description + ("" if source.kind == "none" else ": password readable")
        if source.kind == "plaintext":
            detail += "; move it out of the config: re-run ssh_alert.pyz setup"
        checks.append(Check("password", status, detail))
    except UserError as error:
        checks.append(Check("password", FAIL, error.message))
    return checks


def _permission_check(paths: Paths) -> Check:
    """Config, secrets, state and logs must not be readable by group or others."""
    loose = []
    for path in (paths.config_file, paths.secrets_file, paths.state_file, paths.login_log, paths.oplog_file,
                 paths.config_dir, paths.state_dir, paths.data_dir):
        try:
            mode = stat.S_IMODE(os.stat(str(path)).st_mode)
        except OSError:
            continue
        if mode & 0o077:
            loose.append("{} is {:04o} (run chmod go= {})".format(path, mode, path))
    return Check("permissions", WARN if loose else OK, "; ".join(loose) or "private (no group/other access)")


def _log_checks(paths: Paths) -> List[Check]:
    checks = []
    try:
        state = load_state(paths.state_file)
    except StateProblem as problem:
        return [Check("state", FAIL, "{}: {}; the next check sends a notice and re-seeds".format(
            paths.state_file, problem))]
    if state is None:
        checks.append(Check("state", WARN, "not seeded yet; run ssh_alert.pyz check (setup does this)"))
        return checks
    segments, _ = plan(state.position, paths.login_log)
    pending = 0
    for segment in segments:
        try:
            with open(str(segment.path), "rb") as handle:
                pending += count_lines_from(handle, segment.start)
        except OSError as error:
            checks.append(Check("login log", FAIL, "cannot read {}: {}".format(segment.path, error.strerror)))
    checks.append(Check("pending", OK if pending == 0 else WARN, "{} alert(s) pending".format(pending)))
    last = state.last_sent
    checks.append(Check("last alert", OK, "{} ({})".format(last.get("time"), last.get("subject")) if last
                        else "none sent yet"))
    failure = state.last_failure
    logged = oplog.last_entry(paths.oplog_file)
    if failure:
        checks.append(Check("last error", FAIL, "{}: {}".format(failure.get("time"), failure.get("reason"))))
    elif logged:
        checks.append(Check("last error", OK, "{}: {} (since resolved)".format(logged.time, logged.message)))
    recent = tail_lines(paths.login_log, 1)
    if recent:
        record = parse_line(recent[-1])
        if record.parsed and not record.methods:
            checks.append(Check("auth details", WARN, "the last login's method is unknown: ask root to set "
                                "'ExposeAuthInfo yes' in sshd_config to see methods and keys"))
        elif record.parsed:
            checks.append(Check("auth details", OK, "methods and keys reach the hook (ExposeAuthInfo)"))
    return checks


def _hook_check(paths: Paths) -> Check:
    found = []
    for name in HOOK_FILES:
        try:
            if "ssh_alert" in (paths.home / name).read_text(encoding="utf-8", errors="replace"):
                found.append("~/" + name)
        except OSError:
            continue
    if found:
        return Check("hooks", OK, "login hook in " + ", ".join(found))
    return Check("hooks", WARN, "no login hook found; paste bash_profile.snippet into ~/.bash_profile")
