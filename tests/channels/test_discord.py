"""Discord webhook: content with markdown escaped, no mention parsed, embeds suppressed, ?wait=true; sent for
real to an HTTPS server on loopback, and every reply classified (404 never retried)."""

import re
from typing import Dict, Optional

import pytest

from app.channels import discord
from app.channels.base import REFUSED, RETRY, SENT, HttpReply
from app.channels.http import perform
from app.system.text import ELLIPSIS
from support.httpsworld import HttpsWorld, event, hostile_event, sent_json

WEBHOOK = "https://discord.com/api/webhooks/123456789012345678/AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcdefgh"
HOOK_PATH = "/api/webhooks/123456789012345678/AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcdefgh"


def unescaped(content: str) -> str:
    """What Discord shows for escaped content: each backslash-escaped character as itself."""
    return re.sub(r"\\(.)", r"\1", content)


def test_discord_posts_content_with_no_mentions_and_no_embeds_and_waits() -> None:
    alert = event()
    request = discord.build_request(alert, {}, WEBHOOK, 0.0)
    assert (request.method, request.url) == ("POST", WEBHOOK + "?wait=true")
    assert request.headers == (("Content-Type", "application/json"),)
    message = sent_json(request.body)
    assert message == {"content": discord.escape(alert["title"]) + "\n\n" + discord.escape(alert["text"]),
                       "allowed_mentions": {"parse": []}, "flags": 4}
    assert unescaped(message["content"]) == alert["title"] + "\n\n" + alert["text"]


def test_discord_adds_wait_to_a_webhook_that_has_a_query_already() -> None:
    request = discord.build_request(event(), {}, WEBHOOK + "?thread_id=42", 0.0)
    assert request.url == WEBHOOK + "?thread_id=42&wait=true"


def test_discord_webhook_url_and_its_path_are_secrets() -> None:
    assert set(discord.build_request(event(), {}, WEBHOOK, 0.0).secrets) == {
        WEBHOOK, WEBHOOK + "?wait=true", HOOK_PATH}


def test_discord_escapes_every_markdown_character() -> None:
    assert discord.escape("*b* _i_ ~s~ `c` ||x|| > q # h - l [t](u) <@1> \\") == \
        "\\*b\\* \\_i\\_ \\~s\\~ \\`c\\` \\|\\|x\\|\\| \\> q \\# h \\- l \\[t\\]\\(u\\) \\<@1\\> \\\\"


def test_discord_cuts_content_to_2000_characters_without_splitting_an_escape_and_keeps_the_title() -> None:
    alert = event(text="*" * 3000)
    content = sent_json(discord.build_request(alert, {}, WEBHOOK, 0.0).body)["content"]
    assert len(content) <= 2000 and content.endswith("\\*" + ELLIPSIS)
    assert content.startswith(discord.escape(alert["title"]) + "\n\n")
    for limit in (100, 101):
        assert discord.content("title", "*" * 200, limit).endswith("\\*" + ELLIPSIS)


def test_discord_request_arrives_over_https_as_built(world: HttpsWorld) -> None:
    world.respond(200, b'{"id":"1180000000000000000","type":0,"content":"..."}')
    request = discord.build_request(event(), {}, world.url + HOOK_PATH, 0.0)
    outcome = discord.classify(perform(request, timeout=2, deadline=5, ca_file=world.ca_file))
    assert outcome == (SENT, "discord message 1180000000000000000", None)
    [recorded] = world.requests
    assert (recorded.method, recorded.path) == ("POST", HOOK_PATH + "?wait=true")
    assert recorded.headers["content-type"] == "application/json" and recorded.body == request.body
    assert not recorded.headers["user-agent"].startswith("Python-urllib")  # Cloudflare's 403 error 1010


def test_discord_hostile_fields_arrive_inert(world: HttpsWorld) -> None:
    alert = hostile_event()
    perform(discord.build_request(alert, {}, world.url + HOOK_PATH, 0.0), timeout=2, deadline=5,
            ca_file=world.ca_file)
    message = sent_json(world.requests[0].body)
    assert message["allowed_mentions"] == {"parse": []} and message["flags"] == 4
    content = message["content"]
    assert unescaped(content) == alert["title"] + "\n\n" + alert["text"]
    assert re.search(r"(?<!\\)[*_~`|>#\[\]()<-]", content.replace("\\\\", "")) is None  # no bare markdown
    assert not any(character in content for character in "\r\x00\x1b\u202e")


@pytest.mark.parametrize("status, body, headers, state, retry_after, words", [
    (200, b'{"id":"99"}', {}, SENT, None, "message 99"),
    (204, b"", {}, SENT, None, "discord"),
    (400, b'{"code":50006,"message":"Cannot send an empty message"}', {}, REFUSED, None, "50006 Cannot send"),
    (401, b'{"code":50027,"message":"Invalid Webhook Token"}', {}, REFUSED, None, "Invalid Webhook Token"),
    (403, b"<html>error code: 1010</html>", {}, REFUSED, None, "1010"),
    (404, b'{"code":10015,"message":"Unknown Webhook"}', {}, REFUSED, None, "make a new one"),
    (413, b'{"code":40005,"message":"Request entity too large"}', {}, REFUSED, None, "40005"),
    (429, b'{"message":"You are being rate limited.","retry_after":1.234,"global":false}', {"Retry-After": "2"},
     RETRY, 2.0, "rate limited"),
    (429, b'{"message":"You are being rate limited.","retry_after":0.75,"global":false}', {}, RETRY, 0.75,
     "rate limited"),
    (500, b"", {}, RETRY, None, "500"),
    (502, b"<html>Bad Gateway</html>", {}, RETRY, None, "Bad Gateway"),
    (301, b"", {"Location": "https://discord.com/"}, REFUSED, None, "check webhook_url"),
])
def test_discord_replies_are_classified(world: HttpsWorld, status: int, body: bytes, headers: Dict[str, str],
                                        state: str, retry_after: Optional[float], words: str) -> None:
    world.respond(status, body, headers)
    request = discord.build_request(event(), {}, world.url + HOOK_PATH, 0.0)
    outcome = discord.classify(perform(request, timeout=2, deadline=5, ca_file=world.ca_file))
    assert (outcome.state, outcome.retry_after) == (state, retry_after)
    assert words in outcome.detail and "AbCdEf" not in outcome.detail


def test_discord_detail_is_one_short_printable_line() -> None:
    body = b'{"code":50035,"message":"Invalid\\nForm \\u001b[31m\\u202e' + b"x" * 500 + b'"}'
    detail = discord.classify(HttpReply(400, {}, body)).detail
    assert len(detail) <= 200 and detail.isprintable() and "\u202e" not in detail
