"""One check run under its lock, with its store open: from what is pending to sent messages.

What only sending needs (config parsing, email, sockets, threads) is imported where it is used: most runs find
nothing to send.
"""

from __future__ import annotations

import os
import time

from app.store import eventstore, outbox
from app.store.eventstore import CHANNELS_PENDING
from app.check import reset
from app.check.handoff import HandOff
from app.check.result import CHECK, SERVER_FAILED, CheckResult, finish, log_error
from app.logins.runmark import RunMark
from app.logins.statediff import Segment, plan
from app.store.pending import pending_logins
from app.errors import DELIVERY_FAILED, ExitCode, UserError
from app.store.store import Store
from app.system.paths import Paths
from app.system.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional, Tuple

    from app.check.context import RunParts
    from app.check.dispatch import Dispatcher
    from app.check.sender import Sender

DISK_FULL = "the disk holding {path} is full: alerts are recorded in the store's reserve; free some space"
CONFIG_VALIDATED = "config_validated"  # the config file's identity when it last read as valid


class Occasion(Record):
    """What started the run and what it was handed."""

    started: float  # when the run started (before it waited for the lock)
    waited: bool  # it queued behind another run
    scan_sessions: bool  # cron's run: also the session scans and the self-monitoring notices
    handoff: HandOff  # the waiting login hook (NO_HANDOFF when none waits)
    extra: Optional[bytes] = None  # a login the hook could not append to the log (app.check.unrecorded)


class OpenedStore(Record):
    """The store as the run found it (app.check.run)."""

    store: Store
    problem: Optional[str]  # the previous release's state file could not be imported: re-seed with a notice
    unusable: Optional[str]  # why the store was moved aside and replaced
    existed: bool  # a store file was there before this run


