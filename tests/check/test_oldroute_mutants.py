"""Pins app/check/oldroute.py where mutants survived: the route compared run to run, the lines and keys that
name a change, the change's identity, which old channels are told, and the cron step's stored state and
notice text (real SQLite; the old mail transport and push sender are recorded fakes: no network)."""

import email
import email.policy
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import pytest

from app.channels.base import RETRY, SENT, Outcome
from app.channels.delivery import DeliveryError, SendResult
from app.check import context, fanout
from app.check.context import RunParts
from app.check.events import event_id
from app.check.notices import Notice
from app.check.oldroute import (DELIVERING, OLD_ROUTE_FAILED, PENDING, SUBJECT, TEXT, TOLD, _channels_touched,
                                _send_old_way, changed_keys, describe_changes, identity_of, keep_route, route)
from app.check.render import Envelope
from app.settings.config import Config, parse_config
from app.store import outbox
from app.store.store import Store
from app.system.paths import Paths
from support.stores import store  # noqa: F401  (the fixture: the store at the account's own place)

OWNER = """[alert]
to = owner@example.com, second@example.com
from = ssh-alert@example.com
method = sendmail
sendmail_path = /usr/sbin/sendmail
host_label = web1.example.com
channels = email, ntfy, telegram, matrix, pushover
[ntfy]
url = https://ntfy.example.com/alerts
priority = high
[telegram]
chat_id = 42
[matrix]
homeserver = https://matrix.example.org
room_id = !room:example.org
[pushover]
user_key = ukey
"""
SMTP = """[alert]
to = owner@example.com
from = ssh-alert@example.com
method = smtp
host_label = web1.example.com
[smtp]
host = mail.example.com
port = 2525
user = bob
security = starttls
"""
MOVED = """[alert]
to = owner@example.com, second@example.com
from = ssh-alert@example.com
method = smtp
host_label = web1.example.com
channels = email, ntfy, telegram, gotify
[ntfy]
url = https://intruder.example.net/alerts
[telegram]
chat_id = 42
[gotify]
url = https://gotify.example.net
[smtp]
host = evil.example.net
"""
ENVELOPE = Envelope("ssh-alert@example.com", ("owner@example.com",), "web1.example.com", "web1.example.com")


def parsed(text: str) -> Config:
    return parse_config(text, Path("/nonexistent/config.ini"))


class Log:
    def __init__(self) -> None:
        self.warnings: List[str] = []

    def warning(self, text: str) -> None:
        self.warnings.append(text)


class Transport:
    """Records what the old route's mail transport was given; answers with result or raises error."""

    def __init__(self) -> None:
        self.sent: List[Tuple[bytes, List[str]]] = []
        self.result = SendResult(accepted=("owner@example.com",))
        self.error: Optional[Exception] = None
        self.closed = 0
        self.configs: List[Config] = []

    def send(self, wire: bytes, recipients: List[str]) -> SendResult:
        self.sent.append((wire, recipients))
        if self.error is not None:
            raise self.error
        return self.result

    def close(self) -> None:
        self.closed += 1


class Pushes:
    """Records events the old config's push channels were given."""

    def __init__(self) -> None:
        self.sent: List[Tuple[str, Config, Dict[str, Any]]] = []
        self.outcome = Outcome(SENT)
        self.error: Optional[Exception] = None


@pytest.fixture
def transport(monkeypatch: pytest.MonkeyPatch) -> Transport:
    fake = Transport()

    def opened(config: Config, paths: Paths, host: str) -> Transport:
        fake.configs.append(config)
        return fake

    monkeypatch.setattr(context, "transport", opened)
    return fake


@pytest.fixture
def pushes(monkeypatch: pytest.MonkeyPatch) -> Pushes:
    fake = Pushes()

    def sender(name: str, config: Config, paths: Paths) -> Any:
        def send(event: Dict[str, Any]) -> Outcome:
            fake.sent.append((name, config, event))
            if fake.error is not None:
                raise fake.error
            return fake.outcome
        return send

    monkeypatch.setattr(fanout, "channel_sender", sender)
    return fake


def step(paths: Paths, store: Store, text: str, log: Log, notice: Optional[Notice] = None) -> int:
    paths.config_dir.mkdir(parents=True, exist_ok=True)
    paths.config_file.write_text(text, encoding="utf-8")
    config = parse_config(text, paths.config_file)
    return keep_route(RunParts(paths, store, config, ENVELOPE, log), notice)  # type: ignore[arg-type]


