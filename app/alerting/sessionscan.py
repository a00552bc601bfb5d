"""SSH connections of this account that no hook recorded (ssh -N), alerted from the cron run through the outbox."""

import os
import time
from typing import TYPE_CHECKING

from app.alerting import outbox
from app.alerting.context import date_now
from app.alerting.store import Store

if TYPE_CHECKING:
    from app.settings.config import Config


def alert_unrecorded_sessions(store: Store, config: "Config", envelope, flush) -> int:  # type: ignore
    """Alert this account's sshd connections that no hook recorded; returns how many were alerted."""
    import pwd

    from app.alerting.render import build_session_alert
    from app.alerting.sessions import own_sshd_processes, unrecorded

    processes = own_sshd_processes(pwd.getpwuid(os.getuid()).pw_name)
    recent = [(connection.split(), epoch) for connection, epoch in store.recent()]
    spids = [words[4] for words, _ in recent if len(words) > 4]  # connection keys end with the spid when known
    pending = unrecorded(processes, [epoch for words, epoch in recent if len(words) <= 4], store.sessions_alerted(),
                         time.time(), spids)
    for process in pending:
        message = build_session_alert(process.started, process.title, envelope, date_now(),
                                      outbox.message_id("session|" + process.key, "session",
                                                        envelope.mail_domain))
        outbox.post(store, message, config.recipients, "session",
                    outbox.Record(lambda target, key=process.key: target.add_session_alerted(key), 1))
        flush()
    with store.transaction():
        store.keep_sessions([process.key for process in processes])
    from app.alerting.sessionends import alert_logouts

    if alert_logouts(store, config, envelope, processes):
        flush()
    return len(pending)
