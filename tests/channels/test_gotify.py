"""Gotify: the POST to /message (JSON title, message, priority, plain-text display; the app token in
X-Gotify-Key, never in the URL), sent for real to an HTTPS server on loopback, and every reply classified."""

import json
from typing import Dict, Optional

import pytest

from app.channels import gotify
from app.channels.base import REFUSED, RETRY, SENT, HttpReply
from app.channels.http import perform
from app.system.text import ELLIPSIS
from support.httpsworld import HOSTILE, HttpsWorld, event, headers_of, hostile_event, sent_json

TOKEN = "AbCdEf.GhIjKlM"
OPTIONS = {"url": "https://gotify.example"}


def test_gotify_posts_the_title_and_text_as_json_to_the_message_endpoint() -> None:
    alert = event()
    request = gotify.build_request(alert, OPTIONS, TOKEN, 0.0)
    assert (request.method, request.url) == ("POST", "https://gotify.example/message")
    assert sent_json(request.body) == {"title": alert["title"], "message": alert["text"], "priority": 5,
                                   "extras": {"client::display": {"contentType": "text/plain"}}}


def test_gotify_sends_the_token_in_a_header_not_the_url() -> None:
    request = gotify.build_request(event(), {"url": "https://gotify.example/sub/"}, " " + TOKEN + "\n", 0.0)
    assert request.url == "https://gotify.example/sub/message"
    assert TOKEN not in request.url and "token" not in request.url
    assert headers_of(request) == {"content-type": "application/json", "x-gotify-key": TOKEN}
    assert request.secrets == (TOKEN,)


@pytest.mark.parametrize("configured, urgent, expected", [
    (None, False, 5), ("5", False, 5), ("0", False, 0), ("15", False, 10), ("-3", False, 0), ("high", False, 5),
    (None, True, 8), ("2", True, 8),
])
def test_gotify_urgent_events_get_priority_8_and_others_the_configured_one(configured: Optional[str],
                                                                            urgent: bool, expected: int) -> None:
    options = dict(OPTIONS, **({"priority": configured} if configured is not None else {}))
    assert sent_json(gotify.build_request(event(urgent=urgent), options, TOKEN, 0.0).body)["priority"] == expected


def test_gotify_hostile_fields_arrive_as_plain_text_never_markdown() -> None:
    alert = event("SSH login: " + HOSTILE + " ![x](https://evil.example/track.png)@web1",
                  "Key comment: " + HOSTILE + "\n<script>alert(1)</script>")
    message = sent_json(gotify.build_request(alert, OPTIONS, TOKEN, 0.0).body)
    assert message["extras"] == {"client::display": {"contentType": "text/plain"}}
    assert (message["title"], message["message"]) == (alert["title"][:249] + ELLIPSIS, alert["text"])
    assert not any(character in message["title"] + message["message"] for character in "\r\x00\x1b\u202e")


def test_gotify_cuts_a_long_title_and_message_and_keeps_a_normal_title_whole() -> None:
    alert = event(text="\U0001f680" * 20000)
    message = sent_json(gotify.build_request(alert, OPTIONS, TOKEN, 0.0).body)
    assert message["title"] == alert["title"]
    assert len(message["message"]) == gotify.MESSAGE_LIMIT and message["message"].endswith(ELLIPSIS)
    long_title = sent_json(gotify.build_request(event("x" * 400), OPTIONS, TOKEN, 0.0).body)["title"]
    assert len(long_title) == gotify.TITLE_LIMIT and long_title.endswith(ELLIPSIS)


def test_gotify_sends_the_title_as_message_when_there_is_no_text() -> None:
    message = sent_json(gotify.build_request(event(text=""), OPTIONS, TOKEN, 0.0).body)
    assert message["message"] == message["title"] == event()["title"]


@pytest.mark.parametrize("status, body, headers, state, retry_after, words", [
    (200, b'{"id":25,"appid":5,"message":"x","title":"t","priority":8}', {}, SENT, None, "gotify message 25"),
    (400, b'{"error":"Bad Request","errorCode":400,"errorDescription":"Field \'message\' is required"}', {},
     REFUSED, None, "message' is required"),
    (401, b'{"error":"Unauthorized","errorCode":401,"errorDescription":"you need to provide a valid access '
          b'token or user credentials to access this api"}', {}, REFUSED, None, "check app_token"),
    (403, b'{"error":"Forbidden","errorCode":403,"errorDescription":"you are not allowed to access this api"}',
     {}, REFUSED, None, "Forbidden"),
    (404, b"404 page not found", {}, REFUSED, None, "check url"),
    (410, b"", {}, REFUSED, None, "HTTP 410"),
    (413, b"<html>Request Entity Too Large</html>", {}, REFUSED, None, "Too Large"),
    (429, b"slow down", {"Retry-After": "12"}, RETRY, 12.0, "slow down"),
    (500, b'{"error":"Internal Server Error","errorCode":500,"errorDescription":"db"}', {}, RETRY, None, "db"),
    (503, b"<html>Service Unavailable</html>", {"Retry-After": "60"}, RETRY, 60.0, "Unavailable"),
    (301, b"", {"Location": "https://gotify.example/message"}, REFUSED, None, "redirect not followed"),
])
def test_gotify_replies_are_classified(world: HttpsWorld, status: int, body: bytes, headers: Dict[str, str],
                                       state: str, retry_after: Optional[float], words: str) -> None:
    world.respond(status, body, headers)
    request = gotify.build_request(event(), {"url": world.url}, TOKEN, 0.0)
    outcome = gotify.classify(perform(request, timeout=2, deadline=5, ca_file=world.ca_file))
    assert (outcome.state, outcome.retry_after) == (state, retry_after)
    assert words in outcome.detail


def test_gotify_detail_is_one_short_printable_line() -> None:
    body = b'{"error":"Bad Request","errorDescription":"bad\\nline \\u001b[31m\\u202e ' + b"x" * 500 + b'"}'
    detail = gotify.classify(HttpReply(400, {}, body)).detail
    assert len(detail) <= 200 and detail.isprintable() and "\u202e" not in detail


def test_gotify_request_arrives_over_https_as_built(world: HttpsWorld) -> None:
    world.respond(200, b'{"id":7,"appid":1,"message":"m","title":"t","priority":10}')
    alert = hostile_event(urgent=True)
    request = gotify.build_request(alert, {"url": world.url + "/"}, TOKEN, 0.0)
    outcome = gotify.classify(perform(request, timeout=2, deadline=5, ca_file=world.ca_file))
    assert outcome == (SENT, "gotify message 7", None)
    [recorded] = world.requests
    assert (recorded.method, recorded.path, recorded.body) == ("POST", "/message", request.body)
    assert recorded.headers["x-gotify-key"] == TOKEN and "authorization" not in recorded.headers
    assert recorded.headers["content-type"] == "application/json"
    arrived = json.loads(recorded.body)
    assert (arrived["message"], arrived["priority"]) == (alert["text"], 8)