def outbox_count(store: Store) -> int:
    return int(store.connection.execute("SELECT count(*) FROM outbox").fetchone()[0])


def test_route_of_a_sendmail_config_is_every_delivery_key_and_only_the_channels_destinations() -> None:
    assert route(parsed(OWNER)) == {
        "to": ["owner@example.com", "second@example.com"], "method": "sendmail",
        "sendmail_path": "/usr/sbin/sendmail", "smtp host": "", "smtp port": 0, "smtp user": "",
        "channels": ["email", "ntfy", "telegram", "matrix", "pushover"],
        "channel settings": {"ntfy": {"url": "https://ntfy.example.com/alerts"},
                             "telegram": {"api_base": "https://api.telegram.org", "chat_id": "42"},
                             "matrix": {"homeserver": "https://matrix.example.org", "room_id": "!room:example.org"},
                             "pushover": {"api_base": "https://api.pushover.net", "user_key": "ukey"}}}


def test_route_of_an_smtp_config_names_its_host_port_and_user() -> None:
    assert route(parsed(SMTP)) == {
        "to": ["owner@example.com"], "method": "smtp", "sendmail_path": "", "smtp host": "mail.example.com",
        "smtp port": 2525, "smtp user": "bob", "channels": ["email"], "channel settings": {}}


def test_describe_changes_shows_changed_values_as_json_and_names_changed_channels_without_their_urls() -> None:
    old = route(parsed(OWNER))
    new = route(parsed(MOVED))
    assert describe_changes(old, new) == [
        '  method: "sendmail" -> "smtp"',
        '  sendmail_path: "/usr/sbin/sendmail" -> ""',
        '  smtp host: "" -> "evil.example.net"',
        '  smtp port: 0 -> 587',
        '  channels: ["email", "ntfy", "telegram", "matrix", "pushover"] -> ["email", "ntfy", "telegram", "gotify"]',
        "  channel settings changed: gotify, matrix, ntfy, pushover"]
    assert changed_keys(old, new) == ["method", "sendmail_path", "smtp host", "smtp port", "channels", "channel settings"]
    assert describe_changes(old, old) == [] and changed_keys(old, old) == []


def test_describe_changes_of_a_route_kept_without_channel_settings_names_every_new_channel() -> None:
    new = route(parsed(OWNER))
    old = dict(new, to=["owner@example.com"])
    del old["channel settings"]
    assert describe_changes(old, new) == [
        '  to: ["owner@example.com"] -> ["owner@example.com", "second@example.com"]',
        "  channel settings changed: matrix, ntfy, pushover, telegram"]


def test_identity_of_a_change_is_a_short_digest_that_ignores_key_order() -> None:
    first = identity_of({"a": 1, "b": 2}, {"c": 3})
    assert first == identity_of({"b": 2, "a": 1}, {"c": 3})
    assert first.startswith("route|") and len(first) == len("route|") + 32
    assert int(first[len("route|"):], 16) >= 0
    assert first != identity_of({"a": 1, "b": 2}, {"c": 4}) and first != identity_of({"c": 3}, {"a": 1, "b": 2})


def test_channels_touched_are_the_old_ones_the_change_removed_or_re_pointed_in_the_old_order() -> None:
    old = parsed(OWNER)
    before = route(old)
    after = dict(before, channels=["email", "telegram", "matrix"], **{"channel settings": dict(
        before["channel settings"], matrix={"homeserver": "https://evil.example.net", "room_id": "!room:example.org"})})
    del after["channel settings"]["ntfy"]
    assert _channels_touched(old, before, after) == ["ntfy", "matrix", "pushover"]
    assert _channels_touched(old, before, before) == []


def test_channels_touched_counts_only_channels_the_kept_route_had() -> None:
    old = parsed(OWNER)
    assert _channels_touched(old, {"channels": ["ntfy"]}, {"channels": []}) == ["ntfy"]
    assert _channels_touched(old, {"channel settings": {"telegram": {"chat_id": "42"}}}, {}) == ["telegram"]
    assert _channels_touched(old, {"channels": ["ntfy", "telegram"]}, {"channels": ["ntfy", "telegram"]}) == []


def test_keep_route_without_a_readable_config_keeps_nothing(paths: Paths, store: Store) -> None:
    config = parsed(OWNER)
    assert keep_route(RunParts(paths, store, config, ENVELOPE, Log())) == 0  # type: ignore[arg-type]
    assert store.get(DELIVERING) is None


