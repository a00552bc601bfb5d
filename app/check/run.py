"""One check run: under the lock, open the store, send what the outbox holds, then alert the log's new lines.

The hook starts it on every login and cron every minute. It never prompts and prints nothing when all
is well. Concurrent runs queue on a lock, so a login's alert never waits for the next cron tick.
First run: seed at the end of the log (or import the previous release's files). A store missing, empty
or unusable (moved aside) after earlier runs is a reset (app.check.reset): a notice, then the logins
since the position the lock file kept. A full disk: app.check.unrecorded. The run itself, once the lock is
held and the store open, is a CheckRun (app.check.checkrun).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from app.store import outbox
from app.check.checkrun import CheckRun, Occasion, OpenedStore
from app.check.context import oplog
from app.check.handoff import NO_HANDOFF, HandOff
from app.check.result import CHECK, CheckResult
from app.store.outcome import note_outcome
from app.store.store import DatabaseError, OperationalError, Store
from app.store.store import opened as store_opened
from app.errors import (LOCK_TIMEOUT, NO_CONFIG, STATE_PROBLEM_NOTICE, STATE_UNWRITABLE, STORE_UNUSABLE, ExitCode,
                        UserError)
from app.system.files import LockTimeout, exclusive_lock, require_private_dir
from app.logins.runmark import RunMark
from app.check import unrecorded
from app.system.paths import Paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional, Tuple

__all__ = ["CheckResult", "record_failure", "run_check"]

LOCK_WAIT = 300.0


def run_check(paths: Paths, scan_sessions: bool = False, handoff: HandOff = NO_HANDOFF) -> CheckResult:
    """Alert what is pending; returns what was done.

    scan_sessions (cron): also alert SSH connections of this account that no hook recorded, such as
    tunnel-only ``ssh -N`` connections (see app.logins.sessions). handoff: the waiting hook, told when its
    connection is settled (and, at the latest, when the run ends).

    Raises UserError: exit 2 for configuration and file problems, exit 1 when delivery failed (alerts
    stay pending).
    """
    try:
        result = _run_check(paths, scan_sessions, handoff)
    except UserError as error:
        note_outcome(paths.state_dir, error.message)  # status says FAIL even when the store could not record it
        if scan_sessions:
            from app.check.selfwatch import ping

            ping(paths, False, error.message)
        raise
    note_outcome(paths.state_dir, None, paths.oplog_file)
    if scan_sessions:
        from app.check.selfwatch import ping

        ping(paths, True, "ok: {} sent".format(result.sent))
        from app.check.geoupdate import monthly

        monthly(paths)  # geoip_update = monthly: after the alerts are out
    return result


def _run_check(paths: Paths, scan_sessions: bool, handoff: HandOff) -> CheckResult:
    if not os.path.lexists(str(paths.config_file)):
        raise UserError(NO_CONFIG.format(path=paths.config_file))
    require_private_dir(paths.state_dir)  # the store and the log decide what is alerted: ours alone
    started = time.time()
    try:
        with exclusive_lock(paths.lock_file, LOCK_WAIT) as waited:
            mark = outbox.AcceptedMark(paths.lock_file)  # first: its block before the store can take the last
            run_mark = RunMark(mark.descriptor)
            existed = os.path.lexists(str(paths.store_file))
            try:
                store, problem, unusable = _open_store(paths)
            except BaseException:
                mark.close()
                raise
            extra = None
            try:
                extra = unrecorded.unlogged_line(paths, store, started,
                                                 os.getppid() if handoff is not NO_HANDOFF else os.getpid())
                mark.settle(store)
                unrecorded.catch_up(store, run_mark)
                occasion = Occasion(started, waited, scan_sessions, handoff, extra)
                return CheckRun(paths, OpenedStore(store, problem, unusable, existed), mark, run_mark, occasion).run()
            except OperationalError as error:  # e.g. the disk is full and the reserve used up
                raise unrecorded.without_store(paths, store, run_mark, error, extra) from None
            finally:
                unrecorded.keep_position(store, run_mark)
                mark.close()
                store.close()
    except LockTimeout:
        raise UserError(LOCK_TIMEOUT.format(path=paths.lock_file, seconds=LOCK_WAIT),
                        ExitCode.NOT_DONE) from None
    except OSError as error:  # the state directory cannot be created or the lock file opened
        raise UserError(STATE_UNWRITABLE.format(path=error.filename or paths.lock_file,
                                                reason=error.strerror)) from None


def _open_store(paths: Paths) -> Tuple[Store, Optional[str], Optional[str]]:
    """Open the store; an unusable one is moved aside and replaced. Returns it, the problem of the previous
    release's state file, if any, and why the store was unusable, if it was."""
    try:
        store = Store.open(paths.store_file)
    except DatabaseError as error:
        if unrecorded.store_reason(error) != str(error):
            raise  # a full disk, not a damaged store
        moved = Path("{}.unusable-{}".format(paths.store_file, int(time.time())))
        os.replace(str(paths.store_file), str(moved))
        for suffix in ("-journal", "-wal", "-shm"):
            try:
                os.unlink(str(paths.store_file) + suffix)
            except FileNotFoundError:
                pass
        return Store.open(paths.store_file), None, STORE_UNUSABLE.format(reason=error, moved=moved)
    if not store.is_new:
        return store, None, None
    from app.store.upgrade import StateProblem, import_release_files

    try:
        imported = import_release_files(store, paths)
    except StateProblem as problem:
        return store, STATE_PROBLEM_NOTICE.format(path=paths.state_file, reason=problem), None
    if imported:
        oplog(paths).info(imported)
    return store, None, None


def record_failure(paths: Paths, reason: str) -> None:
    """Record that a check failed outside the run's own handling (a crash), so status shows FAIL; never raises."""
    note_outcome(paths.state_dir, reason)
    try:
        if paths.store_file.exists():
            with store_opened(paths.store_file) as store, store.transaction():
                store.record_run(CHECK, reason)
    except Exception:  # the crash itself is what gets reported
        pass
