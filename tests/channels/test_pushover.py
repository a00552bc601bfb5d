"""Pushover: the form POST to /1/messages.json (token, user, title, message, priority, timestamp; no html),
sent for real to an HTTPS server on loopback, and every reply classified."""

import urllib.parse
from typing import Dict, List, Optional

import pytest

from app.channels import pushover
from app.channels.base import REFUSED, RETRY, SENT, HttpReply, HttpRequest
from app.channels.http import perform
from app.system.text import ELLIPSIS
from support.httpsworld import HOSTILE, HttpsWorld, event, hostile_event

TOKEN = "azGDORePK8gMaC0QOYAMyEEuzJnyUi"
USER = "uQiRzpo4DXghDmr9QzzfQu27cmVRsG"
OPTIONS = {"user_key": USER}


def form_of(body: bytes) -> Dict[str, List[str]]:
    return urllib.parse.parse_qs(body.decode("ascii"), keep_blank_values=True, strict_parsing=True)


def fields_of(request: HttpRequest) -> Dict[str, str]:
    form = form_of(request.body)
    assert all(len(values) == 1 for values in form.values())
    return {name: values[0] for name, values in form.items()}


def test_pushover_posts_a_form_with_token_user_title_message_priority_and_time() -> None:
    alert = event()
    request = pushover.build_request(alert, OPTIONS, TOKEN, 0.0)
    assert (request.method, request.url) == ("POST", "https://api.pushover.net/1/messages.json")
    assert request.headers == (("Content-Type", "application/x-www-form-urlencoded"),)
    assert fields_of(request) == {"token": TOKEN, "user": USER, "title": alert["title"], "message": alert["text"],
                                  "priority": "0", "timestamp": "1764111303"}


def test_pushover_never_logs_the_token_or_the_user_key() -> None:
    request = pushover.build_request(event(), {"user_key": " " + USER + " "}, TOKEN + "\n", 0.0)
    assert request.secrets == (TOKEN, USER)
    assert (fields_of(request)["token"], fields_of(request)["user"]) == (TOKEN, USER)


def test_pushover_takes_the_api_base_option_for_a_test_server() -> None:
    request = pushover.build_request(event(), dict(OPTIONS, api_base="https://127.0.0.1:8443/"), TOKEN, 0.0)
    assert request.url == "https://127.0.0.1:8443/1/messages.json"


@pytest.mark.parametrize("configured, urgent, expected", [
    (None, False, "0"), ("-1", False, "-1"), ("-2", False, "-2"), ("1", False, "1"), ("2", False, "1"),
    ("-9", False, "-2"), ("loud", False, "0"), (None, True, "1"), ("-2", True, "1"),
])
def test_pushover_urgent_events_get_priority_1_and_never_2(configured: Optional[str], urgent: bool,
                                                           expected: str) -> None:
    options = dict(OPTIONS, **({"priority": configured} if configured is not None else {}))
    fields = fields_of(pushover.build_request(event(urgent=urgent), options, TOKEN, 0.0))
    assert fields["priority"] == expected
    assert not {"retry", "expire", "html", "monospace"} & set(fields)


def test_pushover_hostile_fields_are_sent_without_html() -> None:
    alert = event("SSH login: <b>" + HOSTILE[:150] + "</b>@web1", "Key comment: <a href='https://evil.example'>x</a>"
                  + HOSTILE)
    fields = fields_of(pushover.build_request(alert, OPTIONS, TOKEN, 0.0))
    assert "html" not in fields
    assert (fields["title"], fields["message"]) == (alert["title"], alert["text"])
    assert not any(character in fields["title"] + fields["message"] for character in "\r\x00\x1b\u202e")


def test_pushover_cuts_the_message_to_1024_characters_and_keeps_the_title() -> None:
    alert = event(text="\u00e9\U0001f680" * 2000)
    fields = fields_of(pushover.build_request(alert, OPTIONS, TOKEN, 0.0))
    assert fields["title"] == alert["title"]
    assert len(fields["message"]) == pushover.MESSAGE_LIMIT and fields["message"].endswith(ELLIPSIS)


