"""``status``: a list of health checks, as text or JSON (--json); exit 1 (NOT_DONE) if any failed."""

from __future__ import annotations

import argparse
import os
import platform
import stat
import sys
import time

from app import __version__

from app.system import oplog
from app.settings.config import Config, load_config
from app.commands.result import FAIL, OK, WARN, Check, Result
from app.commands.status_install import install_checks
from app.errors import ExitCode, UserError
from app.logins.loginline import parse_line
from app.logins.loginlog import tail_lines
from app.system.paths import Paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional, Sequence

    from app.store.rows import Run
    from app.store.store import Store

GEOIP_OK = "{count} database(s), each built in the last 60 days"


def add_parser(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser("status", help="report configuration, credentials, hooks and pending alerts")
    parser.add_argument("--json", action="store_true", help="print the same checks as JSON")
    parser.add_argument("--system", action="store_true", help="the system-wide mode's health (root)")


def run(paths: Paths, arguments: argparse.Namespace) -> Result:
    """One line per check (or the checks as JSON); exit 1 when any failed."""
    checks = run_status(paths)
    if paths.system:
        from app.commands.system_status import system_checks
        from app.install.hooks import HOOKS

        checks = [check for check in checks if check.name not in HOOKS + ("cron",)] + system_checks(paths)
    return Result(["{:<5} {:<13} {}".format(item.status.upper(), item.name, item.detail) for item in checks],
                  ExitCode.OK if healthy(checks) else ExitCode.NOT_DONE,
                  {"healthy": healthy(checks), "checks": [item._asdict() for item in checks]})


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
        checks.append(_hook_wait_check(config, paths))
        if config.policy.geoip_db:  # each file readable and built in the last 60 days; the last update's error
            from app.check.geoupdate import health

            problems, count = health(config.policy, paths.store_file)
            checks.append(Check("geoip", WARN if problems else OK,
                                "; ".join(problems) or GEOIP_OK.format(count=count)))
    checks.append(_permission_check(paths))
    checks.extend(_log_checks(paths, config))
    checks.extend(install_checks(paths))
    return checks


def _credential_checks(config: Config, paths: Paths) -> List[Check]:
    from app.settings.credentials import describe_source, resolve_password
    from app.channels.delivery import describe
    from app.commands.setup_mail import local_only_problem
    from app.settings.cleartext import cleartext_warnings

    problem = local_only_problem(config)  # none without email: method is then ""
    checks = [Check("delivery", FAIL, problem) if problem else Check("delivery", OK, describe(config))] + [
        Check(name, WARN, detail) for name, detail in cleartext_warnings(config)]
    if not config.emails:
        return checks
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


HOOK_WAIT_ON = "{seconds:g} s: each login waits until its alert has left, so it leaves before the session starts"
HOOK_WAIT_OFF = "0: logins do not wait; an intruder's first command could stop the alert (set hook_wait = 3)"
HOOK_WAIT_STALE = "{path} says {found!r}, the config {seconds:g}: the next check rewrites it"


def _hook_wait_check(config: Config, paths: Paths) -> Check:
    """hook_wait as configured, and as the hook will read it."""
    seconds = config.policy.hook_wait
    from app.system.files import NotRegularFile, open_regular_file

    try:
        with open_regular_file(paths.hook_wait_file, "rb") as handle:  # a FIFO is named, never waited on
            found = handle.read(64).decode("ascii", "replace").strip()
    except NotRegularFile as error:
        found = error.kind
    except OSError:
        found = "3"  # the hook's default when the file is absent
    if found != "{:g}".format(seconds):
        return Check("hook wait", WARN, HOOK_WAIT_STALE.format(path=paths.hook_wait_file, found=found,
                                                                seconds=seconds))
    return Check("hook wait", OK if seconds else WARN, HOOK_WAIT_ON.format(seconds=seconds) if seconds
                 else HOOK_WAIT_OFF)


def _permission_check(paths: Paths) -> Check:
    """Config, secrets, state and logs must not be readable by group or others."""
    loose = []
    for path in (paths.config_file, paths.secrets_file, paths.store_file, paths.login_log, paths.oplog_file,
                 paths.config_dir, paths.state_dir, paths.data_dir):
        try:
            mode = stat.S_IMODE(os.stat(str(path)).st_mode)
        except OSError:
            continue
        if mode & 0o077:
            loose.append("{} is {:04o} (run chmod go= {})".format(path, mode, path))
    return Check("permissions", WARN if loose else OK, "; ".join(loose) or "private (no group/other access)")


def _log_checks(paths: Paths, config: Optional[Config] = None) -> List[Check]:
    from app.store.pending import pending_logins
    from app.store.store import DatabaseError, Store

    from app.system.files import require_private_dir

    try:
        require_private_dir(paths.state_dir)  # before anything is read from it, a store or not
    except UserError as error:
        return [Check("state", FAIL, error.message)]
    # without a store, the last check's outcome still comes from its own file (app.store.outcome)
    if not paths.store_file.exists():
        if paths.state_file.exists():
            return [Check("state", WARN, "{} is from the previous release; the next check imports it".format(
                paths.state_file))] + _run_checks(paths)
        return [Check("state", WARN, "not seeded yet; run ssh_alert.pyz check (setup does this)")] + _run_checks(paths)
    recipients = config.recipients if config is not None else ()
    writable = _store_writable(paths)
    try:
        store = Store.open(paths.store_file, read_only=True)
    except UserError as error:
        return [Check("state", FAIL, error.message)] + _run_checks(paths)
    except DatabaseError as error:
        return [Check("state", FAIL, "{}: {}; the next check sends a notice and re-seeds".format(
            paths.store_file, error))] + _run_checks(paths)
    try:
        from app.store.eventstore import event_channels

        channels = event_channels(config) if config is not None else ()
        return writable + _store_checks(paths, store, pending_logins(store, paths, channels), recipients) + \
            _channel_checks(store, config) + _auth_checks(paths)
    finally:
        store.close()


def _channel_checks(store: "Store", config: Optional[Config]) -> List[Check]:
    from app.store.eventstore import event_channels
    from app.check.health import channel_lines, hold_lines, watch_lines

    if config is None:
        return []
    return [Check(name, status, detail) for name, status, detail in
            hold_lines(store, config) + channel_lines(store, list(event_channels(config))) + watch_lines(store, config)]


def _store_writable(paths: Paths) -> List[Check]:
    """FAIL when check could not record anything now (it then sends nothing: no copy per check)."""
    from app.errors import STORE_UNWRITABLE
    from app.system.files import open_regular

    try:
        os.close(open_regular(paths.store_file, os.O_RDWR))
    except OSError as error:
        return [Check("state", FAIL, STORE_UNWRITABLE.format(path=paths.store_file, reason=error.strerror or error))]
    return []


RECIPIENT_REFUSED = "{address} was refused for good ({reply}): it gets no alerts; fix [alert] to"


def _store_checks(paths: Paths, store: "Store", pending: int, recipients: Sequence[str] = ()) -> List[Check]:
    """Pending logins (connections, not lines), the last alert, and every kind of run whose last try failed."""
    from app.check.health import disk_lines

    checks = [Check("pending", OK if pending == 0 else WARN, "{} login(s) pending".format(pending))]
    for address, reply in sorted((store.get("refused") or {}).items()):
        if address in recipients:
            checks.append(Check("recipient", FAIL, RECIPIENT_REFUSED.format(address=address, reply=reply)))
    last = store.get("last_sent")
    when = last and (last.get("time") or _local_time(last.get("epoch")))
    checks.append(Check("last alert", OK, "{} ({})".format(when, last.get("subject")) if last else "none sent yet"))
    checks.extend(_run_checks(paths, store.runs()))
    checks += [Check(name, status, detail) for name, status, detail in disk_lines(store, paths.store_file)]
    return checks


def _run_checks(paths: Paths, runs: Sequence["Run"] = ()) -> List[Check]:
    """"last error": FAIL for each kind of run whose last outcome failed, as the store or the outcome file
    (app.store.outcome) recorded it; else the operational log's last error, resolved only by a later success."""
    from app.store.outcome import read_outcome, run_lines

    logged = oplog.last_entry(paths.oplog_file)
    return [Check("last error", status, detail) for status, detail in run_lines(
        runs, read_outcome(paths.state_dir), (logged.time, logged.message) if logged else None)]


def _local_time(epoch: Optional[float]) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(epoch)) if epoch else "?"


def _auth_checks(paths: Paths) -> List[Check]:
    checks = []
    recent = tail_lines(paths.login_log, 1)
    if recent:
        record = parse_line(recent[-1])
        if record.parsed and not record.methods:
            checks.append(Check("auth details", WARN, "the last login's method is unknown: ask root to set "
                                "'ExposeAuthInfo yes' in sshd_config to see methods and keys"))
        elif record.parsed:
            checks.append(Check("auth details", OK, "methods and keys reach the hook (ExposeAuthInfo)"))
    return checks
