"""ntfy (ntfy.sh or self-hosted): POST the plain text to the topic URL, the title in X-Title."""

from __future__ import annotations

import base64
import re

from app.channels.base import (NEW_SOURCE, URGENT, Event, HttpReply, HttpRequest, JsonApi, Outcome, attention,
                               classify_json, fit, option)
from app.settings.kinds import OptionValue

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Mapping

NAME = "ntfy"
SECRET = "token"
SECRET_REQUIRED = False
OPTIONS = ("url", "priority", "tags", "click", "icon")
DEFAULTS = {"url": "", "priority": "default", "tags": "warning"}
PRIORITIES = ("min", "low", "default", "high", "urgent")  # 1-5
MESSAGE_LIMIT = 4096  # bytes; a longer body becomes an attachment
_SEQUENCE_ID = re.compile(r"^[-_A-Za-z0-9]{1,64}$")  # ntfy's sequenceIDRegex; anything else is a 400
_API = JsonApi("ntfy", "id", ("code", "error"), "check url (https, exact topic URL)",
               {401: " (check the token)", 403: " (the token may not publish to this topic)"})


def header_text(text: str) -> str:
    """Takes text for a header; returns it as it is when plain ASCII, else as one RFC 2047 UTF-8 word.

    ntfy decodes encoded words in every header, so text that merely contains "=?" is encoded too: a title
    carrying "=?utf-8?q?=0A?=" must arrive as those characters, not as a line break.
    """
    text = " ".join(text.splitlines())
    if "=?" not in text and all(" " <= character < "\x7f" for character in text):
        return text
    return "=?UTF-8?B?" + base64.b64encode(text.encode("utf-8", "replace")).decode("ascii") + "?="


def priority(event: Event, options: Mapping[str, OptionValue]) -> str:
    """Takes the event and the options; returns urgent (5) for an urgent event, at least high (4) for a new source,
    else the priority option (default: 3)."""
    configured = option(options, "priority", DEFAULTS["priority"]).strip().lower()
    if configured not in PRIORITIES:
        configured = DEFAULTS["priority"]
    level = attention(event)
    if level == URGENT:
        return "urgent"
    if level == NEW_SOURCE and PRIORITIES.index(configured) < PRIORITIES.index("high"):
        return "high"
    return configured


def build_request(event: Event, options: Mapping[str, OptionValue], secret: str, now: float) -> HttpRequest:
    """Takes the event, the channel's options, the access token ("" for none) and the time; returns the POST."""
    title = str(event.get("title", ""))
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("X-Title", header_text(title)),
               ("X-Priority", priority(event, options)), ("X-Tags", header_text(option(options, "tags",
                                                                                       DEFAULTS["tags"])))]
    for name in ("click", "icon"):
        if option(options, name).strip():
            headers.append(("X-" + name.capitalize(), header_text(option(options, name).strip())))
    event_id = str(event.get("id", ""))
    if _SEQUENCE_ID.match(event_id):
        headers.append(("X-Sequence-ID", event_id))
    token = secret.strip()
    if token:
        headers.append(("Authorization", "Bearer " + token))
    body = fit(title, str(event.get("text", "")), MESSAGE_LIMIT, "bytes").encode("utf-8")
    return HttpRequest("POST", option(options, "url"), tuple(headers), body, (token,) if token else ())


def classify(reply: HttpReply) -> Outcome:
    """Takes ntfy's reply; returns sent on 2xx, retry on 429/5xx, refused otherwise, with ntfy's reason."""
    return classify_json(_API, reply)
