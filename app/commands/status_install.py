"""``status``'s checks of what install set up: each login hook (in place, not hidden, runnable, this account's)
and the every-minute cron line (present, running, or to be added through a hosting panel)."""

from __future__ import annotations

import os
import sys
import time

from app.commands.result import FAIL, OK, WARN, Check
from app.errors import UserError
from app.system.paths import Paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, TypeAlias

Record: TypeAlias = "Dict[str, Any]"  # install's record (app.install.installplan), JSON

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


def _install_record(paths: Paths) -> Optional[Record]:
    from app.install.installplan import load_record, read_optional, record_path

    return load_record(read_optional(record_path(paths)))


def _hook_checks(paths: Paths, record: Optional[Record]) -> List[Check]:
    """One check per hook place: ~/.ssh/rc, the login file bash reads, ~/.bashrc."""
    from app.install.hookstate import read_texts
    from app.install.hooks import HOOKS
    from app.install.installplan import strings

    texts = read_texts(paths.home)
    chosen = strings(record.get("hooks")) if record is not None else None
    return [hook_check(hook, texts, chosen, str(paths.home), paths) for hook in HOOKS]


def hook_check(hook: str, texts: Dict[str, str], chosen: Optional[List[str]], home: str,
               paths: Optional[Paths] = None) -> Check:
    """The check for one hook, from the startup files' texts (by name relative to home); with paths, also
    whether the pyz it runs is the account's alone and whether it uses this account's state directory."""
    from app.install.hookstate import hook_state
    from app.install.hooks import block_settings

    state = hook_state(hook, texts)
    place = "~/" + state.place
    if state.block is None:
        if state.hidden is not None:
            return Check(hook, WARN, HOOK_HIDDEN.format(found="~/" + state.hidden, place=place))
        if chosen is not None and hook not in chosen:
            return Check(hook, OK, HOOK_NOT_CHOSEN.format(chosen=",".join(chosen) or "none"))
        return Check(hook, FAIL, HOOK_MISSING.format(place=place))  # no hook: logins go unalerted
    settings = block_settings(state.block, home)
    for what in ("python", "pyz"):
        path = settings.get(what, "")
        if os.path.isabs(path) and not os.path.isfile(path):
            return Check(hook, WARN, HOOK_BROKEN_TARGET.format(place=place, what=what, path=path))
    from app.install.hookstate import hook_problem

    problem = hook_problem(place, settings, paths.state_dir) if paths is not None else None
    if problem is not None:
        return Check(hook, FAIL, problem)
    if hook == "ssh-rc" and "xauth" not in texts.get(state.place, ""):
        return Check(hook, WARN, HOOK_NO_XAUTH)
    return Check(hook, OK, "login hook in {}".format(place))


CRON_SILENT = "{line}; {last}: is the cron daemon running? (ps -e | grep cron); without it retries and ssh -N " \
              "connections are never alerted"
CRON_STALE_SECONDS = 300


def cron_run_check(line: str, last_run: Optional[float], installed: Optional[float], now: float) -> Check:
    """The cron line is installed: FAIL when check --cron has not run for CRON_STALE_SECONDS (pure)."""
    if last_run is not None and 0 <= now - last_run <= CRON_STALE_SECONDS:
        return Check("cron", OK, "{}; last run {:.0f} s ago".format(line, now - last_run))
    if last_run is not None:
        last = "last run {:.0f} min ago".format((now - last_run) / 60)
    elif installed is None or now - installed <= CRON_STALE_SECONDS:
        return Check("cron", OK, "{}; no run recorded yet".format(line))
    else:
        last = "no run in the {:.0f} min since install".format((now - installed) / 60)
    return Check("cron", FAIL, CRON_SILENT.format(line=line, last=last))


def last_cron(paths: Paths) -> Optional[float]:
    from app.store.store import DatabaseError, Store

    try:
        store = Store.open(paths.store_file, read_only=True)
    except (UserError, DatabaseError):
        return None
    try:
        value = store.get("last_cron")
    except DatabaseError:
        return None
    finally:
        store.close()
    return float(value) if value is not None else None


def _installed_at(paths: Paths) -> Optional[float]:
    from app.install.installplan import record_path

    try:
        return record_path(paths).stat().st_mtime
    except OSError:
        return None


def _cron_check(paths: Paths, record: Optional[Record]) -> Check:
    """The every-minute cron line: present, missing, or to be added through the hosting panel."""
    from app.install import crontab

    cron_record: Record = record["cron"] if record is not None and isinstance(record.get("cron"), dict) else {}
    current = crontab.read_crontab()
    line = crontab.find_cron_line(current.text) if current.available else None
    if line is not None:
        from app.install.hookstate import pyz_problem

        pyz = record.get("pyz") if record is not None and cron_record.get("line") == line else None
        problem = pyz_problem(pyz) if isinstance(pyz, str) and os.path.isabs(pyz) else None
        if problem is not None:
            return Check("cron", FAIL, "the cron line will not run {}: {}".format(pyz, problem))
        return cron_run_check(line, last_cron(paths), _installed_at(paths), time.time())
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


def install_checks(paths: Paths) -> List[Check]:
    """One check per hook place, then the cron line's; never raises for a problem it can report as a check."""
    record = _install_record(paths)
    return _hook_checks(paths, record) + [_cron_check(paths, record)]
