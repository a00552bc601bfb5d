"""Slack incoming webhook: {"text", "mrkdwn": false} with &, < and > escaped, so nothing in it is a mention,
a link or a command."""

import json
from typing import Dict, Mapping, Tuple

from app.channels.base import (REFUSED, RETRY, SENT, Event, HttpReply, HttpRequest, Outcome, classify_status, fit,
                               one_line, url_secrets)
from app.system.text import ELLIPSIS

NAME = "slack"
SECRET = "webhook_url"
SECRET_REQUIRED = True
OPTIONS: Tuple[str, ...] = ()
DEFAULTS: Dict[str, str] = {}
TEXT_LIMIT = 4000  # characters after escaping (Slack's advice; it truncates at 40,000)
_HINTS = {404: " (the webhook was removed or its channel is gone: make a new one)",
          403: " (posting is not allowed here)", 410: " (the channel is archived)"}


def escape(text: str) -> str:
    """Takes text; returns it with Slack's three control characters escaped, and nothing else changed."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def message_text(title: str, text: str, limit: int = TEXT_LIMIT) -> str:
    """Takes the title and text; returns them escaped and cut to limit characters, never inside an entity."""
    title, text = escape(title), escape(text)
    whole = fit(title, text, limit)
    if whole != fit(title, text, len(title) + len(text) + 2):  # it was cut
        head = whole[:-1]
        ampersand = head.rfind("&")
        if ampersand >= 0 and ";" not in head[ampersand:]:
            whole = head[:ampersand] + ELLIPSIS
    return whole


def build_request(event: Event, options: Mapping[str, str], secret: str, now: float) -> HttpRequest:
    """Takes the event, the (unused) options, the webhook URL and the time; returns the POST to the webhook."""
    url = secret.strip()
    message = {"text": message_text(str(event.get("title", "")), str(event.get("text", ""))), "mrkdwn": False,
               "unfurl_links": False, "unfurl_media": False}
    body = json.dumps(message).encode("utf-8")
    return HttpRequest("POST", url, (("Content-Type", "application/json"),), body, url_secrets(url))


def classify(reply: HttpReply) -> Outcome:
    """Takes Slack's reply; returns sent only on 200 "ok", retry on 429 (Retry-After) and 5xx, refused on other
    codes, with Slack's error code (invalid_payload, channel_is_archived, no_service...) in the detail."""
    code = reply.body[:200].decode("utf-8", "replace").strip()
    if reply.status == 200:
        if code == "ok":
            return Outcome(SENT, "slack ok")
        return Outcome(RETRY, one_line("slack: HTTP 200 without ok: " + code))
    if 300 <= reply.status < 400:
        return Outcome(REFUSED, one_line("slack: HTTP {} redirect not followed; check webhook_url".format(
            reply.status)))
    hint = _HINTS.get(reply.status, "")
    if code in ("no_service", "no_active_hooks", "invalid_token"):
        hint = _HINTS[404]
    detail = one_line("slack: HTTP {} {}{}".format(reply.status, code, hint))
    if 200 < reply.status < 300:
        return Outcome(RETRY, detail)
    return classify_status(reply.status, detail, reply.headers)
