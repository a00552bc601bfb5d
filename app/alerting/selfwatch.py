"""What the cron run does beyond alerting logins, so that silence means something.

A heartbeat summary through every channel (daily or weekly), a dead man's switch ping on every cron run
(healthchecks.io style: the URL on success, URL/fail with the reason on failure), and one alert per
tamper or key change found (app.alerting.watch). Each notice is posted in the transaction that records
what it reports, so it is sent once however many runs follow.
"""

import time
from typing import Any, Callable, List, Optional

from app.alerting import outbox
from app.alerting.context import date_now
from app.alerting.events import notice_event
from app.system.paths import Paths

HEARTBEAT_LAST = "heartbeat_last"  # meta: when the last heartbeat was posted (or the count started)
PING_TIMEOUT = 5.0
PING_FAILED = "heartbeat ping to {url} failed: {reason}"


def post_notice(store: Any, config: Any, envelope: Any, subject: str, text: str, identity: str,
                apply: Callable[[Any], None] = lambda store: None, urgent: bool = True) -> None:
    """Post one notice by email (when alerts go by email) and through the channels, with apply's record."""
    from app.alerting.render import build_notice

    message = None
    if config.emails:
        message = build_notice(envelope, subject, text, [], date_now(),
                               outbox.message_id(identity, "notice", envelope.mail_domain))
    event = notice_event("ssh_alert on {}: {}".format(envelope.host, subject), text, identity, envelope.host, urgent)
    outbox.post(store, message, config.recipients, "notice", outbox.Record(apply), [(event, True, "")])


def unhealthy_lines(store: Any, config: Any) -> List[str]:
    """What status would call failing, from the store: failed runs and failing channels."""
    from app.alerting.fanout import event_channels
    from app.commands.status_channels import channel_lines

    lines = ["{} failed: {}".format(kind, reason) for kind, _, reason in store.failures()]
    lines += ["{}: {}".format(name, detail) for name, status, detail in
              channel_lines(store, list(event_channels(config))) if status == "fail"]
    return lines


def heartbeat(store: Any, config: Any, envelope: Any, now: Optional[float] = None) -> bool:
    """Post the heartbeat when due; returns True when one was posted. The first run only starts the count."""
    from app.alerting import history
    from app.alerting.heartbeat import heartbeat_due, heartbeat_summary

    period = config.policy.heartbeat
    now = time.time() if now is None else now
    if period == "off":
        return False
    last = store.get(HEARTBEAT_LAST)
    if last is None:
        with store.transaction():
            store.put(HEARTBEAT_LAST, now)
        return False
    if not heartbeat_due(float(last), now, period):
        return False
    entries = list(history.read(store, since=float(last)))
    title, text = heartbeat_summary(entries, float(last), now, envelope.host, unhealthy_lines(store, config), period)
    subject = title[len("ssh_alert "):] if title.startswith("ssh_alert ") else title
    post_notice(store, config, envelope, subject, text, "heartbeat|{:.0f}".format(float(last)),
                lambda target: target.put(HEARTBEAT_LAST, now), urgent=False)
    return True


def ping(paths: Paths, ok: bool, reason: str) -> None:
    """Ping heartbeat_url after a cron run (never raises: a dead monitor must not stop alerting)."""
    try:
        from app.settings.config import load_config

        url = load_config(paths.config_file).policy.heartbeat_url
    except Exception:  # noqa: BLE001 - a broken config is reported by the run itself; /fail needs a URL
        return
    if not url:
        return
    from app.alerting.heartbeat import ping_request, redact_url
    from app.channels.base import HttpRequest
    from app.channels.http import TransportError, perform

    try:
        target, body = ping_request(url, ok, reason)
        reply = perform(HttpRequest("POST", target, (("Content-Type", "text/plain; charset=utf-8"),), body,
                                    (url,)), timeout=PING_TIMEOUT, deadline=2 * PING_TIMEOUT)
        problem = "" if 200 <= reply.status < 300 else "HTTP {}".format(reply.status)
    except (TransportError, ValueError) as error:
        problem = str(error)
    if problem:
        from app.alerting.context import oplog

        oplog(paths).warning(PING_FAILED.format(url=redact_url(url), reason=problem))


def cron_duties(paths: Paths, store: Any, config: Any, envelope: Any) -> bool:
    """The cron run's self-monitoring: the heartbeat when due; returns True when a notice was posted."""
    return heartbeat(store, config, envelope)
