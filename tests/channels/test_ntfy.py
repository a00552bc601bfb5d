"""ntfy: the request (raw UTF-8 body, X-Title in RFC 2047 when needed, priority, tags, sequence id, bearer
token), sent for real to an HTTPS server on loopback, and every reply classified."""

import email.header
from typing import Dict, Optional

import pytest

from app.channels import ntfy
from app.channels.base import REFUSED, RETRY, SENT, HttpReply
from app.channels.http import perform
from app.system.text import ELLIPSIS
from support.httpsworld import API_REPLIES, HttpsWorld, event, headers_of, hostile_event

TOKEN = "tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2"


def decoded(value: str) -> str:
    return str(email.header.make_header(email.header.decode_header(value)))


def test_ntfy_posts_the_plain_text_to_the_topic_url() -> None:
    alert = event()
    request = ntfy.build_request(alert, {"url": "https://ntfy.sh/alerts"}, "", 0.0)
    assert (request.method, request.url, request.secrets) == ("POST", "https://ntfy.sh/alerts", ())
    assert request.body == (alert["title"] + "\n\n" + alert["text"]).encode("utf-8")
    assert headers_of(request) == {"content-type": "text/plain; charset=utf-8", "x-title": alert["title"],
                                   "x-priority": "default", "x-tags": "warning", "x-sequence-id": alert["id"]}


def test_ntfy_sends_the_token_as_a_bearer_and_names_it_a_secret() -> None:
    request = ntfy.build_request(event(), {"url": "https://ntfy.sh/alerts"}, " " + TOKEN + "\n", 0.0)
    assert headers_of(request)["authorization"] == "Bearer " + TOKEN
    assert request.secrets == (TOKEN,)


def test_ntfy_marks_an_urgent_event_urgent_and_takes_priority_and_tags_from_options() -> None:
    options = {"url": "https://ntfy.sh/a", "priority": "default", "tags": "lock,computer"}
    assert headers_of(ntfy.build_request(event(), options, "", 0.0))["x-priority"] == "default"
    assert headers_of(ntfy.build_request(event(), options, "", 0.0))["x-tags"] == "lock,computer"
    assert headers_of(ntfy.build_request(event(urgent=True), options, "", 0.0))["x-priority"] == "urgent"


def test_ntfy_leaves_out_a_sequence_id_that_ntfy_would_refuse() -> None:
    request = ntfy.build_request(event(id="evt/../x y"), {"url": "https://ntfy.sh/a"}, "", 0.0)
    assert "x-sequence-id" not in headers_of(request)


def test_ntfy_encodes_a_non_ascii_title_as_one_rfc2047_word() -> None:
    title = "SSH login: \u0142ukasz@web1 from 203.0.113.7 \U0001f680"
    header = headers_of(ntfy.build_request(event(title), {"url": "https://ntfy.sh/a"}, "", 0.0))["x-title"]
    assert header.startswith("=?UTF-8?B?") and header.isascii() and decoded(header) == title


def test_ntfy_encodes_a_title_that_merely_looks_encoded_so_it_arrives_as_written() -> None:
    title = "SSH login: =?utf-8?q?=0D=0AX-Evil:_1?=@web1"
    header = headers_of(ntfy.build_request(event(title), {"url": "https://ntfy.sh/a"}, "", 0.0))["x-title"]
    assert header.startswith("=?UTF-8?B?") and decoded(header) == title


def test_ntfy_cuts_the_body_to_4096_bytes_on_a_character_boundary_and_keeps_the_title() -> None:
    alert = event(text="\u00e9\U0001f680" * 3000)
    body = ntfy.build_request(alert, {"url": "https://ntfy.sh/a"}, "", 0.0).body
    assert len(body) <= 4096
    text = body.decode("utf-8")
    assert text.startswith(alert["title"] + "\n\n") and text.endswith(ELLIPSIS)


