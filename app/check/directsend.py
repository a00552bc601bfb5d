"""Sending without the store (a full disk, its reserve used up or never made), with the lock file as the record.

Each pending login (and a login the hook could not append, built from its environment) goes out by email and to
each push channel once, with the identity the dispatcher would give it (the same Message-ID and event id), one
by one, or as one digest when more than digest_after are pending. After each send the run mark
(app.logins.runmark) keeps the log position reached and the connections sent, in space the lock file already
has; the next run that can write the store takes them over (app.check.unrecorded.catch_up). Without the
store there is no per-channel retry: a push channel that fails misses those logins (logged), while email, when
alerts go by email, decides whether they count as sent.
"""

from __future__ import annotations

from app.logins import runmark
from app.logins.loginline import LoginRecord, parse_line
from app.logins.loginlog import Position, read_entries
from app.logins.statediff import is_repeat, plan
from app.system.files import open_regular_file
from app.system.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, List, Mapping, Optional, Tuple

    from app.check.render import Message

    from app.channels.base import Event, Outcome
    from app.check.policy import Decision
    from app.check.render import AlertContext, Envelope
    from app.settings.config import AlertPolicy, Config
    from app.store.outbox import Transport
    from app.store.store import Store
    from app.system.oplog import OperationalLog
    from app.system.paths import Paths

DIRECT_BATCH = 5000  # lines read in one run; the rest waits for the next


class Pending(Record):
    record: LoginRecord
    log_key: str  # "device:inode:end", or "unlogged:..." for a login built from the environment
    where: Optional[Position]  # the position after the line (None: not in the log)
    decision: "Decision"
    alert: bool  # not a repeat and the policy says to send it
    key_comment: Optional[str] = ""  # its key's comment in authorized_keys (None: in no key file; "": not known)


def alert_directly(paths: "Paths", store: "Store", mark: runmark.RunMark,
                   extra: Optional[bytes] = None) -> Optional[int]:
    """Alert each pending login (and extra) without writing the store, keeping what was sent in the run mark.
    Returns how many logins were sent, or None when not even the mark can be written (nothing is sent then:
    what cannot be recorded is never sent, so never repeated). Raises SendFailed when they could not be sent
    (they and the rest stay pending), OSError when the log cannot be read."""
    from app.check.context import host_name, oplog
    from app.store.eventstore import event_channels
    from app.check.fanout import channel_sender
    from app.check.render import Envelope
    from app.settings.config import load_config

    if not mark.writable():
        return None
    config = load_config(paths.config_file)
    items = _pending(paths, store, mark, config.policy, extra)
    chosen = [item for item in items if item.alert]
    senders = {name: channel_sender(name, config, paths) for name in event_channels(config)}
    envelope = Envelope(config.sender, config.recipients, host_name(config), _ehlo(store, config.policy.ehlo_name))
    email: Optional["Transport"] = None
    if config.emails and chosen:
        from app.check.context import transport

        email = transport(config, paths, envelope.mail_domain)
    log = oplog(paths)
    try:
        if len(chosen) > config.policy.digest_after:
            _send(email, senders, config, log, *_digest(chosen, envelope, config))
            _keep(mark, items)
            return len(chosen)
        done = 0
        for index, item in enumerate(items):
            if item.alert:
                _send(email, senders, config, log, *_one(item, envelope, config))
            _keep(mark, items[done:index + 1])
            done = index + 1
    finally:
        if email is not None:
            email.close()
    return len(chosen)


def _pending(paths: "Paths", store: "Store", mark: runmark.RunMark, alert_policy: "AlertPolicy",
             extra: Optional[bytes]) -> List[Pending]:
    """The lines after the furthest position known (the mark's, else the store's), and extra, decided."""
    from app.check import policy

    start = runmark.position(mark.mark, runmark.AHEAD) or store.position()
    recent = store.recent() + tuple(runmark.unrecorded(mark.mark))
    lines: List[Tuple[bytes, str, Optional[Position]]] = []
    for segment in plan(start, paths.login_log)[0]:
        with open_regular_file(segment.path, "rb") as handle:
            for entry in read_entries(handle, segment.start, include_partial=False):
                lines.append((entry.data, "{}:{}:{}".format(segment.device, segment.inode, entry.end),
                              Position(segment.device, segment.inode, entry.end, entry.anchor)))
                if len(lines) >= DIRECT_BATCH:
                    break
        if len(lines) >= DIRECT_BATCH:
            break
    items: List[Pending] = []
    for data, log_key, where in lines + ([(extra, "", None)] if extra is not None else []):
        record = parse_line(data)
        key, epoch = record.connection_key, record.epoch
        repeat = bool(key) and epoch is not None and is_repeat(recent, key, epoch)
        if key and epoch is not None and not repeat:
            recent += ((key, epoch),)
        decision = policy.decide_seen(record, store.seen(*policy.source_key(record)) if record.parsed else None,
                                      alert_policy)
        alert = not repeat and decision.email
        items.append(Pending(record, log_key or "unlogged:{}:{:.0f}".format(key, epoch or 0), where, decision, alert,
                             _key_comment(paths, store, record) if alert else ""))
    return items