def test_keep_route_keeps_the_first_config_and_a_change_beside_delivery_silently(
        paths: Paths, store: Store, transport: Transport, pushes: Pushes) -> None:
    log = Log()
    assert step(paths, store, OWNER, log) == 0
    assert store.get(DELIVERING) == {"text": OWNER, "route": route(parsed(OWNER))}
    commented = "# mine\n" + OWNER
    assert step(paths, store, commented, log) == 0
    assert store.get(DELIVERING) == {"text": commented, "route": route(parsed(OWNER))}
    assert step(paths, store, commented, log) == 0
    assert (transport.sent, pushes.sent, log.warnings, store.get(TOLD), store.get(PENDING)) == ([], [], [], None, None)
    assert outbox_count(store) == 0


@pytest.mark.parametrize("kept", [None, "text", {"text": "x"}, {"route": {}}, {"route": [], "text": "x"},
                                  {"route": {}, "text": 3}])
def test_keep_route_replaces_a_kept_value_of_the_wrong_shape(paths: Paths, store: Store, kept: Any) -> None:
    if kept is not None:
        with store.transaction():
            store.put(DELIVERING, kept)
    assert step(paths, store, OWNER, Log()) == 0
    assert store.get(DELIVERING) == {"text": OWNER, "route": route(parsed(OWNER))}


def test_a_new_sendmail_path_is_told_by_email_the_old_way_once_then_kept(
        paths: Paths, store: Store, transport: Transport, pushes: Pushes) -> None:
    log = Log()
    step(paths, store, OWNER, log)
    silent = OWNER.replace("/usr/sbin/sendmail", "/bin/true")
    assert step(paths, store, silent, log) == 1
    identity = identity_of(route(parsed(OWNER)), route(parsed(silent)))
    pending = store.get(PENDING)
    subject = SUBJECT.format(keys="sendmail_path")
    text = TEXT.format(path=paths.config_file, changes='  sendmail_path: "/usr/sbin/sendmail" -> "/bin/true"')
    assert pending == {"route": identity, "identity": pending["identity"], "subject": subject, "text": text}
    assert pending["identity"].startswith(identity)
    assert store.get(TOLD) == identity and store.get(DELIVERING) == {"text": silent, "route": route(parsed(silent))}
    assert outbox_count(store) == 1  # posted the new way too
    assert [config.sendmail_path for config in transport.configs] == ["/usr/sbin/sendmail"]
    ((wire, recipients),) = transport.sent
    assert recipients == ["owner@example.com", "second@example.com"] and transport.closed == 1
    message = email.message_from_bytes(wire, policy=email.policy.default)
    assert message["Subject"].strip() == "ssh_alert on web1.example.com: " + subject and "<ssh-alert@example.com>" in message["From"]
    assert message["To"] == "owner@example.com, second@example.com"
    assert message["Message-ID"] == outbox.message_id(pending["identity"], "notice", "web1.example.com")
    assert text.split("\n")[-1][:60] in message.get_content().replace("\n", " ")
    assert pushes.sent == [] and log.warnings == []
    assert step(paths, store, silent, log) == 0
    assert len(transport.sent) == 1 and outbox_count(store) == 1


def test_an_old_route_that_refuses_is_retried_with_the_same_notice_until_it_takes_it(
        paths: Paths, store: Store, transport: Transport, pushes: Pushes) -> None:
    log = Log()
    step(paths, store, OWNER, log)
    silent = OWNER.replace("/usr/sbin/sendmail", "/bin/true")
    transport.result = SendResult(refused=(("owner@example.com", "550 no"), ("second@example.com", "551 gone")))
    pushes.outcome = Outcome(SENT)
    assert step(paths, store, silent, log) == 0
    reason = "no recipient accepted it: owner@example.com (550 no); second@example.com (551 gone)"
    assert log.warnings == [OLD_ROUTE_FAILED.format(reason=reason)]
    pending = store.get(PENDING)
    assert store.get(TOLD) is None and store.get(DELIVERING)["text"] == OWNER
    transport.result, transport.error = SendResult(), DeliveryError("connection refused")
    assert step(paths, store, silent, log) == 0
    assert log.warnings[1] == OLD_ROUTE_FAILED.format(reason="connection refused")
    transport.error = OSError("broken pipe")
    assert step(paths, store, silent, log) == 0
    assert log.warnings[2] == OLD_ROUTE_FAILED.format(reason="broken pipe")
    transport.error, transport.result = None, SendResult(accepted=("owner@example.com",))
    assert step(paths, store, silent, log) == 1
    assert store.get(PENDING) == pending and outbox_count(store) == 1  # posted the new way once
    ids = {email.message_from_bytes(wire)["Message-ID"] for wire, _ in transport.sent}
    assert ids == {outbox.message_id(pending["identity"], "notice", "web1.example.com")} and len(transport.sent) == 4
    assert store.get(TOLD) == pending["route"] and store.get(DELIVERING)["text"] == silent


