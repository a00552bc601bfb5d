"""Matrix: the PUT (room id percent-encoded, transaction id from the event id, bearer token), the m.notice
content (plain body, escaped HTML body, empty m.mentions, under the size limit), sent for real to an HTTPS
server on loopback, and every reply classified."""

import html
import json
import re
from typing import Dict, Optional

import pytest

from app.channels import matrix
from app.channels.base import REFUSED, RETRY, SENT, HttpReply
from app.channels.http import perform
from app.system.text import ELLIPSIS
from support.httpsworld import HOSTILE, HttpsWorld, event, headers_of, hostile_event, sent_json

TOKEN = "syt_YWxpY2U_lLzJbXCdIvTnEBEiQpVb_1N0RAt"
ROOM = "!abcDEF123:example.org"
OPTIONS = {"homeserver": "https://matrix.example.org", "room_id": ROOM}
SEND_PATH = "/_matrix/client/v3/rooms/%21abcDEF123%3Aexample.org/send/m.room.message/"


def shown_text(formatted_body: str) -> str:
    """What a client shows for the HTML body: our three tags undone, the entities decoded."""
    return html.unescape(formatted_body.replace("<br>", "\n").replace("<b>", "").replace("</b>", ""))


def test_matrix_puts_an_m_notice_into_the_room_with_the_event_id_as_transaction_id() -> None:
    alert = event()
    request = matrix.build_request(alert, OPTIONS, TOKEN, 0.0)
    assert request.method == "PUT"
    assert request.url == "https://matrix.example.org" + SEND_PATH + alert["id"]
    assert headers_of(request) == {"content-type": "application/json", "authorization": "Bearer " + TOKEN}
    assert sent_json(request.body) == {
        "msgtype": "m.notice", "body": alert["title"] + "\n\n" + alert["text"],
        "format": "org.matrix.custom.html", "m.mentions": {},
        "formatted_body": "<b>" + alert["title"] + "</b><br><br>" + alert["text"].replace("\n", "<br>")}


def test_matrix_retry_uses_the_same_transaction_id() -> None:
    first = matrix.build_request(event(), OPTIONS, TOKEN, 1000.0)
    retry = matrix.build_request(event(), OPTIONS, TOKEN, 5000.0)
    other = matrix.build_request(event(id="evt_" + "f" * 32), OPTIONS, TOKEN, 1000.0)
    assert retry == first
    assert other.url != first.url and other.url.endswith("/evt_" + "f" * 32)


def test_matrix_encodes_the_room_id_and_takes_a_homeserver_with_a_trailing_slash() -> None:
    options = {"homeserver": " https://matrix.example.org/ ", "room_id": " " + ROOM + " "}
    assert matrix.build_request(event(), options, TOKEN, 0.0).url.startswith("https://matrix.example.org" + SEND_PATH)


def test_matrix_names_the_access_token_a_secret_and_trims_it() -> None:
    request = matrix.build_request(event(), OPTIONS, TOKEN + "\n", 0.0)
    assert request.secrets == (TOKEN,)
    assert headers_of(request)["authorization"] == "Bearer " + TOKEN


def test_matrix_hostile_fields_are_inert_in_both_bodies() -> None:
    alert = event("SSH login: <script>alert(1)</script> @room <a href=x>x</a> \"'&" + HOSTILE + "@web1",
                  "Key comment: " + HOSTILE + "\n**bold** <img src=https://evil.example/x.png>")
    content = sent_json(matrix.build_request(alert, OPTIONS, TOKEN, 0.0).body)
    assert content["m.mentions"] == {}  # so @room and names in the body notify nobody
    assert content["body"] == alert["title"] + "\n\n" + alert["text"]
    formatted = content["formatted_body"]
    assert re.sub(r"<b>|</b>|<br>", "", formatted).count("<") == 0
    assert ">" not in re.sub(r"<b>|</b>|<br>", "", formatted) and '"' not in formatted
    assert shown_text(formatted) == content["body"]
    assert formatted.startswith("<b>SSH login: &lt;script&gt;alert(1)&lt;/script&gt; @room &lt;a href=x&gt;")
    assert not any(character in content["body"] + formatted for character in "\r\x00\x1b\u202e")


def test_matrix_keeps_the_content_well_under_the_event_size_limit_and_the_title_whole() -> None:
    alert = event(text=("<\"&> \U0001f680 " * 40 + "\n") * 600)
    request = matrix.build_request(alert, OPTIONS, TOKEN, 0.0)
    assert len(request.body) <= matrix.JSON_LIMIT < 65536
    content = sent_json(request.body)
    assert content["body"].startswith(alert["title"] + "\n\n<") and content["body"].endswith(ELLIPSIS)
    assert content["formatted_body"].startswith("<b>" + alert["title"] + "</b><br><br>&lt;")
    assert shown_text(content["formatted_body"]) == content["body"]