class CheckRun:
    """One check run: owns, for that run, the paths, the store, the accepted mark and run mark and the pending log
    segments; once it sends, it makes the RunParts (config, envelope, operations log), the Sender (transport,
    channels) and the Dispatcher, and closes the Sender at the end.

    A login goes, in order: app.check.run (the lock, the store) → CheckRun.run (what is pending) → CheckRun's
    _deliver → Dispatcher.segment (app.check.dispatch) → Decider.items (app.check.decide: parse, decide) →
    render → outbox.post → Sender.send (app.check.sender) → outbox.flush → the mail transport, and the push
    channels (app.check.fanout) → AcceptedMark.note → Sender.accepted → the waiting hook (app.check.handoff).
    """

    def __init__(self, paths: Paths, opened: OpenedStore, mark: outbox.AcceptedMark, run_mark: RunMark,
                 occasion: Occasion) -> None:
        self.paths, self.opened, self.store = paths, opened, opened.store
        self.mark, self.run_mark, self.occasion = mark, run_mark, occasion
        self.segments: Tuple[Segment, ...] = ()  # the log's pending parts, oldest first
        self.reason = ""  # how the log changed since the last run (app.logins.statediff.plan)
        self.reserve_kept = True  # the store keeps its reserve for a full disk

    def run(self) -> CheckResult:
        """Alert what is pending. Raises UserError (exit 2: config or log; exit 1: delivery failed)."""
        paths, store, opened, occasion = self.paths, self.store, self.opened, self.occasion
        if occasion.scan_sessions:  # status tells from this whether cron runs at all
            with store.transaction():
                store.put("last_cron", time.time())
        if opened.problem is not None:
            from app.check.seed import reseed_with_notice

            return reseed_with_notice(paths, store, self.mark, opened.problem)
        if store.is_new or opened.unusable:
            try:
                if not reset.begin(paths, store, self.run_mark.mark, opened.existed, opened.unusable):
                    from app.check.seed import seed

                    return seed(paths, store)
            except OSError as error:
                raise log_error(paths.login_log, error) from None
        self._refuse_behind_a_failure()
        self.reserve_kept = store.ensure_reserve()
        if self.reserve_kept and store.get("warned:disk-full"):
            with store.transaction():
                store.clear_warning("disk-full")
        try:
            segments, self.reason = plan(store.position(), paths.login_log)
        except OSError as error:
            if occasion.extra is not None:  # the hook could not append to it either (a FIFO there): its login
                self.reason = "unreadable"  # still goes out
                self._deliver()
            raise log_error(paths.login_log, error) from None
        self.segments = tuple(segments)
        if not (self.segments or store.unsent() or store.get(CHANNELS_PENDING) or occasion.scan_sessions
                or occasion.extra):
            self._validate_config()  # nothing to send, but a broken config must not pass as silence
            return CheckResult(reason=self.reason, no_reserve=not self.reserve_kept)
        return self._deliver()

    def _refuse_behind_a_failure(self) -> None:
        """Raises UserError (exit 1) when the run this one queued behind just failed to deliver: retrying at once
        would only stack up timeouts behind a dead server. The alerts stay pending for the next cron run."""
        store, started = self.store, self.occasion.started
        server_failed = store.get(SERVER_FAILED)
        just_failed = [reason for kind, when, reason in store.failures()
                       if kind == CHECK and when >= started and server_failed is not None and server_failed >= started]
        if self.occasion.waited and just_failed:
            raise UserError(DELIVERY_FAILED.format(reason=just_failed[0], pending=pending_logins(store, self.paths)),
                            ExitCode.NOT_DONE)

    def _deliver(self) -> CheckResult:
        """Read the config, then send: what the outbox holds, the pending segments, the hook's unlogged login, the
        cron run's scans and notices. Raises UserError."""
        from app.check import context
        from app.check.dispatch import Dispatcher
        from app.check.fanout import Channels
        from app.check.handoff import sync_hook_wait, sync_record_command, trim_waited
        from app.check.sender import Sender
        from app.settings.config import load_config

        paths, store = self.paths, self.store
        config = load_config(paths.config_file)
        sync_hook_wait(paths.hook_wait_file, config.policy.hook_wait)
        sync_record_command(paths.record_command_file, config.policy.record_command)
        trim_waited(paths.waited_file)
        if paths.system:
            from app.logins.systemseen import trim_seen

            trim_seen()
        parts = context.RunParts.of(paths, store, config)
        transport = context.transport(config, paths, parts.envelope.mail_domain)
        handoff = self.occasion.handoff
        sender = Sender(parts, transport, Channels(parts, handoff), self.mark, handoff)
        dispatcher = Dispatcher(parts, sender, handoff)
        if not self.reserve_kept:
            parts.log_once(DISK_FULL.format(path=paths.store_file), key="disk-full")
        try:
            self._dispatch(parts, dispatcher, sender)
        except outbox.SendFailed as failure:
            with store.transaction():
                store.record_run(CHECK, str(failure))
                store.put(SERVER_FAILED, time.time())
            raise self._failed(parts, str(failure)) from None
        except OSError as error:
            raise log_error(paths.login_log, error) from None
        finally:
            sender.close()
        problems = sender.problems()
        finish(store, config.policy.history_days, eventstore.event_channels(config), "; ".join(problems) or None)
        if problems:  # every other alert went out; these stay pending for their recipient or channel alone
            raise self._failed(parts, "; ".join(problems))
        return CheckResult(sent=sender.alerts(), reason=self.reason, no_reserve=not self.reserve_kept)

    def _dispatch(self, parts: "RunParts", dispatcher: "Dispatcher", sender: "Sender") -> None:
        """Send in order: what earlier runs stored, the segments, the hook's unlogged login, then the cron run's
        session scans and notices (or, from a hook, the notice that cron stopped). Raises SendFailed, OSError."""
        from app.check.selfwatch import cron_duties, cron_late

        dispatcher.flush_pending()  # what an earlier run stored but could not send goes first, in order
        if self.segments and self.reason not in ("appended", "new log", "up to date"):
            parts.log_once("login log {}: reading {} from the start".format(self.reason, self.segments[-1].path))
        for segment in self.segments:
            if not dispatcher.segment(segment):
                break  # held by the hourly limit: the rest stays pending, in order
        if self.occasion.extra is not None:
            dispatcher.unlogged(self.occasion.extra)
        if self.occasion.scan_sessions:
            if not self.paths.system:  # the system-wide mode's PAM hook sees every connection, ssh -N included
                from app.check.sessionscan import alert_unrecorded_sessions

                alert_unrecorded_sessions(parts, sender)
            else:
                from app.check.pamends import record_system_ends

                if record_system_ends(parts) and parts.config.policy.notify_logout:
                    dispatcher.flush_pending()
            if cron_duties(parts):
                dispatcher.flush_pending()
        elif cron_late(parts):
            dispatcher.flush_pending()
        if sender.email_failure is not None:  # the channels got theirs; email failed
            raise sender.email_failure

    def _failed(self, parts: "RunParts", reason: str) -> UserError:
        """The delivery-failed error (exit 1), naming what stays pending."""
        pending = pending_logins(self.store, self.paths, eventstore.event_channels(parts.config))
        return UserError(DELIVERY_FAILED.format(reason=reason, pending=pending), ExitCode.NOT_DONE)

    def _validate_config(self) -> None:
        """Raises UserError (exit 2) when the config is invalid; parsed only after it changed (the hook's path)."""
        paths, store = self.paths, self.store
        try:
            status = os.stat(str(paths.config_file))
        except OSError:
            status = None
        from app import __version__  # a newer release may read the same file differently

        identity = "" if status is None else "{}:{}:{}:{}:{}".format(__version__, status.st_ino, status.st_size,
                                                                      status.st_mtime_ns, status.st_ctime_ns)
        if identity and store.get(CONFIG_VALIDATED) == identity:
            return
        from app.settings.config import load_config

        load_config(paths.config_file)
        if identity:
            with store.transaction():
                store.put(CONFIG_VALIDATED, identity)
