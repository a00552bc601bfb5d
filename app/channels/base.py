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

from typing import Any, Dict, Mapping, NamedTuple, Optional, Tuple

from app.system.text import ELLIPSIS

Event = Dict[str, Any]
EVENT_VERSION = 1

SENT, RETRY, REFUSED = "sent", "retry", "refused"


class HttpRequest(NamedTuple):
    method: str  # "POST" | "PUT"
    url: str  # may carry a secret (Telegram's token, a webhook URL): never logged as it is
    headers: Tuple[Tuple[str, str], ...]  # latin-1-safe values only
    body: bytes
    secrets: Tuple[str, ...] = ()  # strings redacted from every error text about this request


class HttpReply(NamedTuple):
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes  # at most the first 64 KiB


class Outcome(NamedTuple):
    state: str  # SENT, RETRY (transient: 429, 5xx, network) or REFUSED (permanent: other 4xx)
    detail: str = ""  # one line for the log and status; no secret in it
    retry_after: Optional[float] = None  # seconds the server asked us to wait (429 Retry-After)


def retry_after_seconds(headers: Mapping[str, str], body_value: Optional[float] = None) -> Optional[float]:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), else body_value; capped at a day."""
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
            except (TypeError, ValueError, IndexError):
                seconds = None
    if seconds is None:
        seconds = body_value
    if seconds is None:
        return None
    return min(max(seconds, 0.0), 86400.0)


def classify_status(status: int, detail: str, headers: Mapping[str, str],
                    body_retry_after: Optional[float] = None) -> Outcome:
    """The outcome of an HTTP status by the common rule: 2xx sent; 429, 408 and 5xx retried; other codes refused."""
    if 200 <= status < 300:
        return Outcome(SENT, detail)
    if status == 429:
        return Outcome(RETRY, detail, retry_after_seconds(headers, body_retry_after))
    if status == 408 or status >= 500:
        return Outcome(RETRY, detail, retry_after_seconds(headers))
    return Outcome(REFUSED, detail)


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


def option(options: Mapping[str, str], name: str, default: str = "") -> str:
    """A channel's setting as text ("" when unset)."""
    value = options.get(name)
    return default if value in (None, "") else str(value)


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


def numeric_priority(event: Event, options: Mapping[str, str], default: str, low: int, high: int,
                     urgent: int) -> int:
    """urgent for an urgent event, else the priority option (default when unset or not a number) within low-high."""
    if event.get("urgent"):
        return urgent
    try:
        value = int(option(options, "priority", default).strip())
    except ValueError:
        value = int(default)
    return min(max(value, low), high)


def classify_json(channel: str, reply: HttpReply, id_field: str, reason_fields: Tuple[str, ...],
                  redirect_hint: str, hints: Mapping[int, str], body_retry_after: Optional[float] = None) -> Outcome:
    """The common reading of a JSON API's reply: sent on 2xx (naming the id), refused on a redirect (with
    redirect_hint), else classify_status with the reply's reason fields and the status's hint."""
    answer = reply_json(reply.body)
    if 200 <= reply.status < 300:
        return Outcome(SENT, one_line("{} message {}".format(channel, answer.get(id_field, ""))).strip())
    if 300 <= reply.status < 400:
        return Outcome(REFUSED, one_line("{}: HTTP {} redirect not followed; {}".format(channel, reply.status,
                                                                                      redirect_hint)))
    reason = " ".join(str(answer.get(field, "")) for field in reason_fields).strip()
    if not reason:
        reason = reply.body[:200].decode("utf-8", "replace")
    detail = one_line("{}: HTTP {} {}{}".format(channel, reply.status, reason, hints.get(reply.status, "")))
    return classify_status(reply.status, detail, reply.headers, body_retry_after)
