"""A change of where alerts go is told through the delivery that worked before it.

Someone with the account can point the config at a silent transport (``method = sendmail`` with
``sendmail_path = /bin/true``); a notice sent only the new way would vanish. The cron run keeps the last
config that delivered (its text, in the store, as private as the config file). When the delivery route
changes, the notice goes by email through the old route too; only once the old route has taken it does the
new config become the one kept. Until then every cron run tries again (same Message-ID).
"""

from __future__ import annotations

import hashlib
import json

from app.system.paths import Paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

    from app.check.context import RunParts
    from app.check.notices import Notice
    from app.check.render import Envelope
    from app.settings.config import Config
    from app.store.store import Store

DELIVERING = "config_delivering"  # meta: {"text": the config that last delivered, "route": route(it)}
TOLD = "config_route_told"  # meta: the identity of the last route change the old route took
PENDING = "config_route_pending"  # meta: the notice to send the old way until it takes it
SUBJECT = "delivery settings changed: {keys}"
TEXT = ("ssh_alert's delivery settings ({path}) changed:\n{changes}\n\nThis notice goes the way alerts went before "
        "the change, as well as the new way. If you did not change it, someone with this account did: alerts "
        "may now go nowhere. Restore the settings (ssh_alert.pyz setup), then treat the account as compromised.")
OLD_ROUTE_FAILED = "could not tell the delivery change through the old route: {reason}; the next cron run retries"
TRANSPORT_KEYS = ("method", "sendmail_path", "smtp host", "smtp port", "smtp user")
UNNAMED = ("sendmail_path", "smtp port", "smtp user")  # route keys selfwatch.destinations leaves out


def route(config: "Config") -> Dict[str, Any]:
    """What decides how an alert leaves (no secret value in it beside channel URLs): compared run to run (pure)."""
    smtp = config.smtp
    return {"to": list(config.recipients), "method": config.method, "sendmail_path": config.sendmail_path,
            "smtp host": smtp.host if smtp is not None else "", "smtp port": smtp.port if smtp is not None else 0,
            "smtp user": smtp.user if smtp is not None else "", "channels": list(config.channels),
            "channel settings": {name: {key: str(value) for key, value in sorted(options.items())
                                        if key in ("url", "chat_id", "api_base", "homeserver", "room_id", "user_key")}
                                 for name, options in config.channel_options.items()}}


def describe_changes(old: Dict[str, Any], new: Dict[str, Any]) -> List[str]:
    """One line per changed route key; channel URLs are named, never shown (pure)."""
    lines = []
    for key in new:
        if old.get(key) == new[key]:
            continue
        if key == "channel settings":
            names = sorted(set(old.get(key) or {}) | set(new[key]))
            changed = [name for name in names if (old.get(key) or {}).get(name) != new[key].get(name)]
            lines.append("  channel settings changed: {}".format(", ".join(changed)))
        else:
            lines.append("  {}: {} -> {}".format(key, json.dumps(old.get(key)), json.dumps(new[key])))
    return lines


def changed_keys(old: Dict[str, Any], new: Dict[str, Any]) -> List[str]:
    return [key for key in new if old.get(key) != new[key]]


def identity_of(old: Dict[str, Any], new: Dict[str, Any]) -> str:
    material = json.dumps([old, new], sort_keys=True).encode("utf-8")
    return "route|" + hashlib.sha256(material).hexdigest()[:32]


def keep_route(parts: "RunParts", notice: Optional["Notice"] = None) -> int:
    """The cron run's step: keep the delivering config, or tell a route change the old way first.

    notice: the settings-changed notice this run posted the new way (selfwatch.Notice), sent the old way as the
    same message (same Message-ID: a reader sees one); without it (a later retry) the one kept from then.
    Returns 1 when the old route took a notice now. Never raises for a failed old route (it is retried)."""
    paths, store, config = parts.paths, parts.store, parts.config
    text = _config_text(paths)
    if text is None:
        return 0
    current = route(config)
    kept = store.get(DELIVERING)
    if not isinstance(kept, dict) or not isinstance(kept.get("route"), dict) or not isinstance(kept.get("text"), str):
        _keep(store, text, current)
        return 0
    if kept["route"] == current:
        if kept["text"] != text:
            _keep(store, text, current)  # a change that does not touch delivery
        return 0
    identity = identity_of(kept["route"], current)
    told = 0
    if store.get(TOLD) != identity:
        pending = store.get(PENDING)
        if not (isinstance(pending, dict) and pending.get("route") == identity):
            changed = changed_keys(kept["route"], current)
            if notice is None or any(key in changed for key in UNNAMED):  # the settings watch does not name these
                notice = _post_new_way(parts, identity, SUBJECT.format(
                    keys=", ".join(changed_keys(kept["route"], current))), TEXT.format(
                    path=config.path, changes="\n".join(describe_changes(kept["route"], current))))
            pending = {"route": identity, "identity": notice.identity, "subject": notice.subject, "text": notice.text}
            with store.transaction():
                store.put(PENDING, pending)
        problem = _send_old_way(paths, kept, pending, parts.envelope, current)
        if problem is not None:
            parts.log.warning(OLD_ROUTE_FAILED.format(reason=problem))
            return 0
        told = 1
    with store.transaction():
        store.put(TOLD, identity)
        store.put(DELIVERING, {"text": text, "route": current})
    return told


