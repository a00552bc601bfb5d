"""Discord webhook: content with Discord markdown escaped, no mention parsed (allowed_mentions), no embeds
(SUPPRESS_EMBEDS), and ?wait=true so a 200 means the message was saved."""

from __future__ import annotations

import json
import re
import urllib.parse

from app.channels.base import (SENT, Event, HttpReply, HttpRequest, Outcome, classify_redirect, classify_status,
                               excerpt, fit, one_line, reply_json, unproven, url_secrets)
from app.system.text import ELLIPSIS
from app.settings.kinds import OptionValue

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, Mapping, Optional, Tuple

NAME = "discord"
SECRET = "webhook_url"
SECRET_REQUIRED = True
OPTIONS: Tuple[str, ...] = ("thread_id",)
DEFAULTS: Dict[str, str] = {"thread_id": ""}
CONTENT_LIMIT = 2000
SUPPRESS_EMBEDS = 1 << 2
_MARKDOWN = re.compile(r"([\\*_~`|>#\-\[\]()<])")  # < too: <@id>, <#id>, <t:...> would render as pills
_HINTS = {404: " (the webhook was deleted: make a new one)", 401: " (check webhook_url)",
          403: " (check webhook_url)"}


def escape(text: str) -> str:
    """Takes text; returns it with every Discord markdown character backslash-escaped."""
    return _MARKDOWN.sub(r"\\\1", text)


def content(title: str, text: str, limit: int = CONTENT_LIMIT) -> str:
    """Takes the title and text; returns them escaped and cut to limit characters, never between a backslash
    and the character it escapes."""
    title, text = escape(title), escape(text)
    whole = fit(title, text, limit)
    if whole != fit(title, text, len(title) + len(text) + 2):  # it was cut
        head = whole[:-1]
        backslashes = len(head) - len(head.rstrip("\\"))
        whole = (head[:-1] if backslashes % 2 else head) + ELLIPSIS
    return whole


def build_request(event: Event, options: Mapping[str, OptionValue], secret: str, now: float) -> HttpRequest:
    """Takes the event, the options (thread_id), the webhook URL and the time; returns the POST to the webhook."""
    url = secret.strip()
    message = {"content": content(str(event.get("title", "")), str(event.get("text", ""))),
               "allowed_mentions": {"parse": []}, "flags": SUPPRESS_EMBEDS}
    body = json.dumps(message).encode("utf-8")
    target = url + ("&" if "?" in url else "?") + "wait=true"
    thread = str(options.get("thread_id") or "").strip()
    if thread:
        target += "&thread_id=" + urllib.parse.quote(thread, safe="")
    return HttpRequest("POST", target, (("Content-Type", "application/json"),), body,
                       (target,) + url_secrets(url))


def classify(reply: HttpReply) -> Outcome:
    """Takes Discord's reply; returns sent on 2xx, retry on 429 (Retry-After or retry_after) and 5xx, refused
    otherwise (404 above all: retrying a deleted webhook earns a ban)."""
    answer = reply_json(reply.body)
    if reply.status == 204:
        return Outcome(SENT, "discord: HTTP 204")
    if 200 <= reply.status < 300:
        if isinstance(answer.get("id"), str) and answer["id"]:
            return Outcome(SENT, one_line("discord message {}".format(answer["id"])))
        return unproven("discord", reply, "the message JSON (id)")
    if 300 <= reply.status < 400:
        return classify_redirect("discord", reply.status, "check webhook_url")
    reason = "{} {}".format(answer.get("code", ""), answer.get("message", "")).strip()
    limit = 200
    if not reason:
        reason, limit = "reply: " + excerpt(reply.body), 600
    detail = one_line("discord: HTTP {} {}{}".format(reply.status, reason, _HINTS.get(reply.status, "")), limit)
    retry_after: Optional[float] = None
    if isinstance(answer.get("retry_after"), (int, float)) and not isinstance(answer.get("retry_after"), bool):
        retry_after = float(answer["retry_after"])
    return classify_status(reply.status, detail, reply.headers, retry_after)