def test_pushover_puts_a_title_too_long_for_its_field_whole_at_the_start_of_the_message() -> None:
    alert = event("SSH login: " + "a" * 300 + "@web1 from 203.0.113.7", "User: aaa")
    fields = fields_of(pushover.build_request(alert, OPTIONS, TOKEN, 0.0))
    assert len(fields["title"]) == pushover.TITLE_LIMIT and fields["title"].endswith(ELLIPSIS)
    assert fields["message"] == alert["title"] + "\n\nUser: aaa"


def test_pushover_sends_the_title_as_message_when_there_is_no_text() -> None:
    fields = fields_of(pushover.build_request(event(text=""), OPTIONS, TOKEN, 0.0))
    assert fields["message"] == fields["title"] == event()["title"]


@pytest.mark.parametrize("status, body, headers, state, retry_after, words", [
    (200, b'{"status":1,"request":"647d2300-702c-4b38-8b2f-d56326ae460b"}', {}, SENT, None,
     "647d2300-702c-4b38-8b2f-d56326ae460b"),
    (200, b"<html>captive portal</html>", {}, RETRY, None, "captive portal"),
    (400, b'{"user":"invalid","errors":["user identifier is not a valid user, group, or subscribed user key"],'
          b'"status":0,"request":"5042853c"}', {}, REFUSED, None, "not a valid user, group"),
    (400, b'{"token":"invalid","errors":["application token is invalid"],"status":0,"request":"1"}', {},
     REFUSED, None, "(check app_token)"),
    (401, b'{"errors":["unauthorized"],"status":0}', {}, REFUSED, None, "unauthorized"),
    (403, b"", {}, REFUSED, None, "HTTP 403"),
    (404, b"not found", {}, REFUSED, None, "not found"),
    (413, b"", {}, REFUSED, None, "HTTP 413"),
    (429, b'{"errors":["application over quota"],"status":0}', {"Retry-After": "3600"}, RETRY, 3600.0,
     "over quota"),
    (500, b"<html>Internal Server Error</html>", {}, RETRY, None, "Internal Server Error"),
    (503, b"", {"Retry-After": "1"}, RETRY, 1.0, "HTTP 503"),
    (502, b"", {"Retry-After": "30"}, RETRY, 30.0, "HTTP 502"),
    (307, b"", {"Location": "https://pushover.net/"}, RETRY, None, "temporary redirect not followed"),
])
def test_pushover_replies_are_classified(world: HttpsWorld, status: int, body: bytes, headers: Dict[str, str],
                                         state: str, retry_after: Optional[float], words: str) -> None:
    world.respond(status, body, headers)
    request = pushover.build_request(event(), dict(OPTIONS, api_base=world.url), TOKEN, 0.0)
    outcome = pushover.classify(perform(request, timeout=2, deadline=5, ca_file=world.ca_file))
    assert (outcome.state, outcome.retry_after) == (state, retry_after)
    assert words in outcome.detail


def test_pushover_detail_is_one_short_printable_line() -> None:
    body = b'{"status":0,"errors":["bad\\nline \\u001b[31m\\u202e ' + b"x" * 500 + b'"]}'
    detail = pushover.classify(HttpReply(400, {}, body)).detail
    assert len(detail) <= 200 and detail.isprintable() and "\u202e" not in detail


def test_pushover_request_arrives_over_https_as_built(world: HttpsWorld) -> None:
    world.respond(200, b'{"status":1,"request":"abc"}', {"X-Limit-App-Remaining": "9999"})
    alert = hostile_event(urgent=True)
    request = pushover.build_request(alert, dict(OPTIONS, api_base=world.url + "/"), TOKEN, 0.0)
    outcome = pushover.classify(perform(request, timeout=2, deadline=5, ca_file=world.ca_file))
    assert outcome == (SENT, "pushover request abc", None)
    [recorded] = world.requests
    assert (recorded.method, recorded.path, recorded.body) == ("POST", "/1/messages.json", request.body)
    assert recorded.headers["content-type"] == "application/x-www-form-urlencoded"
    arrived = {name: values[0] for name, values in form_of(recorded.body).items()}
    assert (arrived["token"], arrived["user"], arrived["priority"]) == (TOKEN, USER, "1")
    assert arrived["title"].startswith("SSH login: <!channel>") and arrived["title"].endswith(ELLIPSIS)
    assert arrived["message"].startswith(alert["title"] + "\n\n")