def test_a_notice_the_settings_watch_posted_goes_the_old_way_as_it_is(
        paths: Paths, store: Store, transport: Transport, pushes: Pushes) -> None:
    log = Log()
    step(paths, store, SMTP, log)
    moved = SMTP.replace("host = mail.example.com", "host = evil.example.net")
    notice = Notice("settings changed: smtp host", "the body", "watch|abc")
    assert step(paths, store, moved, log, notice) == 1
    identity = identity_of(route(parsed(SMTP)), route(parsed(moved)))
    assert store.get(PENDING) == {"route": identity, "identity": "watch|abc", "subject": notice.subject,
                                  "text": "the body"}
    assert outbox_count(store) == 0
    ((wire, _),) = transport.sent
    assert email.message_from_bytes(wire)["Message-ID"] == outbox.message_id("watch|abc", "notice", "web1.example.com")


@pytest.mark.parametrize("before, after, keys, changes", [
    (SMTP, SMTP.replace("user = bob", "user = eve"), "smtp user", ['  smtp user: "bob" -> "eve"']),
    (SMTP, SMTP.replace("port = 2525", "port = 2526").replace("host = mail.", "host = evil."), "smtp host, smtp port",
     ['  smtp host: "mail.example.com" -> "evil.example.com"', "  smtp port: 2525 -> 2526"]),
    (OWNER, OWNER.replace("/usr/sbin/sendmail", "/bin/true"), "sendmail_path",
     ['  sendmail_path: "/usr/sbin/sendmail" -> "/bin/true"'])])
def test_a_change_the_settings_watch_does_not_name_is_posted_anew_even_beside_its_notice(
        paths: Paths, store: Store, transport: Transport, pushes: Pushes, before: str, after: str, keys: str,
        changes: List[str]) -> None:
    log = Log()
    step(paths, store, before, log)
    assert step(paths, store, after, log, Notice("settings changed", "body", "watch|abc")) == 1
    pending = store.get(PENDING)
    assert pending["subject"] == SUBJECT.format(keys=keys) and pending["identity"] != "watch|abc"
    assert pending["text"] == TEXT.format(path=paths.config_file, changes="\n".join(changes))
    assert outbox_count(store) == 1


def test_the_notice_and_the_failure_line_read_as_written(paths: Paths, store: Store, transport: Transport,
                                                          pushes: Pushes) -> None:
    log = Log()
    step(paths, store, SMTP, log)
    transport.error = DeliveryError("connection refused")
    assert step(paths, store, SMTP.replace("user = bob", "user = eve"), log) == 0
    assert log.warnings == ["could not tell the delivery change through the old route: connection refused; "
                            "the next cron run retries"]
    message = email.message_from_bytes(transport.sent[0][0], policy=email.policy.default)
    assert message["Subject"].strip() == "ssh_alert on web1.example.com: delivery settings changed: smtp user"
    body = " ".join(message.get_content().split())
    assert body.startswith("ssh_alert's delivery settings ({}) changed: smtp user: \"bob\" -> \"eve\" This notice "
                           "goes the way alerts went before the change".format(paths.config_file))
    assert body.endswith("then treat the account as compromised.")


def test_the_kept_state_is_stored_under_the_names_earlier_versions_wrote(paths: Paths, store: Store,
                                                                        transport: Transport) -> None:
    step(paths, store, SMTP, Log())
    transport.error = DeliveryError("down")
    step(paths, store, SMTP.replace("user = bob", "user = eve"), Log())
    assert store.get("config_delivering")["text"] == SMTP and store.get("config_route_pending")["text"]
    transport.error = None
    step(paths, store, SMTP.replace("user = bob", "user = eve"), Log())
    assert store.get("config_route_told") == store.get("config_route_pending")["route"]