def test_ntfy_request_arrives_over_https_as_built(world: HttpsWorld) -> None:
    world.respond(200, b'{"id":"hwQ2YpKdmg","event":"message","topic":"alerts"}')
    request = ntfy.build_request(event(), {"url": world.url + "/alerts"}, TOKEN, 0.0)
    outcome = ntfy.classify(perform(request, timeout=2, deadline=5, ca_file=world.ca_file))
    assert outcome == (SENT, "ntfy message hwQ2YpKdmg", None)
    [recorded] = world.requests
    assert (recorded.method, recorded.path, recorded.body) == ("POST", "/alerts", request.body)
    assert recorded.headers["authorization"] == "Bearer " + TOKEN
    assert recorded.headers["x-sequence-id"] == event()["id"]


def test_ntfy_hostile_fields_arrive_inert(world: HttpsWorld) -> None:
    world.default_reply = API_REPLIES["ntfy"]
    alert = hostile_event()
    request = ntfy.build_request(alert, {"url": world.url + "/alerts"}, "", 0.0)
    assert ntfy.classify(perform(request, timeout=2, deadline=5, ca_file=world.ca_file)).state == SENT
    [recorded] = world.requests
    assert set(recorded.headers) == {"content-type", "x-title", "x-priority", "x-tags", "x-sequence-id",
                                     "content-length", "host", "user-agent", "accept-encoding", "connection"}
    assert decoded(recorded.headers["x-title"]) == alert["title"]
    body = recorded.body.decode("utf-8")
    assert body == alert["title"] + "\n\n" + alert["text"]
    assert not any(character in body for character in "\r\x00\x1b\u202e")
    assert body.count("\n") == 3  # the blank line after the title and the text's own line break


@pytest.mark.parametrize("status, body, headers, state, retry_after, words", [
    (200, b'{"id":"abc","event":"message"}', {}, SENT, None, "abc"),
    (400, b'{"code":40007,"http":400,"error":"invalid priority"}', {}, REFUSED, None, "40007 invalid priority"),
    (401, b'{"code":40101,"http":401,"error":"unauthorized"}', {}, REFUSED, None, "check the token"),
    (403, b'{"code":40301,"http":403,"error":"forbidden"}', {}, REFUSED, None, "40301"),
    (404, b"404 page not found", {}, REFUSED, None, "404 page not found"),
    (413, b'{"code":41301,"http":413,"error":"too large"}', {}, REFUSED, None, "41301"),
    (429, b'{"code":42901,"http":429,"error":"limit reached"}', {"Retry-After": "30"}, RETRY, 30.0, "42901"),
    (429, b'{"code":42908,"http":429,"error":"daily quota"}', {}, RETRY, None, "42908"),
    (500, b'{"code":50001,"http":500,"error":"internal"}', {}, RETRY, None, "50001"),
    (502, b"<html>Bad Gateway</html>", {}, RETRY, None, "Bad Gateway"),
    (302, b"", {"Location": "https://ntfy.sh/login"}, RETRY, None, "temporary redirect not followed"),
])
def test_ntfy_replies_are_classified(world: HttpsWorld, status: int, body: bytes, headers: Dict[str, str],
                                     state: str, retry_after: Optional[float], words: str) -> None:
    world.respond(status, body, headers)
    request = ntfy.build_request(event(), {"url": world.url + "/alerts"}, "", 0.0)
    outcome = ntfy.classify(perform(request, timeout=2, deadline=5, ca_file=world.ca_file))
    assert (outcome.state, outcome.retry_after) == (state, retry_after)
    assert words in outcome.detail


def test_ntfy_detail_is_one_short_printable_line() -> None:
    body = b'{"code":40000,"error":"bad\\nline \\u001b[31m\\u202e ' + b"x" * 500 + b'"}'
    detail = ntfy.classify(HttpReply(400, {}, body)).detail
    assert len(detail) <= 200 and detail.isprintable() and "\u202e" not in detail
