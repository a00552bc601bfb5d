"""Telegram Bot API sendMessage: plain text (no parse_mode, so nothing in it is markup), link previews off."""

from __future__ import annotations

import json
import re
import urllib.parse

from app.channels.base import (KNOWN, REFUSED, SENT, Event, HttpReply, HttpRequest, Outcome, classify_redirect,
                               attention, classify_status, excerpt, fit, one_line, option, reply_json,
                               unproven)
from app.settings.kinds import OptionValue

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Mapping, Union

NAME = "telegram"
SECRET = "token"
SECRET_REQUIRED = True
OPTIONS = ("chat_id", "api_base", "message_thread_id")
DEFAULTS = {"chat_id": "", "api_base": "https://api.telegram.org"}
MESSAGE_LIMIT = 4096  # characters (tdlib counts code points)
_HINTS = {401: " (check the bot token)", 404: " (check the bot token)",
          403: " (the bot was blocked or removed from the chat)"}


def chat_id(value: str) -> Union[int, str]:
    """Takes the chat_id option; returns it as an int when numeric (groups are negative), else as "@name"."""
    value = value.strip()
    if re.match(r"^-?[0-9]+$", value):
        return int(value)
    return value if value.startswith("@") else "@" + value


def build_request(event: Event, options: Mapping[str, OptionValue], secret: str, now: float) -> HttpRequest:
    """Takes the event, the channel's options, the bot token and the time; returns the sendMessage POST."""
    token = secret.strip()
    base = option(options, "api_base", DEFAULTS["api_base"]).rstrip("/")
    quoted = urllib.parse.quote(token, safe=":")
    url = "{}/bot{}/sendMessage".format(base, quoted)
    message = {"chat_id": chat_id(option(options, "chat_id")),
               "text": fit(str(event.get("title", "")), str(event.get("text", "")), MESSAGE_LIMIT),
               "link_preview_options": {"is_disabled": True},
               "disable_notification": attention(event) == KNOWN}  # silent only for known, non-urgent logins
    thread = option(options, "message_thread_id").strip()
    if thread:
        message["message_thread_id"] = int(thread)
    body = json.dumps(message).encode("utf-8")
    secrets = tuple(sorted({token, quoted}, key=len)) if token else ()
    return HttpRequest("POST", url, (("Content-Type", "application/json"),), body, secrets)


def _object(value: object) -> Dict[str, Any]:
    """A member of the reply that should be a JSON object: itself, or {} when it is anything else."""
    return value if isinstance(value, dict) else {}


def classify(reply: HttpReply) -> Outcome:
    """Takes the Bot API's reply; returns sent when ok, retry on 429 (with retry_after) and 5xx, refused
    otherwise; a group that became a supergroup is refused with the chat_id to set."""
    answer = reply_json(reply.body)
    parameters = _object(answer.get("parameters"))
    if 200 <= reply.status < 300:
        if answer.get("ok") is True:
            result = _object(answer.get("result"))
            return Outcome(SENT, one_line("telegram message {}".format(result.get("message_id", ""))).strip())
        return unproven("telegram", reply, '{"ok": true}')
    if 300 <= reply.status < 400:
        return classify_redirect("telegram", reply.status, "check api_base")
    description, limit = str(answer.get("description") or ""), 200
    if not description:
        description, limit = "reply: " + excerpt(reply.body), 600
    migrate_to = parameters.get("migrate_to_chat_id")
    if isinstance(migrate_to, int) and not isinstance(migrate_to, bool):
        return Outcome(REFUSED, one_line("telegram: the group became a supergroup: set chat_id = {}".format(
            migrate_to)))
    detail = one_line("telegram: HTTP {} {}{}".format(reply.status, description, _HINTS.get(reply.status, "")), limit)
    retry_after = parameters.get("retry_after")
    if not isinstance(retry_after, (int, float)) or isinstance(retry_after, bool):
        retry_after = None
    return classify_status(reply.status, detail, reply.headers, retry_after)
