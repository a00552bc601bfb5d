"""What users of the push channels set and expect, each sent for real to that API's emulator on loopback:
urgency reaching the phone (ntfy 5/4, Pushover 1 or emergency 2, Telegram silent only for known logins,
Gotify 8), the extra keys (ntfy tags/click/icon, Pushover sound/device, Telegram message_thread_id, Discord
thread_id, Slack bot token mode), and secrets that never travel in clear over http://."""

import json
import urllib.parse
from pathlib import Path
from typing import Any, Dict

import pytest

from app.channels import discord, gotify, ntfy, pushover, slack, telegram
from app.channels.base import RETRY, SENT, attention
from app.channels.http import perform
from app.channels.push import send_request
from app.commands.status import run_status
from app.errors import UserError
from app.settings.config import parse_config
from app.system.paths import Paths
from support.httpsworld import API_REPLIES, HttpsWorld, event, without_proxies


def login(new_ip: bool = False, **fields: Any) -> Dict[str, Any]:
    return event(logins=[{"user": "alice", "ip": "203.0.113.7", "new_ip": new_ip, "trusted": False}], **fields)


KNOWN, NEW, URGENT = login(), login(new_ip=True), login(urgent=True)
NOTICE = event(type="notice", urgent=True)
HEARTBEAT = event(type="notice", urgent=False)


def test_attention_names_urgent_new_source_known_and_other_events() -> None:
    assert [attention(alert) for alert in (URGENT, NEW, KNOWN, NOTICE, HEARTBEAT, event(type="test"))] == [
        "urgent", "new", "known", "urgent", "other", "other"]


def test_ntfy_urgent_is_5_a_new_source_4_and_known_logins_the_configured_default() -> None:
    def priority(alert: Dict[str, Any], **options: str) -> str:
        request = ntfy.build_request(alert, dict({"url": "https://ntfy.sh/a"}, **options), "", 0.0)
        return dict(request.headers)["X-Priority"]

    assert [priority(alert) for alert in (URGENT, NEW, KNOWN, HEARTBEAT)] == ["urgent", "high", "default", "default"]
    assert priority(NEW, priority="urgent") == "urgent" and priority(KNOWN, priority="low") == "low"


def test_pushover_urgent_and_new_sources_get_1_and_emergency_gives_2_with_retry_and_expire() -> None:
    def form(alert: Dict[str, Any], **options: str) -> Dict[str, str]:
        request = pushover.build_request(alert, dict({"user_key": "u"}, **options), "t", 0.0)
        return dict(urllib.parse.parse_qsl(request.body.decode()))

    assert [form(alert)["priority"] for alert in (URGENT, NEW, KNOWN)] == ["1", "1", "0"]
    emergency = form(URGENT, emergency="yes", retry="45", expire="99999")
    assert (emergency["priority"], emergency["retry"], emergency["expire"]) == ("2", "45", "10800")
    assert form(NEW, emergency="yes")["priority"] == "1" and "retry" not in form(NEW, emergency="yes")


def test_telegram_is_silent_only_for_known_non_urgent_logins() -> None:
    def silent(alert: Dict[str, Any]) -> bool:
        return bool(json.loads(telegram.build_request(alert, {"chat_id": "1"}, "1:t", 0.0).body)["disable_notification"])

    assert [silent(alert) for alert in (KNOWN, NEW, URGENT, NOTICE, HEARTBEAT)] == [True, False, False, False, False]


def test_gotify_urgent_and_new_sources_get_8_known_logins_the_default() -> None:
    def priority(alert: Dict[str, Any]) -> int:
        return int(json.loads(gotify.build_request(alert, {"url": "https://g"}, "t", 0.0).body)["priority"])

    assert [priority(alert) for alert in (URGENT, NEW, KNOWN)] == [8, 8, 5]


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch):
    without_proxies(monkeypatch)
    made = []

    def make(name: str) -> HttpsWorld:
        made.append(HttpsWorld(api=name))
        return made[-1]

    yield make
    for world in made:
        world.close()


def sent(module: Any, world: HttpsWorld, options: Dict[str, Any], secret: str, alert: Dict[str, Any] = NEW):
    request = module.build_request(alert, options, secret, 0.0)
    outcome = module.classify(perform(request, timeout=2, deadline=5, ca_file=world.ca_file))
    assert outcome.state == SENT, outcome.detail
    return world.requests[-1]


def test_ntfy_tags_click_and_icon_arrive_as_headers(api) -> None:
    world = api("ntfy")
    recorded = sent(ntfy, world, {"url": world.url + "/alerts", "tags": "warning,lock", "click":
                                  "https://example.com/ssh", "icon": "https://example.com/icon.png"}, "", URGENT)
    assert (recorded.headers["x-tags"], recorded.headers["x-click"], recorded.headers["x-icon"]) == (
        "warning,lock", "https://example.com/ssh", "https://example.com/icon.png")
    assert recorded.headers["x-priority"] == "urgent"


def test_pushover_sound_and_device_arrive_in_the_form(api) -> None:
    world = api("pushover")
    recorded = sent(pushover, world, {"user_key": "u", "api_base": world.url, "sound": "siren", "device": "phone"},
                    "t", URGENT)
    form = dict(urllib.parse.parse_qsl(recorded.body.decode()))
    assert (form["sound"], form["device"], form["priority"]) == ("siren", "phone", "1")


