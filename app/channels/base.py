"""What every push channel shares: the event it is given, the request it builds, the outcome it reads.

A channel module is pure: ``build_request(event, options, secret, now) -> HttpRequest`` and
``classify(reply) -> Outcome``; ``app.channels.http.perform`` is the one function that sends a request.

An event is the JSON-able dict the outbox stores (and the generic webhook posts as it is)::

    {"version": 1, "id": "evt_<32 hex>", "type": "login" | "digest" | "notice" | "test",
     "host": "web1", "time": 1764111303.0, "time_iso": "2026-11-25T22:55:03Z",
     "title": "SSH login: alice@web1 from 203.0.113.7", "text": "plain text, several lines",
     "urgent": false, "logins": [LOGIN, ...]}

    LOGIN = {"user", "ip", "rdns", "methods": [...], "key_type", "key_fingerprint", "key_comment",
             "kind", "tty", "epoch", "time_iso", "new_ip", "trusted", "outcome"}

title and text are plain text already made printable (app.system.text); every value in logins is
attacker-controlled and must be escaped by the channel for its markup.
"""

from __future__ import annotations

from app.system.record import Record
from app.system.text import ELLIPSIS
from app.settings.kinds import OptionValue

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Mapping, Optional, Tuple, TypeAlias

Event: TypeAlias = "Dict[str, Any]"
EVENT_VERSION = 1

SENT, RETRY, REFUSED = "sent", "retry", "refused"


class HttpRequest(Record):
    method: str  # "POST" | "PUT"
    url: str  # may carry a secret (Telegram's token, a webhook URL): never logged as it is
    headers: Tuple[Tuple[str, str], ...]  # latin-1-safe values only
    body: bytes
    secrets: Tuple[str, ...] = ()  # strings redacted from every error text about this request


class HttpReply(Record):
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes  # at most the first 64 KiB


class Outcome(Record):
    state: str  # SENT, RETRY (temporary) or REFUSED (permanent for that event: 301/308, 4xx but 408/425/429)
    detail: str = ""  # one line for the log and status; no secret in it
    retry_after: Optional[float] = None  # seconds the server asked us to wait (Retry-After; the fan-out caps it)


MAX_WAIT = 3600.0  # a Retry-After longer than this is cut to it (and told once through the other channels)
TEMPORARY_4XX = (408, 425, 429)
PERMANENT_REDIRECTS = (301, 308)  # moved for good; 302, 303 and 307 are a server or proxy that will be back
REPLY_EXCERPT = 200


def excerpt(body: bytes) -> str:
    """The first 200 characters of a reply, escaped (line breaks, control and invisible characters as \\xNN),
    in double quotes: what status shows of an answer that did not prove delivery."""
    from app.system.text import printable

    text = body.decode("utf-8", "replace")
    cut = text[:REPLY_EXCERPT]
    return '"' + printable(cut.replace("\\", "\\\\").replace('"', '\\"')) + '"' + ("..." if len(text) > len(cut) else "")


def retry_after_seconds(headers: Mapping[str, str], body_value: Optional[float] = None) -> Optional[float]:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), else body_value; not capped here
    (the fan-out waits at most MAX_WAIT and tells a longer wait once)."""
    value = headers.get("retry-after", "").strip()
    seconds: Optional[float] = None
    if value:
        try:
            seconds = float(value)
        except ValueError:
            import email.utils
            import time

            try:
                seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
            except (TypeError, ValueError, IndexError, OverflowError):
                seconds = None
    if seconds is None:
        seconds = body_value
    if seconds is None or seconds != seconds:  # NaN
        return None
    return max(seconds, 0.0)


def classify_redirect(channel: str, status: int, hint: str) -> Outcome:
    """A 3xx is never followed: 301/308 (moved for good) refuse the event, any other is retried."""
    if status in PERMANENT_REDIRECTS:
        return Outcome(REFUSED, one_line("{}: HTTP {} moved permanently, redirect not followed; {}".format(
            channel, status, hint)))
    return Outcome(RETRY, one_line("{}: HTTP {} temporary redirect not followed (a server moving or a proxy in "
                                   "maintenance?); retried; {}".format(channel, status, hint)))


def classify_status(status: int, detail: str, headers: Mapping[str, str],
                    body_retry_after: Optional[float] = None) -> Outcome:
    """The outcome of an HTTP status by the common rule: 2xx sent; 301/308 and 4xx other than 408/425/429
    refused; everything else (408, 425, 429, 5xx, other 3xx) retried, after Retry-After when given."""
    if 200 <= status < 300:
        return Outcome(SENT, detail)
    if status in PERMANENT_REDIRECTS or (400 <= status < 500 and status not in TEMPORARY_4XX):
        return Outcome(REFUSED, detail)
    return Outcome(RETRY, detail, retry_after_seconds(headers, body_retry_after if status == 429 else None))


def unproven(channel: str, reply: "HttpReply", expected: str) -> Outcome:
    """A 2xx whose body does not prove delivery (a captive portal, a proxy, a wrong path): retried, with the reply."""
    return Outcome(RETRY, "{}: HTTP {} without {} (not the service's answer: a captive portal, a proxy or a wrong "
                          "URL?); reply: {}".format(channel, reply.status, expected, excerpt(reply.body)))


def fit(title: str, text: str, limit: int, measure: str = "chars") -> str:
    """title and text joined by a blank line, cut at the end to limit characters (or UTF-8 bytes with
    measure="bytes") with …; the title (user, IP, host) always survives whole when it fits alone."""
    whole = title + "\n\n" + text if text else title
    size = len(whole.encode("utf-8")) if measure == "bytes" else len(whole)
    if size <= limit:
        return whole
    mark = len(ELLIPSIS.encode("utf-8")) if measure == "bytes" else 1
    if measure == "bytes":
        return whole.encode("utf-8")[:max(0, limit - mark)].decode("utf-8", "ignore") + ELLIPSIS
    return whole[:max(0, limit - mark)] + ELLIPSIS


def option(options: Mapping[str, OptionValue], name: str, default: str = "") -> str:
    """A channel's setting as text ("" when unset)."""
    value = options.get(name)
    return default if value in (None, "") else str(value)


