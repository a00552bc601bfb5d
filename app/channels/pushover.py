"""Pushover: POST a form to /1/messages.json with the app token and the user key; no html=1, so nothing in
the text is markup; priority 1 at most (2 would need retry, expire and a receipt to poll)."""

import urllib.parse
from typing import List, Mapping

from app.channels.base import (REFUSED, RETRY, SENT, Event, HttpReply, HttpRequest, Outcome, classify_status, fit,
                               numeric_priority, one_line, option, reply_json)
from app.system.text import ELLIPSIS

NAME = "pushover"
SECRET = "app_token"
SECRET_REQUIRED = True
OPTIONS = ("user_key", "priority", "api_base")
DEFAULTS = {"user_key": "", "priority": "0", "api_base": "https://api.pushover.net"}
TITLE_LIMIT = 250  # characters
MESSAGE_LIMIT = 1024  # characters
URGENT_PRIORITY = 1
SERVER_ERROR_WAIT = 5.0  # seconds at least before resending after a 5xx (Pushover's rule)
_HINTS = {"token": " (check app_token)", "user": " (check user_key)"}


def priority(event: Event, options: Mapping[str, str]) -> int:
    """Takes the event and the options; returns 1 for an urgent event, else the priority option in -2..1."""
    return numeric_priority(event, options, DEFAULTS["priority"], -2, URGENT_PRIORITY, URGENT_PRIORITY)


def title_and_message(title: str, text: str) -> List[str]:
    """Takes the title and text; returns [title, message] within Pushover's limits. When the title must be
    cut, the message starts with it whole, so who, where and from which address are still read first."""
    if len(title) <= TITLE_LIMIT:
        return [title, fit(text, "", MESSAGE_LIMIT) if text else title]
    return [title[:TITLE_LIMIT - 1] + ELLIPSIS, fit(title, text, MESSAGE_LIMIT)]


def build_request(event: Event, options: Mapping[str, str], secret: str, now: float) -> HttpRequest:
    """Takes the event, the channel's options, the app token and the time; returns the form POST."""
    token, user = secret.strip(), option(options, "user_key").strip()
    title, message = title_and_message(str(event.get("title", "")), str(event.get("text", "")))
    form = [("token", token), ("user", user), ("title", title), ("message", message),
            ("priority", str(priority(event, options))), ("timestamp", str(int(float(event.get("time") or now))))]
    url = option(options, "api_base", DEFAULTS["api_base"]).strip().rstrip("/") + "/1/messages.json"
    body = urllib.parse.urlencode(form).encode("ascii")
    # the user key is not called a secret, but it lets anyone with an app token reach the user: never logged
    secrets = tuple(value for value in (token, user) if value)
    return HttpRequest("POST", url, (("Content-Type", "application/x-www-form-urlencoded"),), body, secrets)


def classify(reply: HttpReply) -> Outcome:
    """Takes Pushover's reply; returns sent on 200 with status 1, retry on 429 and on 5xx (after 5 s at least),
    refused on other codes, with Pushover's errors."""
    answer = reply_json(reply.body)
    if reply.status == 200 and answer.get("status") == 1:
        return Outcome(SENT, one_line("pushover request {}".format(answer.get("request", ""))).strip())
    if 300 <= reply.status < 400:
        return Outcome(REFUSED, one_line("pushover: HTTP {} redirect not followed; check api_base".format(
            reply.status)))
    errors = answer.get("errors")
    reason = "; ".join(str(error) for error in errors) if isinstance(errors, list) else ""
    if not reason:
        reason = reply.body[:200].decode("utf-8", "replace")
    hint = "".join(hint for field, hint in _HINTS.items() if answer.get(field) == "invalid")
    detail = one_line("pushover: HTTP {} {}{}".format(reply.status, reason, hint))
    if 200 <= reply.status < 300:  # not status 1: a portal or proxy answered, not Pushover
        return Outcome(RETRY, detail)
    outcome = classify_status(reply.status, detail, reply.headers)
    if reply.status >= 500:
        return outcome._replace(retry_after=max(outcome.retry_after or 0.0, SERVER_ERROR_WAIT))
    return outcome