def test_telegram_message_thread_id_sends_to_the_forum_topic(api) -> None:
    world = api("telegram")
    recorded = sent(telegram, world, {"chat_id": "-100123", "api_base": world.url, "message_thread_id": 42}, "1:t")
    message = json.loads(recorded.body)
    assert (message["message_thread_id"], message["disable_notification"]) == (42, False)


def test_discord_thread_id_goes_in_the_query_beside_wait(api) -> None:
    world = api("discord")
    recorded = sent(discord, world, {"thread_id": "1234567890"}, world.url + "/api/webhooks/1/tok")
    assert recorded.path == "/api/webhooks/1/tok?wait=true&thread_id=1234567890"


def test_slack_bot_token_mode_posts_to_chat_post_message_with_the_channel(api) -> None:
    world = api("slack")
    world.respond(200, b'{"ok":true,"channel":"C0123","ts":"1503435956.000247"}', {"Content-Type": "application/json"})
    recorded = sent(slack, world, {"channel": "C0123", "api_base": world.url}, "xoxb-bot-token")
    assert recorded.path == "/chat.postMessage" and recorded.headers["authorization"] == "Bearer xoxb-bot-token"
    message = json.loads(recorded.body)
    assert message["channel"] == "C0123" and "203.0.113.7" in message["text"] and message["mrkdwn"] is False


@pytest.mark.parametrize("error, state", [("channel_not_found", "refused"), ("not_in_channel", "refused"),
                                          ("ratelimited", "retry"), ("internal_error", "retry")])
def test_slack_web_api_errors_come_with_200_and_are_classified_by_their_code(error: str, state: str) -> None:
    from app.channels.base import HttpReply

    outcome = slack.classify(HttpReply(200, {}, json.dumps({"ok": False, "error": error}).encode()))
    assert outcome.state == state and error in outcome.detail


CONFIG = Path("/home/alice/.config/ssh-alert/config.ini")


@pytest.mark.parametrize("section, key, text", [
    ("ntfy", "url", "url = http://ntfy.example.com/alerts"),
    ("telegram", "api_base", "chat_id = 1\napi_base = http://bots.example.com"),
    ("matrix", "homeserver", "homeserver = http://matrix.example.com\nroom_id = !r:x"),
    ("gotify", "url", "url = http://gotify.example.com"),
    ("pushover", "api_base", "user_key = u\napi_base = http://pushover.example.com"),
    ("webhook", "url", "url = http://hooks.example.com/x\nformat = plain"),
])
def test_a_token_channel_refuses_plain_http_to_another_host_in_one_line_naming_section_and_key(
        section: str, key: str, text: str) -> None:
    with pytest.raises(UserError) as raised:
        parse_config("[alert]\nchannels = {}\n[{}]\n{}\n".format(section, section, text), CONFIG)
    (line,) = raised.value.message.splitlines()
    assert line.startswith("{}: [{}] {}: ".format(CONFIG, section, key)) and "http://" in line
    assert "is plain http://" in line and "would travel in clear" in line and "allow_insecure_http = yes" in line
    allowed = parse_config("[alert]\nchannels = {}\n[{}]\n{}\nallow_insecure_http = yes\n".format(
        section, section, text), CONFIG)
    assert allowed.channel_options[section]["allow_insecure_http"] is True


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/alerts", "http://localhost/alerts", "http://[::1]/a"])
def test_plain_http_to_loopback_is_allowed(url: str) -> None:
    assert parse_config("[alert]\nchannels = ntfy\n[ntfy]\nurl = {}\n".format(url), CONFIG).channels == ("ntfy",)


@pytest.mark.parametrize("name, options", [("discord", {}), ("slack", {})])
def test_a_secret_webhook_url_over_plain_http_is_not_sent_and_names_the_key(name: str, options: Dict[str, Any]) -> None:
    outcome = send_request(name, options, "http://hooks.example.com/services/T/B/secret-token", event())
    assert outcome.state == RETRY and outcome.detail.startswith("[{}] webhook_url: not sent".format(name))
    assert "secret-token" not in outcome.detail
    assert send_request(name, dict(options, allow_insecure_http=True), "http://127.0.0.1:1/x", event()).state == RETRY


def test_status_warns_when_allow_insecure_http_lets_a_token_travel_in_clear(paths: Paths) -> None:
    paths.config_dir.mkdir(parents=True, exist_ok=True)
    paths.config_file.write_text("[alert]\nchannels = ntfy\n[ntfy]\nurl = http://ntfy.example.com/alerts\n"
                                 "allow_insecure_http = yes\nsecret_store = none\n")
    paths.config_file.chmod(0o600)
    checks = {check.name: check for check in run_status(paths)}
    assert checks["ntfy http"].status == "warn" and "ntfy.example.com" in checks["ntfy http"].detail
    assert checks["config"].status == "ok"


def test_each_api_reply_in_the_emulators_is_what_the_channel_counts_as_delivered() -> None:
    assert set(API_REPLIES) == {"ntfy", "telegram", "slack", "discord", "matrix", "gotify", "pushover", "webhook"}