def test_matrix_short_message_is_not_cut() -> None:
    alert = event(text="x" * 20000)
    assert sent_json(matrix.build_request(alert, OPTIONS, TOKEN, 0.0).body)["body"].endswith("x" * 100)


@pytest.mark.parametrize("status, body, headers, state, retry_after, words", [
    (200, b'{"event_id":"$YUwRidLecu:example.com"}', {}, SENT, None, "$YUwRidLecu:example.com"),
    (400, b'{"errcode":"M_BAD_JSON","error":"Content not JSON."}', {}, REFUSED, None, "M_BAD_JSON"),
    (401, b'{"errcode":"M_UNKNOWN_TOKEN","error":"Invalid access token"}', {}, REFUSED, None, "check access_token"),
    (403, b'{"errcode":"M_FORBIDDEN","error":"User not in room"}', {}, REFUSED, None, "M_FORBIDDEN"),
    (404, b'{"errcode":"M_NOT_FOUND","error":"Unknown room"}', {}, REFUSED, None, "not an alias"),
    (413, b'{"errcode":"M_TOO_LARGE","error":"event too large"}', {}, REFUSED, None, "M_TOO_LARGE"),
    (429, b'{"errcode":"M_LIMIT_EXCEEDED","error":"Too many requests"}', {"Retry-After": "7"}, RETRY, 7.0,
     "M_LIMIT_EXCEEDED"),
    (429, b'{"errcode":"M_LIMIT_EXCEEDED","retry_after_ms":2500}', {}, RETRY, 2.5, "M_LIMIT_EXCEEDED"),
    (429, b'{"errcode":"M_LIMIT_EXCEEDED","retry_after_ms":2500}', {"Retry-After": "9"}, RETRY, 9.0, "M_LIMIT"),
    (500, b'{"errcode":"M_UNKNOWN","error":"Internal server error"}', {}, RETRY, None, "M_UNKNOWN"),
    (502, b"<html>Bad Gateway</html>", {}, RETRY, None, "Bad Gateway"),
    (302, b"", {"Location": "https://matrix.example.org/login"}, RETRY, None, "temporary redirect not followed"),
])
def test_matrix_replies_are_classified(world: HttpsWorld, status: int, body: bytes, headers: Dict[str, str],
                                       state: str, retry_after: Optional[float], words: str) -> None:
    world.respond(status, body, headers)
    request = matrix.build_request(event(), {"homeserver": world.url, "room_id": ROOM}, TOKEN, 0.0)
    outcome = matrix.classify(perform(request, timeout=2, deadline=5, ca_file=world.ca_file))
    assert (outcome.state, outcome.retry_after) == (state, retry_after)
    assert words in outcome.detail


def test_matrix_detail_is_one_short_printable_line() -> None:
    body = b'{"errcode":"M_FORBIDDEN","error":"bad\\nline \\u001b[31m\\u202e ' + b"x" * 500 + b'"}'
    detail = matrix.classify(HttpReply(403, {}, body)).detail
    assert len(detail) <= 200 and detail.isprintable() and "\u202e" not in detail


def test_matrix_request_arrives_over_https_as_built(world: HttpsWorld) -> None:
    world.respond(200, b'{"event_id":"$abc:example.org"}')
    alert = hostile_event()
    request = matrix.build_request(alert, {"homeserver": world.url + "/", "room_id": ROOM}, TOKEN, 0.0)
    outcome = matrix.classify(perform(request, timeout=2, deadline=5, ca_file=world.ca_file))
    assert outcome == (SENT, "matrix message $abc:example.org", None)
    [recorded] = world.requests
    assert (recorded.method, recorded.path, recorded.body) == ("PUT", SEND_PATH + alert["id"], request.body)
    assert recorded.headers["authorization"] == "Bearer " + TOKEN
    assert recorded.headers["content-type"] == "application/json"
    assert json.loads(recorded.body)["body"] == alert["title"] + "\n\n" + alert["text"]


def test_matrix_retry_after_a_rate_limit_reaches_the_same_path_over_https(world: HttpsWorld) -> None:
    world.respond(429, b'{"errcode":"M_LIMIT_EXCEEDED","retry_after_ms":1200}', times=1)
    world.respond(200, b'{"event_id":"$abc:example.org"}')
    options = {"homeserver": world.url, "room_id": ROOM}
    first = matrix.classify(perform(matrix.build_request(event(), options, TOKEN, 100.0), timeout=2, deadline=5,
                                    ca_file=world.ca_file))
    second = matrix.classify(perform(matrix.build_request(event(), options, TOKEN, 200.0), timeout=2, deadline=5,
                                     ca_file=world.ca_file))
    assert (first.state, first.retry_after, second.state) == (RETRY, 1.2, SENT)
    assert [(sent.path, sent.body) for sent in world.requests] == [(world.requests[0].path,
                                                                    world.requests[0].body)] * 2
