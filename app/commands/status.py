"""``status``: a list of health checks; the CLI prints them as text or JSON and exits 1 if any failed."""

import os
import platform
import stat
import sys
from typing import Dict, List, NamedTuple, Optional

from app import __version__, oplog
from app.config import Config, load_config
from app.errors import UserError
from app.loginline import parse_line
from app.loginlog import count_lines_from, tail_lines
from app.paths import Paths
from app.statediff import StateProblem, load_state, plan

OK, WARN, FAIL = "ok", "warn", "fail"


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
    record = _install_record(paths)
    checks.extend(_hook_checks(paths, record))
    checks.append(_cron_check(paths, record))
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


# --- hooks and cron: what install set up ---------------------------------------------------------------

HOOK_MISSING = "no login hook in {place}; run: ssh_alert.pyz install"
HOOK_NOT_CHOSEN = "not installed (install --hooks {chosen})"
HOOK_HIDDEN = ("the hook is in {found}, but bash reads {place} first and never {found}: "
               "re-run ssh_alert.pyz install")
HOOK_BROKEN_TARGET = "the hook in {place} calls {what} {path}, which does not exist: re-run ssh_alert.pyz install"
HOOK_NO_XAUTH = ("the hook is in ~/.ssh/rc but nothing there runs xauth, so X11 forwarding (ssh -X) "
                 "stops working: re-run ssh_alert.pyz install")
CRON_MISSING = ("no ssh_alert line in your crontab: an alert that could not be sent waits for the next login; "
                "run: ssh_alert.pyz install")
CRON_NOT_CHOSEN = "not installed (install --no-cron)"
CRON_PANEL = "{problem}: add this line in your hosting panel's cron page: {line}"


def _install_record(paths: Paths) -> Optional[dict]:
    from app.installplan import load_record, read_optional, record_path

    return load_record(read_optional(record_path(paths)))


def _hook_checks(paths: Paths, record: Optional[dict]) -> List[Check]:
    """One check per hook place: ~/.ssh/rc, the login file bash reads, ~/.bashrc."""
    from app.hooks import BASH_FILES, HOOKS, SSH_RC
    from app.installplan import strings

    texts = {}
    for name in (SSH_RC,) + BASH_FILES:
        try:
            texts[name] = (paths.home / name).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
    chosen = strings(record.get("hooks")) if record is not None else None
    return [hook_check(hook, texts, chosen, str(paths.home)) for hook in HOOKS]


def hook_check(hook: str, texts: Dict[str, str], chosen: Optional[List[str]], home: str) -> Check:
    """The check for one hook, from the startup files' texts (by name relative to home)."""
    from app.hooks import BASH_LOGIN_FILES, bash_login_file, block_settings, block_text

    name = {"ssh-rc": ".ssh/rc", "bashrc": ".bashrc"}.get(hook) or bash_login_file(list(texts))
    place = "~/" + name
    block = block_text(texts.get(name, ""))
    if block is None:
        if hook == "bash-profile":
            hidden = [other for other in BASH_LOGIN_FILES if other != name and block_text(texts.get(other, ""))]
            if hidden:
                return Check(hook, WARN, HOOK_HIDDEN.format(found="~/" + hidden[0], place=place))
        if chosen is not None and hook not in chosen:
            return Check(hook, OK, HOOK_NOT_CHOSEN.format(chosen=",".join(chosen) or "none"))
        return Check(hook, WARN, HOOK_MISSING.format(place=place))
    settings = block_settings(block, home)
    for what in ("python", "pyz"):
        path = settings.get(what, "")
        if os.path.isabs(path) and not os.path.isfile(path):
            return Check(hook, WARN, HOOK_BROKEN_TARGET.format(place=place, what=what, path=path))
    if hook == "ssh-rc" and "xauth" not in texts.get(name, ""):
        return Check(hook, WARN, HOOK_NO_XAUTH)
    return Check(hook, OK, "login hook in {}".format(place))


def _cron_check(paths: Paths, record: Optional[dict]) -> Check:
    """The every-minute cron line: present, missing, or to be added through the hosting panel."""
    from app import crontab

    cron_record = record.get("cron") if record is not None and isinstance(record.get("cron"), dict) else {}
    current = crontab.read_crontab()
    line = crontab.find_cron_line(current.text) if current.available else None
    if line is not None:
        return Check("cron", OK, line)
    if cron_record and not cron_record.get("chosen"):
        return Check("cron", OK, CRON_NOT_CHOSEN)
    if current.available:
        return Check("cron", WARN, CRON_MISSING)
    expected = cron_record.get("line") or crontab.cron_line(sys.executable, _pyz_path(paths), os.environ)
    return Check("cron", WARN, CRON_PANEL.format(problem=current.problem, line=expected))


def _pyz_path(paths: Paths) -> str:
    """The running pyz, else where install puts it."""
    running = os.path.abspath(sys.argv[0])
    if running.endswith(".pyz") and os.path.isfile(running):
        return running
    return str(paths.home / "bin" / "ssh_alert.pyz")
