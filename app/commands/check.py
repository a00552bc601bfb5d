"""``check``: alert every login appended to the log since the last run, exactly once, in order.

Run detached by the login hook and every minute by cron. Never prompts, prints nothing when all is
well. Concurrent runs queue on a lock, so a login's alert never waits for the next cron tick.
"""

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, NamedTuple, Optional, Tuple

from app.errors import (DELIVERY_FAILED, LOCK_TIMEOUT, LOG_UNREADABLE, NO_CONFIG, SEEDED, STATE_PROBLEM_NOTICE,
                        STATE_UNWRITABLE, ExitCode, UserError)
from app.files import LockTimeout, exclusive_lock
from app.loginlog import Position, anchor_at, count_lines_from, tail_lines
from app.paths import Paths
from app.statediff import State, StateProblem, load_state, plan, store_state

if TYPE_CHECKING:
    from app.config import Config

# What only sending needs (config parsing, email, sockets, logging) is imported where it is used:
# check runs on every login, and most runs find nothing to send.

LOCK_WAIT = 300.0
NOTICE_RECENT = 10


class CheckResult(NamedTuple):
    sent: int = 0
    seeded: Optional[int] = None  # first run: how many earlier entries were skipped
    notices: int = 0
    reason: str = ""


def host_name(config: "Config") -> str:
    """The name alerts show for this machine: host_label, else the FQDN."""
    import socket

    return config.host_label or socket.getfqdn()


def run_check(paths: Paths, scan_sessions: bool = False) -> CheckResult:
    """Alert what is pending; returns what was done.

    scan_sessions (cron): also alert SSH connections of this account that no hook recorded, such as
    tunnel-only ``ssh -N`` connections (see app.sessions).

    Raises UserError: exit 2 for configuration problems, exit 1 when delivery failed (alerts stay pending).
    """
    if not paths.config_file.exists():
        raise UserError(NO_CONFIG.format(path=paths.config_file))
    started = time.time()
    try:
        with exclusive_lock(paths.lock_file, LOCK_WAIT) as waited:
            result = _check_locked(paths, started, waited)
            if scan_sessions and result.seeded is None:
                result = result._replace(sent=result.sent + _alert_unrecorded_sessions(paths))
            return result
    except LockTimeout:
        raise UserError(LOCK_TIMEOUT.format(path=paths.lock_file, seconds=LOCK_WAIT),
                        ExitCode.DELIVERY_FAILED) from None
    except OSError as error:  # the state directory cannot be created or the lock file opened
        raise UserError(STATE_UNWRITABLE.format(path=error.filename or paths.lock_file,
                                                reason=error.strerror)) from None


def _check_locked(paths: Paths, started: float, waited: bool) -> CheckResult:
    try:
        state = load_state(paths.state_file)
    except StateProblem as problem:
        return _reseed_after_problem(paths, str(problem))
    if state is None:
        return _seed(paths)
    if waited and state.last_failure and float(state.last_failure.get("epoch", 0)) >= started:
        # The run we queued behind just failed to deliver: retrying at once would only stack up
        # timeouts behind a dead server. The alerts stay pending for the next cron run.
        raise UserError(DELIVERY_FAILED.format(reason=state.last_failure.get("reason", "?"), pending="some"),
                        ExitCode.DELIVERY_FAILED)
    segments, reason = plan(state.position, paths.login_log)
    if not segments:
        return CheckResult(reason=reason)
    return _deliver_segments(paths, state, segments, reason)


def _save(paths: Paths, state: State) -> None:
    store_state(paths.state_file, state)


def _end_position(path: Path) -> Optional[Position]:
    """The position at the current end of the log (None when there is no log yet)."""
    try:
        with open(str(path), "rb") as handle:
            status = os.fstat(handle.fileno())
            return Position(status.st_dev, status.st_ino, status.st_size, anchor_at(handle, status.st_size))
    except FileNotFoundError:
        return None
    except OSError as error:
        raise UserError(LOG_UNREADABLE.format(path=path, reason=error.strerror)) from None


def _seed(paths: Paths) -> CheckResult:
    """First run: start at the end of the existing log without alerting (the original script's behaviour)."""
    position = _end_position(paths.login_log)
    count = 0
    if position is not None:
        with open(str(paths.login_log), "rb") as handle:
            count = count_lines_from(handle, 0)
    _save(paths, State(position))
    _oplog(paths).info(SEEDED.format(count=count, path=paths.login_log))
    return CheckResult(seeded=count, reason="seeded")