def _post_new_way(parts: "RunParts", identity: str, subject: str, text: str) -> "Notice":
    """Post the route notice the new way too (outbox and channels); returns it with the identity it was posted as."""
    from app.check.notices import Notice, post_notices

    notice = Notice(subject, text, identity)
    (posted,) = post_notices(parts, [notice])
    return notice._replace(identity=posted)


def _keep(store: "Store", text: str, current: Dict[str, Any]) -> None:
    with store.transaction():
        store.put(DELIVERING, {"text": text, "route": current})


def _config_text(paths: Paths) -> Optional[str]:
    try:
        return paths.config_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _send_old_way(paths: Paths, kept: Dict[str, Any], pending: Dict[str, str], envelope: "Envelope",
                  current: Dict[str, Any]) -> Optional[str]:
    """Send the notice the old way: by email through the kept config's transport to its recipients, and through
    each of its push channels the change removed or re-pointed. Returns None when one of them took it (or the
    old way has nothing the change touched), else what went wrong with each."""
    from app.errors import UserError
    from app.settings.config import parse_config

    try:
        old = parse_config(kept["text"], paths.config_file)
    except UserError as error:
        return error.message.splitlines()[0]
    outcomes: List[Optional[str]] = []  # None: that way took it
    # Through the same mail transport the new config's notice already reaches the old recipients (also_to).
    transport_changed = any(kept["route"].get(key) != current.get(key) for key in TRANSPORT_KEYS)
    if old.emails and old.recipients and transport_changed:
        outcomes.append(_email_old_way(paths, old, pending, envelope))
    for name in _channels_touched(old, kept["route"], current):
        problem = _push_old_way(paths, old, name, pending, envelope)
        outcomes.append(None if problem is None else "{}: {}".format(name, problem))
    if not outcomes or None in outcomes:
        return None
    return "; ".join(str(problem) for problem in outcomes)


def _channels_touched(old: "Config", before: Dict[str, Any], after: Dict[str, Any]) -> List[str]:
    """The old config's push channels the change removed or whose destination it changed (pure)."""
    from app.store.eventstore import event_channels

    settings_before, settings_after = before.get("channel settings") or {}, after.get("channel settings") or {}
    return [name for name in event_channels(old) if name in settings_before or name in (before.get("channels") or [])
            if name not in (after.get("channels") or []) or settings_before.get(name) != settings_after.get(name)]


def _email_old_way(paths: Paths, old: "Config", pending: Dict[str, str], envelope: "Envelope") -> Optional[str]:
    from app.check import context
    from app.store import outbox
    from app.check.render import Envelope, build_notice
    from app.channels.delivery import DeliveryError
    from app.errors import UserError

    old_envelope = Envelope(old.sender, old.recipients, envelope.host, envelope.mail_domain)
    message = build_notice(old_envelope, str(pending["subject"]), str(pending["text"]), [], context.date_now(),
                           outbox.message_id(str(pending["identity"]), "notice", envelope.mail_domain))
    transport = context.transport(old, paths, envelope.mail_domain)
    try:
        result = transport.send(outbox.wire_bytes(message), list(old.recipients))
    except (DeliveryError, UserError, OSError) as error:
        return getattr(error, "message", None) or str(error)
    finally:
        transport.close()
    if not result.accepted:
        return "no recipient accepted it: " + "; ".join("{} ({})".format(*item) for item in result.refused)
    return None


def _push_old_way(paths: Paths, old: "Config", name: str, pending: Dict[str, str],
                  envelope: "Envelope") -> Optional[str]:
    from app.check.events import notice_event
    from app.check.fanout import channel_sender
    from app.channels.base import SENT
    from app.errors import UserError

    event = notice_event("ssh_alert on {}: {}".format(envelope.host, pending["subject"]), str(pending["text"]),
                         str(pending["identity"]), envelope.host)
    try:
        outcome = channel_sender(name, old, paths)(event)
    except (UserError, OSError, ValueError) as error:
        return getattr(error, "message", None) or str(error)
    return None if outcome.state == SENT else outcome.detail or outcome.state
