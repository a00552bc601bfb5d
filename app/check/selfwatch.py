"""What the cron run does beyond alerting logins, so that silence means something.

A heartbeat summary through every channel (daily or weekly), a dead man's switch ping on every cron run
(healthchecks.io style: the URL on success, URL/fail with the reason on failure), and one alert per
tamper or key change found (app.watch.watch). Each notice is posted in the transaction that records
what it reports, so it is sent once however many runs follow.
"""

import time
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

from app.store import outbox
from app.check.context import date_now
from app.check.events import notice_event, posted_identity
from app.check.health import HEARTBEAT_LAST, SSHD_CHECKED, SSHD_TEXT, WATCH
from app.system.paths import Paths

PING_TIMEOUT = 5.0
PING_FAILED = "heartbeat ping to {url} failed: {reason}"


class Notice(NamedTuple):
    subject: str
    text: str
    identity: str  # names what it reports; each posting adds a random part (events.posted_identity)
    urgent: bool = True
    also_to: Tuple[str, ...] = ()  # recipients beyond the configured ones (those a config change removed)


def post_notices(store: Any, config: Any, envelope: Any, notices: Sequence[Notice],
                 apply: Callable[[Any], None] = lambda store: None) -> List[str]:
    """Post notices by email (when alerts go by email) and through the channels, with apply's record, in one
    transaction: what they report is recorded exactly when they are queued. Returns each posting's identity."""
    from app.store.eventstore import add_events
    from app.check.render import build_notice

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


def post_notice(store: Any, config: Any, envelope: Any, subject: str, text: str, identity: str,
                apply: Callable[[Any], None] = lambda store: None, urgent: bool = True) -> None:
    """Post one notice (post_notices)."""
    post_notices(store, config, envelope, [Notice(subject, text, identity, urgent)], apply)


CHANNEL_WAITS = "channel_waits"
CHANNEL_REFUSED_TEXT = ("{label} refused alerts for good: {reply}. It gets none until this is fixed; then run: "
                        "ssh_alert.pyz test --channel {channel}")
CHANNEL_WAITS_TEXT = ("{label} {reply}. Alerts wait for it meanwhile; every other channel gets them now. "
                      "Check the service's limits, then run: ssh_alert.pyz test --channel {channel}")


def tell_refused(store: Any, config: Any, envelope: Any, address: str, reply: str, meta: str = "refused") -> None:
    """A recipient (meta "refused") or push channel ("channel_refused") refused alerts for good, or a channel asked
    to wait more than an hour (CHANNEL_WAITS): status says so until it works again; the others get one notice, by
    email and through the other channels (never through the channel it is about)."""
    from app.store.eventstore import skip_event
    from app.check.render import build_notice, build_refused_notice

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

    def record(target: Any) -> None:
        if meta != "refused":  # the channel it is about would refuse it too, or be told what it already said
            skip_event(target, event["id"], address)

    outbox.post(store, notice, config.recipients, "notice", outbox.Record(record), [(event, True, "")])


def unhealthy_lines(store: Any, config: Any) -> List[str]:
    """What status would call failing, from the store: failed runs and failing channels."""
    from app.store.eventstore import event_channels
    from app.check.health import channel_lines

    lines = ["{} failed: {}".format(kind, reason) for kind, _, reason in store.failures()]
    lines += ["{}: {}".format(name, detail) for name, status, detail in
              channel_lines(store, list(event_channels(config))) if status == "fail"]
    return lines


def heartbeat(store: Any, config: Any, envelope: Any, now: Optional[float] = None) -> bool:
    """Post the heartbeat when due; returns True when one was posted. The first run only starts the count."""
    from app.store import history
    from app.watch.heartbeat import heartbeat_due, heartbeat_summary, notice_subject

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
    subject = notice_subject(title, envelope.host)  # the notice's subject names the host itself
    post_notice(store, config, envelope, subject, text, "heartbeat|{:.0f}".format(float(last)),
                lambda target: target.put(HEARTBEAT_LAST, now), urgent=False)
    return True


