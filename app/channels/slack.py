"""Slack: an incoming webhook, or with channel set a bot token's chat.postMessage; {"text", "mrkdwn": false}
with &, < and > escaped, so nothing in it is a mention, a link or a command."""

from __future__ import annotations

import json

from app.channels.base import (REFUSED, RETRY, SENT, Event, HttpReply, HttpRequest, Outcome, classify_redirect,
                               classify_status, excerpt, fit, one_line, option, reply_json, unproven, url_secrets)
from app.system.text import ELLIPSIS
from app.settings.kinds import OptionValue

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, Mapping, Tuple

NAME = "slack"
SECRET = "webhook_url"
SECRET_REQUIRED = True
OPTIONS: Tuple[str, ...] = ("channel", "api_base")
DEFAULTS: Dict[str, str] = {"channel": "", "api_base": "https://slack.com/api"}
_GONE = ("no_service", "no_active_hooks", "invalid_token", "channel_not_found", "is_archived", "not_in_channel",
         "invalid_auth", "account_inactive", "token_revoked")
_TEMPORARY = ("ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout")
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


def bot_mode(options: Mapping[str, OptionValue]) -> bool:
    """Takes the options; returns whether a channel is set: then the secret is a bot token for chat.postMessage."""
    return bool(option(options, "channel").strip())


def build_request(event: Event, options: Mapping[str, OptionValue], secret: str, now: float) -> HttpRequest:
    """Takes the event, the options, the secret (the webhook URL, or the bot token when channel is set) and the
    time; returns the POST to the webhook, or to chat.postMessage with the token as a bearer."""
    secret = secret.strip()
    message = {"text": message_text(str(event.get("title", "")), str(event.get("text", ""))), "mrkdwn": False,
               "unfurl_links": False, "unfurl_media": False}
    if bot_mode(options):
        message["channel"] = option(options, "channel").strip()
        url = option(options, "api_base", DEFAULTS["api_base"]).strip().rstrip("/") + "/chat.postMessage"
        headers = (("Content-Type", "application/json; charset=utf-8"), ("Authorization", "Bearer " + secret))
        return HttpRequest("POST", url, headers, json.dumps(message).encode("utf-8"), (secret,) if secret else ())
    body = json.dumps(message).encode("utf-8")
    return HttpRequest("POST", secret, (("Content-Type", "application/json"),), body, url_secrets(secret))


def classify(reply: HttpReply) -> Outcome:
    """Takes Slack's reply; returns sent only on 200 "ok" (webhook) or 200 {"ok": true} (chat.postMessage), retry
    on 429 (Retry-After), 5xx, a temporary redirect and an unproven 200, refused on other codes and Web API
    errors, with Slack's error code (invalid_payload, channel_is_archived, no_service...) in the detail."""
    code = reply.body[:200].decode("utf-8", "replace").strip()
    answer = reply_json(reply.body)
    if reply.status == 200:
        if code == "ok" or answer.get("ok") is True:
            return Outcome(SENT, one_line("slack ok {}".format(answer.get("ts", ""))).strip())
        error = answer.get("error")
        if answer.get("ok") is False and isinstance(error, str):  # the Web API answers its errors with 200
            detail = one_line("slack: {}{}".format(error, _HINTS.get(404, "") if error in _GONE else ""))
            if error in _TEMPORARY:
                return Outcome(RETRY, detail)
            return Outcome(REFUSED, detail)
        return unproven("slack", reply, '"ok"')
    if 300 <= reply.status < 400:
        return classify_redirect("slack", reply.status, "check webhook_url")
    hint = _HINTS.get(reply.status, "")
    if code in _GONE:
        hint = _HINTS[404]
    detail = one_line("slack: HTTP {} reply: {}{}".format(reply.status, excerpt(reply.body), hint), 600)
    if 200 < reply.status < 300:
        return unproven("slack", reply, '"ok"')
    return classify_status(reply.status, detail, reply.headers)
