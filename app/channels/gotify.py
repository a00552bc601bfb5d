"""Gotify: POST the title and text as JSON to {url}/message, the app token in X-Gotify-Key (never in the URL,
where proxies and access logs keep it) and the content type text/plain, so nothing in it renders as markdown."""

from __future__ import annotations

import json

from app.channels.base import (Event, HttpReply, HttpRequest, JsonApi, Outcome, classify_json, numeric_priority,
                               option)
from app.system.text import ELLIPSIS
from app.settings.kinds import OptionValue

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Mapping

NAME = "gotify"
SECRET = "app_token"
SECRET_REQUIRED = True
OPTIONS = ("url", "priority")
DEFAULTS = {"url": "", "priority": "5"}
URGENT_PRIORITY = 8  # sound and vibration on Android
TITLE_LIMIT = 250  # characters; Gotify sets none, but a notification shows one line
MESSAGE_LIMIT = 16000  # characters; none documented, this keeps a digest readable on a phone
_API = JsonApi("gotify", "id", ("error", "errorDescription"), "check url (https, the server's base URL)",
               {401: " (check app_token: it must be an application's token, not a client's)",
                403: " (check app_token: it must be an application's token, not a client's)",
                404: " (check url: the Gotify server's base URL)"})


def cut(text: str, limit: int) -> str:
    """Takes text and a limit in characters; returns it as it is, or cut to the limit with …."""
    return text if len(text) <= limit else text[:limit - 1] + ELLIPSIS


def priority(event: Event, options: Mapping[str, OptionValue]) -> int:
    """Takes the event and the options; returns 8 for an urgent event or a new source, else the priority option
    in 0-10."""
    return numeric_priority(event, options, DEFAULTS["priority"], 0, 10, URGENT_PRIORITY)


def build_request(event: Event, options: Mapping[str, OptionValue], secret: str, now: float) -> HttpRequest:
    """Takes the event, the channel's options, the app token and the time; returns the POST to /message."""
    token = secret.strip()
    title = str(event.get("title", ""))
    message = {"title": cut(title, TITLE_LIMIT), "message": cut(str(event.get("text", "")) or title, MESSAGE_LIMIT),
               "priority": priority(event, options),
               "extras": {"client::display": {"contentType": "text/plain"}}}
    url = option(options, "url").strip().rstrip("/") + "/message"
    headers = (("Content-Type", "application/json"), ("X-Gotify-Key", token))
    return HttpRequest("POST", url, headers, json.dumps(message).encode("utf-8"), (token,) if token else ())


def classify(reply: HttpReply) -> Outcome:
    """Takes Gotify's reply; returns sent on 2xx, retry on 429 and 5xx, refused otherwise (bad token, bad
    message), with Gotify's errorDescription."""
    return classify_json(_API, reply)