def ping(paths: Paths, ok: bool, reason: str) -> None:
    """Ping heartbeat_url after a cron run (never raises: a dead monitor must not stop alerting)."""
    try:
        from app.settings.config import load_config

        config = load_config(paths.config_file)
    except Exception:  # noqa: BLE001 - a broken config is reported by the run itself; /fail needs a URL
        return
    url = config.policy.heartbeat_url
    if not url:
        return
    if ok:  # the run worked, but a channel failing for good is unhealthy too: the monitor should know
        from app.store.store import opened

        try:
            with opened(paths.store_file, read_only=True) as store:
                problems = unhealthy_lines(store, config)
        except Exception:  # noqa: BLE001 - the ping must go out whatever the store says
            problems = []
        if problems:
            ok, reason = False, "\n".join(problems)
    from app.watch.heartbeat import ping_request, redact_url
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
        from app.check.context import oplog

        oplog(paths).warning(PING_FAILED.format(url=redact_url(url), reason=problem))


SSHD_EVERY = 3600.0
RECENT_METHODS = 5
CRON_LATE = 600.0
CRON_LATE_TOLD = "cron_late_told"  # meta: the last_cron value the late notice was posted for  # a hook-started check that finds no cron run for this long looks at why
CRON_STALE_SUBJECT = "cron has not run ssh_alert since {since}"
CRON_STALE_TEXT = ("ssh_alert's cron run, which retries alerts and watches for tampering, last ran {since}. The cron "
                   "line may be gone (crontab -r) or the cron daemon stopped. Restore it: run ~/bin/ssh_alert.pyz "
                   "install, then ssh_alert.pyz status.")


def watch_changes(paths: Paths, store: Any, config: Any, envelope: Any, now: Optional[float] = None) -> int:
    """Compare keys, hooks, cron line, pyz and sshd settings with the last run; post one notice per change,
    recorded with the new snapshot in one transaction. Returns how many were posted."""
    from app.store import history
    from app.check.reset import BASELINE_RESET, baseline_notice
    from app.watch.integrity import Readings
    from app.watch.watch import installed, sshd_text, watch
    from app.install.crontab import read_crontab

    now = time.time() if now is None else now
    text = store.get(SSHD_TEXT)
    fresh = text is None or not 0 <= now - float(store.get(SSHD_CHECKED) or 0) < SSHD_EVERY
    if fresh:
        text = sshd_text()
    crontab = read_crontab()
    recent = [entry.methods for entry in (history.from_json(line) for line in store.latest_history(RECENT_METHODS))
              if entry is not None and entry.user]
    previous = store.get(WATCH)
    pyz, recorded_hash = installed(paths)
    snapshot, findings = watch(paths, previous, Readings(crontab.text if crontab.available else None, pyz,
                                                         recorded_hash, recent, str(text)), now)

    def record(target: Any) -> None:
        target.put(WATCH, snapshot)
        if fresh:
            target.put(SSHD_TEXT, text)
            target.put(SSHD_CHECKED, now)

    notices = [Notice(finding.title, finding.text, finding.key, finding.urgent) for finding in findings]
    reset_why = store.get(BASELINE_RESET)
    if reset_why and not previous:  # the store was lost: the current keys are a new baseline, and told as such
        subject, text = baseline_notice(snapshot["keys"].get("keys") or {}, str(reset_why))
        notices.append(Notice(subject, text, "baseline|{:.0f}".format(now)))
    if notices or snapshot != previous or fresh:
        post_notices(store, config, envelope, notices, lambda target: (record(target), target.put(BASELINE_RESET, None)))
    return len(notices)


def cron_late(paths: Paths, store: Any, config: Any, envelope: Any, now: Optional[float] = None) -> int:
    """From a hook-started check: when cron has not run for CRON_LATE seconds, say so once and look for why."""
    now = time.time() if now is None else now
    last = store.get("last_cron")
    if last is None or 0 <= now - float(last) < CRON_LATE or store.get(CRON_LATE_TOLD) == last:
        return 0
    since = time.strftime("%Y-%m-%d %H:%M", time.localtime(float(last)))
    post_notices(store, config, envelope, [Notice(CRON_STALE_SUBJECT.format(since=since),
                                                  CRON_STALE_TEXT.format(since=since), "cron-late|{:.0f}".format(last))],
                 lambda target: target.put(CRON_LATE_TOLD, last))
    return 1 + watch_changes(paths, store, config, envelope, now)


