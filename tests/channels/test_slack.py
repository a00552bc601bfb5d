"""Slack incoming webhook: {"text", "mrkdwn": false} with exactly &, < and > escaped, cut at 4000 characters
without splitting an entity; sent for real to an HTTPS server on loopback, and every reply classified."""

from typing import Dict, Optional

import pytest

from app.channels import slack
from app.channels.base import REFUSED, RETRY, SENT, HttpReply
from app.channels.http import perform
from app.system.text import ELLIPSIS
from support.httpsworld import HttpsWorld, event, hostile_event, sent_json

WEBHOOK = "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"


def hook(world: HttpsWorld) -> str:
    return world.url + "/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"


def test_slack_posts_plain_text_with_mrkdwn_off_to_the_webhook() -> None:
    alert = event()
    request = slack.build_request(alert, {}, WEBHOOK, 0.0)
    assert (request.method, request.url, request.headers) == ("POST", WEBHOOK, (("Content-Type", "application/json"),))
    assert sent_json(request.body) == {"text": alert["title"] + "\n\n" + alert["text"], "mrkdwn": False,
                                       "unfurl_links": False, "unfurl_media": False}


def test_slack_webhook_url_and_its_path_are_secrets() -> None:
    assert slack.build_request(event(), {}, WEBHOOK + "\n", 0.0).secrets == (
        WEBHOOK, "/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX")


def test_slack_escapes_channel_mention_user_mention_and_links() -> None:
    text = sent_json(slack.build_request(event("<!channel> <@U024BE7LH> <https://evil.example|click>"), {},
                                         WEBHOOK, 0.0).body)["text"]
    assert text.startswith("&lt;!channel&gt; &lt;@U024BE7LH&gt; &lt;https://evil.example|click&gt;")
    assert "<" not in text and ">" not in text


def test_slack_escapes_exactly_ampersand_and_angle_brackets() -> None:
    assert slack.escape("a & b < c > d *e* _f_ `g` @here #x &amp;") == \
        "a &amp; b &lt; c &gt; d *e* _f_ `g` @here #x &amp;amp;"


def test_slack_cuts_after_escaping_without_splitting_an_entity_and_keeps_the_title() -> None:
    alert = event(text="<" * 5000)
    text = sent_json(slack.build_request(alert, {}, WEBHOOK, 0.0).body)["text"]
    assert len(text) <= 4000 and text.startswith(alert["title"] + "\n\n") and text.endswith("&lt;" + ELLIPSIS)
    for limit in range(100, 120):  # every cut point across an entity
        cut = slack.message_text("title", "&" * 50, limit)
        assert len(cut) <= limit and cut.endswith("&amp;" + ELLIPSIS)


def test_slack_request_arrives_over_https_as_built(world: HttpsWorld) -> None:
    world.respond(200, b"ok", {"Content-Type": "text/html"})
    request = slack.build_request(event(), {}, hook(world), 0.0)
    assert slack.classify(perform(request, timeout=2, deadline=5, ca_file=world.ca_file)) == (SENT, "slack ok", None)
    [recorded] = world.requests
    assert (recorded.method, recorded.path) == ("POST", "/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX")
    assert recorded.headers["content-type"] == "application/json" and recorded.body == request.body


def test_slack_hostile_fields_arrive_inert(world: HttpsWorld) -> None:
    world.respond(200, b"ok")
    alert = hostile_event()
    perform(slack.build_request(alert, {}, hook(world), 0.0), timeout=2, deadline=5, ca_file=world.ca_file)
    message = sent_json(world.requests[0].body)
    assert message["mrkdwn"] is False
    assert message["text"] == slack.escape(alert["title"]) + "\n\n" + slack.escape(alert["text"])
    assert "<" not in message["text"] and ">" not in message["text"]
    assert not any(character in message["text"] for character in "\r\x00\x1b\u202e")


@pytest.mark.parametrize("status, body, headers, state, retry_after, words", [
    (200, b"ok", {}, SENT, None, "ok"),
    (200, b"<html>captive portal</html>", {}, RETRY, None, 'without "ok"'),
    (204, b"", {}, RETRY, None, "204"),
    (400, b"invalid_payload", {}, REFUSED, None, "invalid_payload"),
    (400, b"no_text", {}, REFUSED, None, "no_text"),
    (403, b"action_prohibited", {}, REFUSED, None, "action_prohibited"),
    (404, b"no_service", {}, REFUSED, None, "make a new one"),
    (404, b"channel_not_found", {}, REFUSED, None, "channel_not_found"),
    (410, b"channel_is_archived", {}, REFUSED, None, "channel_is_archived"),
    (413, b"<html>Request Entity Too Large</html>", {}, REFUSED, None, "413"),
    (429, b"rate_limited", {"Retry-After": "30"}, RETRY, 30.0, "rate_limited"),
    (500, b"rollup_error", {}, RETRY, None, "rollup_error"),
    (503, b"", {"Retry-After": "5"}, RETRY, 5.0, "503"),
    (302, b"", {"Location": "https://slack.com/"}, RETRY, None, "check webhook_url"),
    (301, b"", {"Location": "https://slack.com/"}, REFUSED, None, "moved permanently"),
])
def test_slack_replies_are_classified(world: HttpsWorld, status: int, body: bytes, headers: Dict[str, str],
                                      state: str, retry_after: Optional[float], words: str) -> None:
    world.respond(status, body, headers)
    request = slack.build_request(event(), {}, hook(world), 0.0)
    outcome = slack.classify(perform(request, timeout=2, deadline=5, ca_file=world.ca_file))
    assert (outcome.state, outcome.retry_after) == (state, retry_after)
    assert words in outcome.detail and "XXXXXXXX" not in outcome.detail


def test_slack_detail_is_one_printable_line_with_the_first_200_characters_of_the_reply_escaped() -> None:
    detail = slack.classify(HttpReply(400, {}, b"invalid\n\x1b[31m\xe2\x80\xae" + b"x" * 500)).detail
    assert detail.isprintable() and "\u202e" not in detail and len(detail) <= 600
    assert '"invalid\\x0a\\x1b[31m\\u202e' + "x" * 186 + '"...' in detail
