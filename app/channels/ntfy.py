"""ntfy (ntfy.sh or self-hosted): POST the plain text to the topic URL, the title in X-Title."""

import base64
import re
from typing import Mapping

from app.channels.base import Event, HttpReply, HttpRequest, Outcome, classify_json, fit, option

NAME = "ntfy"
SECRET = "token"
SECRET_REQUIRED = False
OPTIONS = ("url", "priority", "tags")
DEFAULTS = {"url": "", "priority": "high", "tags": "warning"}
MESSAGE_LIMIT = 4096  # bytes; a longer body becomes an attachment
_SEQUENCE_ID = re.compile(r"^[-_A-Za-z0-9]{1,64}$")  # ntfy's sequenceIDRegex; anything else is a 400


def header_text(text: str) -> str:
    """Takes text for a header; returns it as it is when plain ASCII, else as one RFC 2047 UTF-8 word.

    ntfy decodes encoded words in every header, so text that merely contains "=?" is encoded too: a title
    carrying "=?utf-8?q?=0A?=" must arrive as those characters, not as a line break.
    """
    text = " ".join(text.splitlines())
    if "=?" not in text and all(" " <= character < "\x7f" for character in text):
        return text
    return "=?UTF-8?B?" + base64.b64encode(text.encode("utf-8", "replace")).decode("ascii") + "?="


def build_request(event: Event, options: Mapping[str, str], secret: str, now: float) -> HttpRequest:
    """Takes the event, the channel's options, the access token ("" for none) and the time; returns the POST."""
    title = str(event.get("title", ""))
    priority = "urgent" if event.get("urgent") else option(options, "priority", DEFAULTS["priority"])
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("X-Title", header_text(title)),
               ("X-Priority", priority), ("X-Tags", option(options, "tags", DEFAULTS["tags"]))]
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
    return classify_json("ntfy", reply, "id", ("code", "error"), "check url (https, exact topic URL)",
                         {401: " (check the token)", 403: " (the token may not publish to this topic)"})