CONFIG_SEEN = "config_seen"  # meta: where alerts went and what decided them, as the last cron run read the config
CONFIG_CHANGED = "settings changed: {keys}"
CONFIG_CHANGED_TEXT = ("ssh_alert's configuration ({path}) changed since the last cron run:\n{changes}\n\nIf you "
                       "did not change it, someone with this account did: alerts may now go elsewhere or be skipped. "
                       "This notice also goes to the recipients the change removed.")
LOCATION_KEYS = ("url", "chat_id", "api_base", "homeserver", "room_id", "user_key", "format")


def destinations(config: Any) -> Dict[str, Any]:
    """What decides where alerts go and which are sent (no secret in it): compared run to run (pure)."""
    policy = config.policy
    return {"to": list(config.recipients), "channels": list(config.channels), "method": config.method,
            "smtp host": config.smtp.host if config.smtp is not None else "",
            "channel settings": {name: {key: str(value) for key, value in sorted(options.items())
                                        if key in LOCATION_KEYS} for name, options in config.channel_options.items()},
            "notify": policy.notify, "trusted": policy.trusted_text, "trusted_action": policy.trusted_action,
            "syslog": bool(policy.syslog), "heartbeat": policy.heartbeat, "hook_wait": policy.hook_wait,
            "rules": [rule.text for rule in config.rules], **_log_destinations(policy)}


def _log_destinations(policy: Any) -> Dict[str, Any]:
    """journald and a remote syslog target, named only when set: a config from before them compares equal."""
    named: Dict[str, Any] = {}
    if policy.journald:
        named["journald"] = True
    if policy.syslog_target:
        named["syslog target"] = policy.syslog_target
    return named


def config_change(previous: Optional[Dict[str, Any]], current: Dict[str, Any], path: Any) -> Optional[Notice]:
    """The notice for a configuration change since the last run (None: first run, or nothing changed)."""
    if not isinstance(previous, dict) or previous == current:
        return None
    changed = [key for key in list(current) + [key for key in previous if key not in current]
               if previous.get(key) != current.get(key)]  # a key gone (journald turned off) is a change too
    if not changed:
        return None
    import hashlib
    import json

    lines = ["  {}: {} -> {}".format(key, json.dumps(previous.get(key), ensure_ascii=False, sort_keys=True),
                                     json.dumps(current.get(key), ensure_ascii=False, sort_keys=True))
             for key in changed]
    identity = "config|" + hashlib.sha256(json.dumps([previous, current], sort_keys=True).encode()).hexdigest()[:32]
    return Notice(CONFIG_CHANGED.format(keys=", ".join(changed)),
                  CONFIG_CHANGED_TEXT.format(path=path, changes="\n".join(lines)), identity, True,
                  tuple(address for address in previous.get("to") or () if isinstance(address, str)))


def watch_config(store: Any, config: Any, envelope: Any) -> Optional[Notice]:
    """Alert once when the settings that decide where alerts go changed; the old recipients are told too.
    Returns the notice posted (None: no change)."""
    current = destinations(config)
    previous = store.get(CONFIG_SEEN)
    if previous == current:
        return None
    notice = config_change(previous, current, config.path)
    posted = post_notices(store, config, envelope, [notice] if notice else [],
                          lambda target: target.put(CONFIG_SEEN, current))
    return notice._replace(identity=posted[0]) if notice else None  # as posted: an old-way copy shares its ids


def cron_duties(paths: Paths, store: Any, config: Any, envelope: Any) -> bool:
    """The cron run's self-monitoring: tamper, key and config changes, the heartbeat when due; returns True when
    a notice was posted."""
    from app.check.context import oplog
    from app.check.oldroute import keep_route

    changes = watch_changes(paths, store, config, envelope)
    notice = watch_config(store, config, envelope)
    changes += 1 if notice else 0
    keep_route(paths, store, config, envelope, oplog(paths), notice)  # at once, the old way; the outbox: the new way
    return bool(heartbeat(store, config, envelope) or changes)
