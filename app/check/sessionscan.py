"""SSH connections of this account that no hook recorded (ssh -N), alerted from the cron run through the outbox."""

import os
import time
from typing import TYPE_CHECKING

from app.store import outbox
from app.check.context import date_now
from app.store.store import Store

if TYPE_CHECKING:
    from app.settings.config import Config


def alert_unrecorded_sessions(store: Store, config: "Config", envelope, flush) -> int:  # type: ignore
    """Alert this account's sshd connections that no hook recorded; returns how many were alerted."""
    import pwd

    from app.store.eventstore import event_channels
    from app.check.events import notice_event
    from app.check.render import build_session_alert, session_alert_text
    from app.logins.sessions import own_sshd_processes, unrecorded

    processes = own_sshd_processes(pwd.getpwuid(os.getuid()).pw_name)
    recent = [(connection.split(), epoch) for connection, epoch in store.recent()]
    spids = [words[4] for words, _ in recent if len(words) > 4]  # connection keys end with the spid when known
    pending = unrecorded(processes, [epoch for words, epoch in recent if len(words) <= 4], store.sessions_alerted(),
                         time.time(), spids)
    for process in pending:
        identity = "session|" + process.key
        message = build_session_alert(process.started, process.title, envelope, date_now(), outbox.message_id(
            identity, "session", envelope.mail_domain)) if config.emails else None
        subject, text = session_alert_text(process.started, process.title, envelope.host)
        events = [(notice_event(subject, text, identity, envelope.host), True, "")] if event_channels(config) else []
        outbox.post(store, message, config.recipients, "session",
                    outbox.Record(lambda target, key=process.key: target.add_session_alerted(key), 1), events)
        flush()
    with store.transaction():
        store.keep_sessions([process.key for process in processes])
    from app.check.sessionends import alert_logouts

    if alert_logouts(store, config, envelope, processes):
        flush()
    return len(pending)
