"""What the cron run does beyond alerting logins, so that silence means something.

A heartbeat summary through every channel (daily or weekly), a dead man's switch ping on every cron run
(healthchecks.io style: the URL on success, URL/fail with the reason on failure), and one alert per
tamper or key change found (app.watch.watch). Each notice is posted in the transaction that records
what it reports, so it is sent once however many runs follow.
"""

from __future__ import annotations

import time

from app.check.context import RunParts
from app.check.health import HEARTBEAT_LAST, SSHD_CHECKED, SSHD_TEXT, WATCH
from app.check.notices import Notice, post_notices
from app.system.paths import Paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

    from app.settings.config import AlertPolicy, Config
    from app.store.store import Store

PING_TIMEOUT = 5.0
PING_FAILED = "heartbeat ping to {url} failed: {reason}"


def unhealthy_lines(store: "Store", config: "Config") -> List[str]:
    """What status would call failing, from the store: failed runs and failing channels."""
    from app.store.eventstore import event_channels
    from app.check.health import channel_lines

    lines = ["{} failed: {}".format(kind, reason) for kind, _, reason in store.failures()]
    lines += ["{}: {}".format(name, detail) for name, status, detail in
              channel_lines(store, list(event_channels(config))) if status == "fail"]
    return lines


def heartbeat(parts: RunParts, now: Optional[float] = None) -> bool:
    """Post the heartbeat when due; returns True when one was posted. The first run only starts the count."""
    from app.store import history
    from app.watch.heartbeat import heartbeat_due, heartbeat_summary, notice_subject

    store, host = parts.store, parts.envelope.host
    period = parts.config.policy.heartbeat
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
    title, text = heartbeat_summary(entries, float(last), now, host, unhealthy_lines(store, parts.config), period)
    subject = notice_subject(title, host)  # the notice's subject names the host itself
    post_notices(parts, [Notice(subject, text, "heartbeat|{:.0f}".format(float(last)), urgent=False)],
                 lambda target: target.put(HEARTBEAT_LAST, now))
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


def watch_changes(parts: RunParts, now: Optional[float] = None) -> int:
    """Compare keys, hooks, cron line, pyz and sshd settings with the last run; post one notice per change,
    recorded with the new snapshot in one transaction. Returns how many were posted."""
    from app.store import history
    from app.check.reset import BASELINE_RESET, baseline_notice
    from app.watch.integrity import Readings
    from app.watch.watch import installed, sshd_text, watch
    from app.install.crontab import read_crontab

    paths, store = parts.paths, parts.store
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

    def record(target: "Store") -> None:
        target.put(WATCH, snapshot)
        if fresh:
            target.put(SSHD_TEXT, text)
            target.put(SSHD_CHECKED, now)

    notices = [Notice(finding.title, finding.text, finding.key, finding.urgent) for finding in findings]
    reset_why = store.get(BASELINE_RESET)
    if reset_why and not previous:  # the store was lost: the current keys are a new baseline, and told as such
        subject, body = baseline_notice(snapshot["keys"].get("keys") or {}, str(reset_why))  # not text: record's
        notices.append(Notice(subject, body, "baseline|{:.0f}".format(now)))

    def record_reset(target: "Store") -> None:
        record(target)
        target.put(BASELINE_RESET, None)

    if notices or snapshot != previous or fresh:
        post_notices(parts, notices, record_reset)
    return len(notices)


def cron_late(parts: RunParts, now: Optional[float] = None) -> int:
    """From a hook-started check: when cron has not run for CRON_LATE seconds, say so once and look for why."""
    store = parts.store
    now = time.time() if now is None else now
    last = store.get("last_cron")
    if last is None or 0 <= now - float(last) < CRON_LATE or store.get(CRON_LATE_TOLD) == last:
        return 0
    since = time.strftime("%Y-%m-%d %H:%M", time.localtime(float(last)))
    post_notices(parts, [Notice(CRON_STALE_SUBJECT.format(since=since), CRON_STALE_TEXT.format(since=since),
                                "cron-late|{:.0f}".format(last))],
                 lambda target: target.put(CRON_LATE_TOLD, last))
    return 1 + watch_changes(parts, now)


CONFIG_SEEN = "config_seen"  # meta: where alerts went and what decided them, as the last cron run read the config
CONFIG_CHANGED = "settings changed: {keys}"
CONFIG_CHANGED_TEXT = ("ssh_alert's configuration ({path}) changed since the last cron run:\n{changes}\n\nIf you "
                       "did not change it, someone with this account did: alerts may now go elsewhere or be skipped. "
                       "This notice also goes to the recipients the change removed.")
LOCATION_KEYS = ("url", "chat_id", "api_base", "homeserver", "room_id", "user_key", "format")


def destinations(config: "Config") -> Dict[str, Any]:
    """What decides where alerts go and which are sent (no secret in it): compared run to run (pure)."""
    policy = config.policy
    return {"to": list(config.recipients), "channels": list(config.channels), "method": config.method,
            "smtp host": config.smtp.host if config.smtp is not None else "",
            "channel settings": {name: {key: str(value) for key, value in sorted(options.items())
                                        if key in LOCATION_KEYS} for name, options in config.channel_options.items()},
            "notify": policy.notify, "trusted": policy.trusted_text, "trusted_action": policy.trusted_action,
            "syslog": bool(policy.syslog), "heartbeat": policy.heartbeat, "hook_wait": policy.hook_wait,
            "rules": [rule.text for rule in config.rules], **_log_destinations(policy)}


def _log_destinations(policy: "AlertPolicy") -> Dict[str, Any]:
    """journald and a remote syslog target, named only when set: a config from before them compares equal."""
    named: Dict[str, Any] = {}
    if policy.journald:
        named["journald"] = True
    if policy.syslog_target:
        named["syslog target"] = policy.syslog_target
    return named


def config_change(previous: Optional[Dict[str, Any]], current: Dict[str, Any], path: object) -> Optional[Notice]:
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


def watch_config(parts: RunParts) -> Optional[Notice]:
    """Alert once when the settings that decide where alerts go changed; the old recipients are told too.
    Returns the notice posted (None: no change)."""
    current = destinations(parts.config)
    previous = parts.store.get(CONFIG_SEEN)
    if previous == current:
        return None
    notice = config_change(previous, current, parts.config.path)
    posted = post_notices(parts, [notice] if notice else [], lambda target: target.put(CONFIG_SEEN, current))
    return notice._replace(identity=posted[0]) if notice else None  # as posted: an old-way copy shares its ids


def cron_duties(parts: RunParts) -> bool:
    """The cron run's self-monitoring: tamper, key and config changes, the heartbeat when due; returns True when
    a notice was posted."""
    from app.check.oldroute import keep_route

    changes = watch_changes(parts)
    notice = watch_config(parts)
    changes += 1 if notice else 0
    keep_route(parts, notice)  # at once, the old way; the outbox: the new way
    return bool(heartbeat(parts) or changes)
