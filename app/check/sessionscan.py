"""The cron run's session scans: SSH connections of this account that no hook recorded (ssh -N), alerted through
the outbox, and the ends of connections (app.check.sessionends; in the system-wide mode app.check.pamends)."""

from __future__ import annotations

import os
import time

from app.store import outbox
from app.check.context import RunParts, date_now

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable

    from app.check.sender import Sender
    from app.store.store import Store


def alert_unrecorded_sessions(parts: RunParts, sender: "Sender") -> int:
    """Alert this account's sshd connections that no hook recorded, each sent by sender once posted, then the
    logouts (notify_logout); returns how many connections were alerted. Raises SendFailed from sender."""
    import pwd

    from app.store.eventstore import event_channels
    from app.check.events import notice_event
    from app.check.render import build_session_alert, session_alert_text
    from app.logins.sessions import own_sshd_processes, unrecorded

    store, config, envelope = parts.store, parts.config, parts.envelope
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
                    outbox.Record(_alerted(process.key), 1, events))
        sender.send()
    with store.transaction():
        store.keep_sessions([process.key for process in processes])
    from app.check.sessionends import alert_logouts

    if alert_logouts(parts, processes):
        sender.send()
    return len(pending)


def _alerted(key: str) -> Callable[["Store"], None]:
    """The record of an alerted session: it is not alerted again."""
    return lambda target: target.add_session_alerted(key)
