"""Notices about ssh_alert itself, posted to the outbox: by email (when alerts go by email) and to every channel.

Each notice is posted in the transaction that records what it reports, so it is sent once however many runs
follow. The run's Sender (app.check.sender) sends them with everything else in the outbox.
"""

from __future__ import annotations

import time

from app.store import outbox
from app.check.context import RunParts, date_now
from app.check.events import notice_event, posted_identity
from app.system.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, List, Sequence, Tuple

    from app.store.store import Store

CHANNEL_WAITS = "channel_waits"
CHANNEL_REFUSED_TEXT = ("{label} refused alerts for good: {reply}. It gets none until this is fixed; then run: "
                        "ssh_alert.pyz test --channel {channel}")
CHANNEL_WAITS_TEXT = ("{label} {reply}. Alerts wait for it meanwhile; every other channel gets them now. "
                      "Check the service's limits, then run: ssh_alert.pyz test --channel {channel}")


class Notice(Record):
    subject: str
    text: str
    identity: str  # names what it reports; each posting adds a random part (events.posted_identity)
    urgent: bool = True
    also_to: Tuple[str, ...] = ()  # recipients beyond the configured ones (those a config change removed)


def _nothing(store: "Store") -> None:
    pass


def post_notices(parts: RunParts, notices: Sequence[Notice], apply: Callable[["Store"], None] = _nothing) -> List[str]:
    """Post notices with apply's record in one transaction: what they report is recorded exactly when they are
    queued. Returns each posting's identity."""
    from app.store.eventstore import add_events
    from app.check.render import build_notice

    store, config, envelope = parts.store, parts.config, parts.envelope
    posted = []
    with store.transaction():
        for notice in notices:
            identity = posted_identity(notice.identity)
            posted.append(identity)
            if config.emails:
                message = build_notice(envelope, notice.subject, notice.text, [], date_now(),
                                       outbox.message_id(identity, "notice", envelope.mail_domain))
                extra = tuple(address for address in notice.also_to if address not in config.recipients)
                outbox.enqueue(store, message, tuple(config.recipients) + extra,
                               outbox.ALSO_STORED if extra else "notice", 0, time.time())
            add_events(store, [(notice_event("ssh_alert on {}: {}".format(envelope.host, notice.subject), notice.text,
                                             identity, envelope.host, notice.urgent), True, "")])
        apply(store)
    return posted


def tell_refused(parts: RunParts, address: str, reply: str, meta: str = "refused") -> None:
    """A recipient (meta "refused") or push channel ("channel_refused") refused alerts for good, or a channel asked
    to wait more than an hour (CHANNEL_WAITS): status says so until it works again; the others get one notice, by
    email and through the other channels (never through the channel it is about)."""
    from app.store.eventstore import skip_event
    from app.check.render import build_notice, build_refused_notice

    store, config, envelope = parts.store, parts.config, parts.envelope
    known = store.get(meta, {}) or {}
    first = address not in known
    with store.transaction():
        store.put(meta, dict(known, **{address: reply}))
    if not first:
        return
    identity = posted_identity("{}|{}|{}".format(meta, address, reply))
    label = address if meta == "refused" else "the {} channel".format(address)
    message_id = outbox.message_id(identity, "notice", envelope.mail_domain)
    if meta == CHANNEL_WAITS:
        subject = "{} asks to wait".format(label)
        text = CHANNEL_WAITS_TEXT.format(label=label, reply=reply, channel=address)
        notice = build_notice(envelope, subject, text, [], date_now(), message_id) if config.emails else None
    else:
        subject = "{} refused".format(label)
        text = CHANNEL_REFUSED_TEXT.format(label=label, reply=reply, channel=address if meta != "refused" else "NAME")
        notice = build_refused_notice(envelope, label, reply, date_now(), message_id) if config.emails else None
    event = notice_event("ssh_alert on {}: {}".format(envelope.host, subject), text, identity, envelope.host)

    def record(target: "Store") -> None:
        if meta != "refused":  # the channel it is about would refuse it too, or be told what it already said
            skip_event(target, event["id"], address)

    outbox.post(store, notice, config.recipients, "notice", outbox.Record(record, events=[(event, True, "")]))
