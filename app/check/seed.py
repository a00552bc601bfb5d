"""A run with no store to go on: seed at the log's end (a true first run), or re-seed with a notice (the previous
release's state file was unusable). Called by the CheckRun (app.check.checkrun)."""

from __future__ import annotations

from pathlib import Path

from app.store import eventstore, outbox
from app.check.context import RunParts, date_now, oplog
from app.check.handoff import NO_HANDOFF, sync_hook_wait
from app.check.result import CHECK, CheckResult, finish, log_error
from app.errors import DELIVERY_FAILED, SEEDED, ExitCode, UserError
from app.logins.loginlog import Position, count_lines_from, position_at, tail_lines
from app.store.store import Store
from app.system.files import open_regular_file
from app.system.paths import Paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

NOTICE_RECENT = 10


def end_position(path: Path) -> Optional[Position]:
    """The position at the current end of the log (None when there is no log yet). Raises UserError."""
    try:
        with open_regular_file(path, "rb") as handle:
            return position_at(handle)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise log_error(path, error) from None


def seed(paths: Paths, store: Store) -> CheckResult:
    """First run: start at the end of the existing log without alerting (the original script's behaviour)."""
    from app.settings.config import load_config

    sync_hook_wait(paths.hook_wait_file, load_config(paths.config_file).policy.hook_wait)
    position = end_position(paths.login_log)
    count = 0
    if position is not None:
        with open_regular_file(paths.login_log, "rb") as handle:
            count = count_lines_from(handle, 0)
    with store.transaction():
        store.set_position(position)
    reserve_kept = store.ensure_reserve()
    oplog(paths).info(SEEDED.format(count=count, path=paths.login_log))
    return CheckResult(seeded=count, reason="seeded", no_reserve=not reserve_kept)


def reseed_with_notice(paths: Paths, store: Store, mark: outbox.AcceptedMark, explanation: str) -> CheckResult:
    """An unusable store or state: post one notice listing recent logins with the seed at the end, then send.
    Raises UserError (exit 1) when it could not be sent."""
    from app.settings.config import load_config
    from app.check import context
    from app.check.events import notice_event, posted_identity
    from app.check.fanout import Channels
    from app.logins.loginline import parse_line
    from app.check.render import build_notice

    config = load_config(paths.config_file)
    position = end_position(paths.login_log)
    recent = [parse_line(line) for line in reversed(tail_lines(paths.login_log, NOTICE_RECENT))]
    parts = RunParts.of(paths, store, config)
    envelope = parts.envelope
    text = explanation + ". Logins recorded while it was unusable may not have been alerted."
    identity = posted_identity("notice|{}|{}".format(explanation, position))
    message = build_notice(envelope, "state re-seeded", text, recent, date_now(), outbox.message_id(
        identity, "notice", envelope.mail_domain)) if config.emails else None
    names = eventstore.event_channels(config)
    for name in names:  # known before the notice is stored, so each of them gets it
        eventstore.channel_state(store, name)
    event = notice_event("ssh_alert on {}: state re-seeded".format(envelope.host), text, identity, envelope.host)
    outbox.post(store, message, config.recipients, "notice",
                outbox.Record(lambda target: target.set_position(position), len(recent), [(event, True, "")]))
    parts.log.warning(explanation)
    transport = context.transport(config, paths, envelope.mail_domain)
    channels = Channels(parts, NO_HANDOFF)
    channels.start()
    try:
        if config.emails:
            outbox.flush(store, transport, config.recipients, parts.log, mark)
    except outbox.SendFailed as failure:
        with store.transaction():
            store.record_run(CHECK, str(failure))
        raise UserError(DELIVERY_FAILED.format(reason=failure, pending=1), ExitCode.NOT_DONE) from None
    finally:
        transport.close()
        channels.collect()
    finish(store, config.policy.history_days, names)
    return CheckResult(notices=1, reason="re-seeded")