def flag(options: Mapping[str, OptionValue], name: str) -> bool:
    """A channel's yes/no setting (parsed True/False, or the text of a test's options)."""
    value = options.get(name)
    if isinstance(value, str):
        return value.strip().lower() in ("yes", "true", "on", "1")
    return bool(value)


def one_line(text: str, limit: int = 200) -> str:
    """text for a detail: whitespace runs made one space, then printable and cut to limit characters."""
    from app.system.text import printable

    return printable(" ".join(text.split()), limit)


def reply_json(body: bytes) -> Dict[str, Any]:
    """A reply body parsed as a JSON object; {} when it is not one (an HTML error page, plain text, junk)."""
    import json

    try:
        value = json.loads(body.decode("utf-8", "replace"))
    except (ValueError, RecursionError):  # 64 KiB of "[" nests deeper than the parser goes
        return {}
    return value if isinstance(value, dict) else {}


def url_secrets(url: str) -> Tuple[str, ...]:
    """The strings to redact for a URL that is itself the secret (a webhook): the URL and its path, which
    carries the token and may turn up alone in an error."""
    import urllib.parse

    try:
        path = urllib.parse.urlsplit(url).path
    except ValueError:
        path = ""
    return tuple(value for value in (url, path) if len(value) > 1)


URGENT, NEW_SOURCE, KNOWN, OTHER = "urgent", "new", "known", "other"


def attention(event: Event) -> str:
    """How loudly the event must reach the phone: URGENT (by the rules: a key not in authorized_keys, outside
    work_hours, an urgent rule; or a notice about ssh_alert itself), NEW_SOURCE (a login from an address not seen
    before), KNOWN (logins from known sources only) or OTHER (a test, the heartbeat)."""
    if event.get("urgent"):
        return URGENT
    logins = [login for login in event.get("logins") or () if isinstance(login, dict)]
    if any(login.get("new_ip") for login in logins):
        return NEW_SOURCE
    return KNOWN if logins and event.get("type") in ("login", "digest") else OTHER


def numeric_priority(event: Event, options: Mapping[str, OptionValue], default: str, low: int, high: int,
                     urgent: int) -> int:
    """urgent for an urgent event or a new source, else the priority option (default when unset or not a
    number) within low-high."""
    if attention(event) in (URGENT, NEW_SOURCE):
        return urgent
    try:
        value = int(option(options, "priority", default).strip())
    except ValueError:
        value = int(default)
    return min(max(value, low), high)


class JsonApi(Record):
    """How a channel's JSON API answers: the field naming the sent message, the fields giving a refusal's reason,
    the hint for a redirect and the hint for each HTTP status."""

    channel: str
    id_field: str
    reason_fields: Tuple[str, ...]
    redirect_hint: str
    hints: Mapping[int, str]


def classify_json(api: JsonApi, reply: HttpReply, body_retry_after: Optional[float] = None) -> Outcome:
    """The common reading of a JSON API's reply: sent on 2xx only when its JSON names the id_field, a redirect by
    classify_redirect (with redirect_hint), else classify_status with the reply's reason fields and the hint."""
    answer = reply_json(reply.body)
    if 200 <= reply.status < 300:
        found = answer.get(api.id_field)
        if isinstance(found, (str, int)) and not isinstance(found, bool) and str(found):
            return Outcome(SENT, one_line("{} message {}".format(api.channel, found)).strip())
        return unproven(api.channel, reply, "a JSON " + api.id_field)
    if 300 <= reply.status < 400:
        return classify_redirect(api.channel, reply.status, api.redirect_hint)
    reason = " ".join(str(answer.get(field, "")) for field in api.reason_fields).strip()
    limit = 200  # the API's own reason: one short line
    if not reason:
        reason, limit = "reply: " + excerpt(reply.body), 600
    detail = one_line("{}: HTTP {} {}{}".format(api.channel, reply.status, reason, api.hints.get(reply.status, "")),
                      limit)
    return classify_status(reply.status, detail, reply.headers, body_retry_after)
