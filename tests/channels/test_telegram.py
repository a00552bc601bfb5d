"""Telegram sendMessage: plain text without parse_mode, link previews off, the token only in the URL and in
secrets; sent for real to an HTTPS server on loopback standing in for api_base, and every reply classified."""

import json
from typing import Any, Dict, Optional

import pytest

from app.channels import telegram
from app.channels.base import REFUSED, RETRY, SENT, HttpReply
from app.channels.http import TransportError, perform
from app.system.text import ELLIPSIS
from support.httpsworld import HttpsWorld, event, hostile_event, sent_json

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


def test_telegram_sends_plain_text_without_parse_mode() -> None:
    alert = event()
    request = telegram.build_request(alert, {"chat_id": "-1001234567890"}, TOKEN, 0.0)
    assert (request.method, request.url) == ("POST", "https://api.telegram.org/bot{}/sendMessage".format(TOKEN))
    assert request.headers == (("Content-Type", "application/json"),)
    assert sent_json(request.body) == {"chat_id": -1001234567890, "text": alert["title"] + "\n\n" + alert["text"],
                                       "link_preview_options": {"is_disabled": True},
                                       "disable_notification": False}


def test_telegram_token_is_a_secret_of_the_request() -> None:
    assert telegram.build_request(event(), {"chat_id": "1"}, TOKEN + "\n", 0.0).secrets == (TOKEN,)


@pytest.mark.parametrize("option, chat_id", [("123", 123), ("-42", -42), ("@alerts", "@alerts"),
                                             ("alerts", "@alerts"), (" 77 ", 77)])
def test_telegram_chat_id_is_an_int_when_numeric_else_a_channel_name(option: str, chat_id: object) -> None:
    assert sent_json(telegram.build_request(event(), {"chat_id": option}, TOKEN, 0.0).body)["chat_id"] == chat_id


def test_telegram_api_base_can_point_at_a_self_hosted_server() -> None:
    request = telegram.build_request(event(), {"chat_id": "1", "api_base": "https://tg.example:8443/"}, TOKEN, 0.0)
    assert request.url == "https://tg.example:8443/bot{}/sendMessage".format(TOKEN)


def test_telegram_cuts_the_text_to_4096_characters_and_keeps_the_title() -> None:
    alert = event(text="\U0001f680" * 5000)
    text = sent_json(telegram.build_request(alert, {"chat_id": "1"}, TOKEN, 0.0).body)["text"]
    assert len(text) == 4096 and text.startswith(alert["title"] + "\n\n") and text.endswith(ELLIPSIS)


def test_telegram_request_arrives_over_https_as_built(world: HttpsWorld) -> None:
    world.respond(200, b'{"ok":true,"result":{"message_id":4711,"chat":{"id":1}}}')
    request = telegram.build_request(event(), {"chat_id": "1", "api_base": world.url}, TOKEN, 0.0)
    outcome = telegram.classify(perform(request, timeout=2, deadline=5, ca_file=world.ca_file))
    assert outcome == (SENT, "telegram message 4711", None)
    [recorded] = world.requests
    assert (recorded.method, recorded.path) == ("POST", "/bot{}/sendMessage".format(TOKEN))
    assert recorded.headers["content-type"] == "application/json"
    assert sent_json(recorded.body) == sent_json(request.body)


def test_telegram_hostile_fields_arrive_as_inert_plain_text(world: HttpsWorld) -> None:
    alert = hostile_event()
    request = telegram.build_request(alert, {"chat_id": "1", "api_base": world.url}, TOKEN, 0.0)
    perform(request, timeout=2, deadline=5, ca_file=world.ca_file)
    message = sent_json(world.requests[0].body)
    assert set(message) == {"chat_id", "text", "link_preview_options",
                            "disable_notification"}  # no parse_mode, no entities
    assert message["text"] == alert["title"] + "\n\n" + alert["text"]
    assert not any(character in message["text"] for character in "\r\x00\x1b\u202e")


def test_telegram_token_never_shows_in_a_transport_error(world: HttpsWorld) -> None:
    # a control character makes http.client quote the whole path, token and all, in its error
    request = telegram.build_request(event(), {"chat_id": "1", "api_base": world.url + "/x\x01"}, TOKEN, 0.0)
    with pytest.raises(TransportError) as caught:
        perform(request, timeout=0.5, deadline=1, ca_file=world.ca_file)
    assert TOKEN not in str(caught.value) and "[redacted]" in str(caught.value)


def reply(description: str, code: int, **parameters: Any) -> bytes:
    answer: Dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        answer["parameters"] = parameters
    return json.dumps(answer).encode()


@pytest.mark.parametrize("status, body, headers, state, retry_after, words", [
    (200, b'{"ok":true,"result":{"message_id":7}}', {}, SENT, None, "message 7"),
    (200, b"<html>captive portal</html>", {}, RETRY, None, '"<html>captive portal</html>"'),
    (400, reply("Bad Request: chat not found", 400), {}, REFUSED, None, "chat not found"),
    (400, reply("Bad Request: message is too long", 400), {}, REFUSED, None, "too long"),
    (401, reply("Unauthorized", 401), {}, REFUSED, None, "check the bot token"),
    (403, reply("Forbidden: bot was blocked by the user", 403), {}, REFUSED, None, "blocked"),
    (404, reply("Not Found", 404), {}, REFUSED, None, "check the bot token"),
    (413, b"<html>413 Request Entity Too Large</html>", {}, REFUSED, None, "413"),
    (429, reply("Too Many Requests: retry after 35", 429, retry_after=35), {"Retry-After": "35"}, RETRY, 35.0,
     "retry after 35"),
    (429, reply("Too Many Requests: retry after 12", 429, retry_after=12), {}, RETRY, 12.0, "Too Many"),
    (500, reply("Internal Server Error", 500), {}, RETRY, None, "Internal"),
    (502, b"<html>Bad Gateway</html>", {}, RETRY, None, "Bad Gateway"),
    (301, b"", {"Location": "https://elsewhere/"}, REFUSED, None, "check api_base"),
])
def test_telegram_replies_are_classified(world: HttpsWorld, status: int, body: bytes, headers: Dict[str, str],
                                         state: str, retry_after: Optional[float], words: str) -> None:
    world.respond(status, body, headers)
    request = telegram.build_request(event(), {"chat_id": "1", "api_base": world.url}, TOKEN, 0.0)
    outcome = telegram.classify(perform(request, timeout=2, deadline=5, ca_file=world.ca_file))
    assert (outcome.state, outcome.retry_after) == (state, retry_after)
    assert words in outcome.detail and TOKEN not in outcome.detail


def test_telegram_group_upgraded_to_a_supergroup_is_refused_with_the_new_chat_id() -> None:
    body = reply("Bad Request: group chat was upgraded to a supergroup chat", 400,
                 migrate_to_chat_id=-1001987654321)
    outcome = telegram.classify(HttpReply(400, {}, body))
    assert outcome.state == REFUSED and "set chat_id = -1001987654321" in outcome.detail


def test_telegram_detail_is_one_short_printable_line() -> None:
    body = reply("Bad\nRequest \x1b[31m\u202e" + "x" * 500, 400)
    detail = telegram.classify(HttpReply(400, {}, body)).detail
    assert len(detail) <= 200 and detail.isprintable() and "\u202e" not in detail