def _reseed_after_problem(paths: Paths, reason: str) -> CheckResult:
    """A corrupt or unreadable state: send one notice listing recent logins, then seed at the end.

    The state is replaced only after the notice was delivered, so a failed notice is retried.
    """
    from app.config import load_config
    from app.loginline import parse_line
    from app.render import build_notice

    config = load_config(paths.config_file)
    explanation = STATE_PROBLEM_NOTICE.format(path=paths.state_file, reason=reason)
    recent = [parse_line(line) for line in reversed(tail_lines(paths.login_log, NOTICE_RECENT))]
    envelope = _envelope(config)
    message = build_notice(envelope, "state file re-seeded", explanation + ". Logins recorded while it was "
                           "unusable may not have been alerted.", recent, *stamp(envelope.host))
    transport = _transport(config, paths, envelope.host)
    try:
        _send(config, transport, message, pending=lambda: len(recent))
    finally:
        transport.close()
    _oplog(paths).warning(explanation)
    _save(paths, State(_end_position(paths.login_log)))
    return CheckResult(notices=1, reason="re-seeded")


def _envelope(config: "Config"):  # type: ignore[no-untyped-def]
    from app.render import Envelope

    return Envelope(config.sender, config.recipients, host_name(config))


def _transport(config: "Config", paths: Paths, host: str):  # type: ignore[no-untyped-def]
    from app.credentials import resolve_password
    from app.delivery import open_transport

    return open_transport(config, lambda: resolve_password(config, paths), host)


def _send(config: "Config", transport, message, pending: Callable[[], int]) -> None:  # type: ignore
    """Send one message; raises UserError (exit 1) when it was not delivered, counting what stays pending."""
    from app.delivery import send_or_raise

    send_or_raise(transport, message, config.recipients, pending)


def _deliver_segments(paths: Paths, state: State, segments: "tuple", reason: str) -> CheckResult:
    """Alert the pending lines of each segment in order (app.dispatch), committing after every email."""
    from app.config import load_config
    from app.dispatch import Dispatcher

    config = load_config(paths.config_file)
    envelope = _envelope(config)
    transport = _transport(config, paths, envelope.host)
    log = _oplog(paths)
    if reason not in ("appended", "new log"):
        log.warning("login log {}: reading {} from the start".format(reason, segments[-1].path))
    dispatcher = Dispatcher(paths, config, state, envelope, transport, stamp, log)
    try:
        for segment in segments:
            if not dispatcher.segment(segment):
                break  # held by the hourly limit: the rest stays pending, in order
    except OSError as error:
        raise UserError(LOG_UNREADABLE.format(path=paths.login_log, reason=error.strerror)) from None
    finally:
        transport.close()
    return CheckResult(sent=dispatcher.sent, reason=reason)


def _alert_unrecorded_sessions(paths: Paths) -> int:
    """Alert this account's sshd connections that no hook recorded; returns how many were alerted."""
    import pwd

    from app.sessions import own_sshd_processes, unrecorded

    state = load_state(paths.state_file)
    if state is None:
        return 0
    processes = own_sshd_processes(pwd.getpwuid(os.getuid()).pw_name)
    live = {process.key for process in processes}
    pending = unrecorded(processes, [epoch for _, epoch in state.recent], state.sessions_alerted, time.time())
    if pending:
        from app.config import load_config
        from app.render import build_session_alert

        config = load_config(paths.config_file)
        envelope = _envelope(config)
        transport = _transport(config, paths, envelope.host)
        try:
            for process in pending:
                message = build_session_alert(process.started, process.title, envelope, *stamp(envelope.host))
                _send(config, transport, message, pending=lambda: len(pending))
                state = state._replace(sessions_alerted=state.sessions_alerted + (process.key,))
                _save(paths, state)
                _oplog(paths).info("sent: {}".format(message["Subject"]))
        finally:
            transport.close()
    kept = tuple(key for key in state.sessions_alerted if key in live)
    if kept != state.sessions_alerted:
        _save(paths, state._replace(sessions_alerted=kept))
    return len(pending)


def stamp(host: str) -> Tuple[str, str]:
    """A Date header value for now and a fresh Message-ID."""
    import email.utils

    return email.utils.formatdate(localtime=True), email.utils.make_msgid(domain=host)


def _oplog(paths: Paths):  # type: ignore[no-untyped-def]
    from app import oplog

    return oplog.logger(paths.oplog_file)
