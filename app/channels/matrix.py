"""Matrix: PUT an m.notice into the room with a transaction id taken from the event id, so a retry of a send
the homeserver already took returns the same event instead of posting twice; the HTML part is escaped and
m.mentions is empty, so nothing in it is a mention, @room or a link."""

from __future__ import annotations

import hashlib
import html
import json
import urllib.parse

from app.channels.base import (Event, HttpReply, HttpRequest, JsonApi, Outcome, classify_json, fit, option,
                               reply_json)
from app.settings.kinds import OptionValue

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Mapping, Optional

NAME = "matrix"
SECRET = "access_token"
SECRET_REQUIRED = True
OPTIONS = ("homeserver", "room_id")
DEFAULTS = {"homeserver": "", "room_id": ""}
JSON_LIMIT = 48000  # bytes of content; the whole event (with what the server adds) must stay within 65,536
TEXT_LIMIT = 32000  # bytes of plain text tried first; cut further while the content is over JSON_LIMIT
_API = JsonApi("matrix", "event_id", ("errcode", "error"), "check homeserver (the client API's https URL)",
               {401: " (check access_token)", 403: " (the account must be invited to and join the room)",
                404: " (check room_id: the room's id !...:server, not an alias)", 413: " (message too large)"})


def transaction_id(event: Event) -> str:
    """Takes the event; returns the txnId for it: its id, the same on every retry (or a hash of its content)."""
    event_id = str(event.get("id") or "")
    if event_id:
        return event_id
    content = "{}|{}|{}".format(event.get("time", ""), event.get("title", ""), event.get("text", ""))
    return "evt_" + hashlib.sha256(content.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def content(title: str, text: str, limit: int = TEXT_LIMIT) -> Dict[str, Any]:
    """Takes the title and text and a limit in UTF-8 bytes for the plain text; returns the m.notice content
    with the plain body and the escaped HTML body (the title bold, a <br> for each line break)."""
    body = fit(title, text, limit, "bytes")
    head, rest = (title, body[len(title):]) if title and body.startswith(title) else ("", body)
    formatted = ("<b>" + html.escape(head) + "</b>" if head else "") + html.escape(rest).replace("\n", "<br>")
    return {"msgtype": "m.notice", "body": body, "format": "org.matrix.custom.html", "formatted_body": formatted,
            "m.mentions": {}}


def encoded_content(title: str, text: str) -> bytes:
    """Takes the title and text; returns the content as UTF-8 JSON of at most JSON_LIMIT bytes, the text cut
    as much as escaping makes necessary."""
    limit = TEXT_LIMIT
    while True:
        encoded = json.dumps(content(title, text, limit), ensure_ascii=False).encode("utf-8")
        if len(encoded) <= JSON_LIMIT or limit <= 256:
            return encoded
        limit = min(limit - 256, limit * JSON_LIMIT // len(encoded))


def build_request(event: Event, options: Mapping[str, OptionValue], secret: str, now: float) -> HttpRequest:
    """Takes the event, the channel's options, the access token and the time; returns the PUT to the room."""
    token = secret.strip()
    room = urllib.parse.quote(option(options, "room_id").strip(), safe="")
    url = "{}/_matrix/client/v3/rooms/{}/send/m.room.message/{}".format(
        option(options, "homeserver").strip().rstrip("/"), room, urllib.parse.quote(transaction_id(event), safe=""))
    body = encoded_content(str(event.get("title", "")), str(event.get("text", "")))
    headers = (("Content-Type", "application/json"), ("Authorization", "Bearer " + token))
    return HttpRequest("PUT", url, headers, body, (token,) if token else ())


def classify(reply: HttpReply) -> Outcome:
    """Takes the homeserver's reply; returns sent on 200, retry on 429 (Retry-After, else retry_after_ms) and
    5xx, refused otherwise (bad token, not in the room, bad JSON, too large), with the errcode."""
    milliseconds = reply_json(reply.body).get("retry_after_ms")
    retry_after: Optional[float] = None
    if isinstance(milliseconds, (int, float)) and not isinstance(milliseconds, bool):
        retry_after = milliseconds / 1000.0
    return classify_json(_API, reply, retry_after)
