"""Pushover: POST a form to /1/messages.json with the app token and the user key; no html=1, so nothing in
the text is markup; priority 1 for urgent logins and new sources, 2 (repeated every retry seconds until
acknowledged or expire passes) for urgent logins with emergency = yes."""

from __future__ import annotations

import urllib.parse

from app.channels.base import (SENT, URGENT, Event, HttpReply, HttpRequest, Outcome, classify_redirect, classify_status,
                               attention, excerpt, fit, flag, numeric_priority, one_line, option, reply_json,
                               unproven)
from app.system.text import ELLIPSIS
from app.settings.kinds import OptionValue

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Mapping

NAME = "pushover"
SECRET = "app_token"
SECRET_REQUIRED = True
OPTIONS = ("user_key", "priority", "api_base", "emergency", "retry", "expire", "sound", "device")
DEFAULTS = {"user_key": "", "priority": "0", "api_base": "https://api.pushover.net", "retry": "60",
            "expire": "3600"}
EMERGENCY_PRIORITY = 2
TITLE_LIMIT = 250  # characters
MESSAGE_LIMIT = 1024  # characters
URGENT_PRIORITY = 1
_HINTS = {"token": " (check app_token)", "user": " (check user_key)"}


def priority(event: Event, options: Mapping[str, OptionValue]) -> int:
    """Takes the event and the options; returns 2 for an urgent event with emergency = yes, 1 for an urgent event
    or a new source, else the priority option in -2..1."""
    if flag(options, "emergency") and attention(event) == URGENT:
        return EMERGENCY_PRIORITY
    return numeric_priority(event, options, DEFAULTS["priority"], -2, URGENT_PRIORITY, URGENT_PRIORITY)


def bounded(text: str, default: str, low: int, high: int) -> int:
    """text as a whole number within low-high (default when it is not a number)."""
    try:
        value = int(float(text))
    except ValueError:
        value = int(default)
    return min(max(value, low), high)


def title_and_message(title: str, text: str) -> List[str]:
    """Takes the title and text; returns [title, message] within Pushover's limits. When the title must be
    cut, the message starts with it whole, so who, where and from which address are still read first."""
    if len(title) <= TITLE_LIMIT:
        return [title, fit(text, "", MESSAGE_LIMIT) if text else title]
    return [title[:TITLE_LIMIT - 1] + ELLIPSIS, fit(title, text, MESSAGE_LIMIT)]


def build_request(event: Event, options: Mapping[str, OptionValue], secret: str, now: float) -> HttpRequest:
    """Takes the event, the channel's options, the app token and the time; returns the form POST."""
    token, user = secret.strip(), option(options, "user_key").strip()
    title, message = title_and_message(str(event.get("title", "")), str(event.get("text", "")))
    level = priority(event, options)
    form = [("token", token), ("user", user), ("title", title), ("message", message),
            ("priority", str(level)), ("timestamp", str(int(float(event.get("time") or now))))]
    if level == EMERGENCY_PRIORITY:  # repeated until acknowledged: Pushover requires both
        form += [(name, str(bounded(option(options, name, DEFAULTS[name]), DEFAULTS[name], 30, 10800)))
                 for name in ("retry", "expire")]
    form += [(name, option(options, name).strip()) for name in ("sound", "device") if option(options, name).strip()]
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
    if 200 <= reply.status < 300:  # not status 1: a portal or proxy answered, not Pushover
        return unproven("pushover", reply, '{"status": 1}')
    if 300 <= reply.status < 400:
        return classify_redirect("pushover", reply.status, "check api_base")
    errors = answer.get("errors")
    reason = "; ".join(str(error) for error in errors) if isinstance(errors, list) else ""
    limit = 200
    if not reason:
        reason, limit = "reply: " + excerpt(reply.body), 600
    hint = "".join(hint for field, hint in _HINTS.items() if answer.get(field) == "invalid")
    detail = one_line("pushover: HTTP {} {}{}".format(reply.status, reason, hint), limit)
    return classify_status(reply.status, detail, reply.headers)  # 5xx: the common back-off (30 s at first)