def _key_comment(paths: "Paths", store: "Store", record: LoginRecord) -> Optional[str]:
    """The comment of the login's key in the account's key files, as the dispatcher finds it (None: in none of
    them); "" (no verdict) when there is no key or no key file can be read."""
    import pwd
    from pathlib import Path

    from app.watch.findings import OK
    from app.check.health import SSHD_TEXT
    from app.rules.keys import fingerprint
    from app.watch.keywatch import key_files, snapshot_keys

    if not record.extra("key"):
        return ""
    try:
        home = pwd.getpwnam(record.user).pw_dir if paths.system else str(paths.home)
    except (KeyError, ValueError):
        return ""
    snapshot = snapshot_keys(key_files(Path(home), str(store.get(SSHD_TEXT) or ""),
                                       record.user if paths.system else None))
    if not any(state["state"] == OK for state in snapshot["files"].values()):
        return ""
    entries = snapshot["keys"].get(fingerprint(record.extra("key")) or "")
    return str(entries[0]["comment"]) if entries else None


def _keep(mark: runmark.RunMark, items: List[Pending]) -> None:
    """Keep in the mark, in one write, the position after the last of items and the connections they sent."""
    where = next((item.where for item in reversed(items) if item.where is not None), None)
    pairs = [(item.record.connection_key, item.record.epoch) for item in items
             if item.alert and item.record.connection_key and item.record.epoch is not None]
    mark.keep_sent(where, pairs)


def _context(item: Pending) -> "AlertContext":
    from app.check.render import AlertContext

    decision = item.decision
    return AlertContext(key_comment=item.key_comment, new_ip=decision.new_ip, trusted=decision.trusted,
                        first_seen=decision.first_seen, last_seen=decision.last_seen, earlier=decision.earlier)


def _event(item: Pending, identity: str, host: str, emailed: bool) -> "Event":
    from app.store import history
    from app.check.decide import kind_of
    from app.check.events import login_event
    from app.rules.keys import fingerprint

    record = item.record
    key = "{} {}".format(record.extra("keytype") or "key", fingerprint(record.extra("key")) or "?") \
        if record.extra("key") else ""
    entry = history.HistoryEntry(
        time=record.when, epoch=record.epoch or 0.0, user=record.user, ip=record.ip, rdns="", methods=record.methods,
        key=key, key_comment=item.key_comment or "", kind=kind_of(record), outcome=history.EMAILED if emailed else history.ALERTED,
        new_ip=item.decision.new_ip, trusted=item.decision.trusted, log_key=item.log_key,
        raw="" if record.parsed else record.raw)
    return login_event(entry, identity, host)


def _one(item: Pending, envelope: "Envelope", config: "Config") -> Tuple[Optional["Message"], "Event"]:
    """(email message or None, event) of one login, with the dispatcher's identity."""
    from app.store import outbox
    from app.check.context import date_now
    from app.check.decide import login_identity
    from app.check.render import build_alert

    identity = login_identity(item.record, item.log_key)
    message = build_alert(item.record, envelope, date_now(), outbox.message_id(identity, "login", envelope.mail_domain),
                          context=_context(item), with_html=config.policy.html) if config.emails else None
    return message, _event(item, identity, envelope.host, config.emails)


def _digest(items: List[Pending], envelope: "Envelope", config: "Config") -> Tuple[Optional["Message"], "Event"]:
    """(email digest or None, digest event) of items, named by their first and last identities."""
    from app.store import outbox
    from app.check.context import date_now
    from app.check.decide import login_identity
    from app.check.events import digest_event
    from app.check.render import build_digest

    identities = [login_identity(item.record, item.log_key) for item in items]
    identity = "{}..{}".format(identities[0], identities[-1])
    message = build_digest([(item.record, _context(item)) for item in items], envelope, date_now(),
                           outbox.message_id(identity, "digest", envelope.mail_domain),
                           with_html=config.policy.html) if config.emails else None
    events = [_event(item, one, envelope.host, config.emails) for item, one in zip(items, identities)]
    return message, digest_event(events, envelope.host)


def _send(email: Optional["Transport"], senders: Mapping[str, Callable[["Event"], "Outcome"]], config: "Config",
          log: "OperationalLog", message: Optional["Message"], event: "Event") -> None:
    """Send message by email (when there is one) and event to every channel. Raises SendFailed when email
    failed, or every channel did where alerts do not go by email."""
    from app.store import outbox
    from app.channels.base import SENT
    from app.channels.delivery import DeliveryError

    if email is not None and message is not None:
        try:
            result = email.send(outbox.wire_bytes(message), list(config.recipients))
        except DeliveryError as error:
            raise outbox.SendFailed(str(error)) from None
        if result.deferred:
            raise outbox.SendFailed("deferred for {}".format("; ".join("{} ({})".format(*item)
                                                                     for item in result.deferred)))
    failed: List[str] = []
    for name, send in senders.items():
        try:
            outcome = send(event)
            if outcome.state != SENT:
                failed.append("{}: {}".format(name, outcome.detail))
        except Exception as error:  # one channel's fault must not stop the others on a full disk
            failed.append("{}: {}".format(name, error))
    for line in failed:
        log.error("sent without the store (full disk), not retried: " + line)
    if message is None and senders and len(failed) == len(senders):
        raise outbox.SendFailed("; ".join(failed))


def _ehlo(store: "Store", configured: str) -> str:
    """The EHLO name without writing the store: configured, else the one kept, else found now."""
    if configured:
        return configured
    cached = store.get("ehlo") or {}
    if cached.get("name"):
        return str(cached["name"])
    from app.channels.mailname import local_ehlo_name

    return local_ehlo_name()