def test_a_change_the_old_route_already_took_is_kept_without_telling_it_again(
        paths: Paths, store: Store, transport: Transport, pushes: Pushes) -> None:
    moved = SMTP.replace("user = bob", "user = eve")
    with store.transaction():
        store.put(DELIVERING, {"text": SMTP, "route": route(parsed(SMTP))})
        store.put(TOLD, identity_of(route(parsed(SMTP)), route(parsed(moved))))
    assert step(paths, store, moved, Log()) == 0
    assert store.get(DELIVERING) == {"text": moved, "route": route(parsed(moved))}
    assert transport.sent == [] and pushes.sent == [] and outbox_count(store) == 0


def test_a_re_pointed_push_channel_is_told_at_its_old_destination_only(
        paths: Paths, store: Store, transport: Transport, pushes: Pushes) -> None:
    log = Log()
    step(paths, store, OWNER, log)
    moved = OWNER.replace("https://ntfy.example.com", "https://intruder.example.net")
    assert step(paths, store, moved, log) == 1
    assert transport.sent == []  # the mail transport did not change: the new way already reaches the old recipients
    ((name, config, event),) = pushes.sent
    pending = store.get(PENDING)
    assert name == "ntfy" and config.channel_options["ntfy"]["url"] == "https://ntfy.example.com/alerts"
    assert pending["subject"] == SUBJECT.format(keys="channel settings")
    assert pending["text"] == TEXT.format(path=paths.config_file, changes="  channel settings changed: ntfy")
    assert event["title"] == "ssh_alert on web1.example.com: " + pending["subject"]
    assert event["id"] == event_id(pending["identity"], "notice") and event["text"].startswith("ssh_alert's delivery")


def test_send_old_way_reports_each_failure_and_succeeds_when_any_way_took_it(
        paths: Paths, transport: Transport, pushes: Pushes) -> None:
    old = route(parsed(OWNER))
    new = dict(old, method="smtp", channels=["email"], **{"channel settings": {}})
    kept = {"text": OWNER, "route": old}
    pending = {"route": "route|x", "identity": "route|x|1", "subject": "s", "text": "t"}
    transport.error = DeliveryError("mail down")
    pushes.outcome = Outcome(RETRY, "503 busy")
    problem = _send_old_way(paths, kept, pending, ENVELOPE, new)
    assert problem == "mail down; ntfy: 503 busy; telegram: 503 busy; matrix: 503 busy; pushover: 503 busy"
    pushes.outcome = Outcome(RETRY)
    assert _send_old_way(paths, kept, pending, ENVELOPE, new) == (
        "mail down; ntfy: retry; telegram: retry; matrix: retry; pushover: retry")
    pushes.error = OSError("unreachable")
    assert _send_old_way(paths, kept, pending, ENVELOPE, new) == (
        "mail down; ntfy: unreachable; telegram: unreachable; matrix: unreachable; pushover: unreachable")
    pushes.error, pushes.outcome = None, Outcome(SENT)
    assert _send_old_way(paths, kept, pending, ENVELOPE, new) is None
    transport.error = None
    pushes.error = ValueError("bad url")
    assert _send_old_way(paths, kept, pending, ENVELOPE, new) is None  # the email took it


def test_send_old_way_with_nothing_touched_or_an_unreadable_kept_config(paths: Paths, transport: Transport,
                                                                        pushes: Pushes) -> None:
    old = route(parsed(OWNER))
    pending = {"route": "route|x", "identity": "route|x|1", "subject": "s", "text": "t"}
    assert _send_old_way(paths, {"text": OWNER, "route": old}, pending, ENVELOPE, dict(old, to=["x@example.com"])) is None
    assert transport.sent == [] and pushes.sent == []
    problem = _send_old_way(paths, {"text": "[alert]\nbogus = 1\n", "route": old}, pending, ENVELOPE, old)
    assert problem is not None and "bogus" in problem and "\n" not in problem
    push_only = OWNER.replace("channels = email,", "channels =")
    assert _send_old_way(paths, {"text": push_only, "route": old}, pending, ENVELOPE,
                         dict(old, method="smtp")) is None
    assert transport.sent == [] and pushes.sent == []


@pytest.mark.parametrize("after", [SMTP.replace("port = 2525", "port = 2526"), SMTP.replace("user = bob", "user = eve"),
                                   SMTP.replace("host = mail.", "host = evil.")])
def test_each_mail_transport_key_alone_sends_the_notice_by_the_old_transport(
        paths: Paths, store: Store, transport: Transport, after: str) -> None:
    step(paths, store, SMTP, Log())
    assert step(paths, store, after, Log()) == 1
    assert [config.smtp.port for config in transport.configs if config.smtp] == [2525] and len(transport.sent) == 1
