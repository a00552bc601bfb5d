"""Generic webhook: POST the event itself as JSON, signed the Standard Webhooks way (webhook-id,
webhook-timestamp, webhook-signature: v1), the GitHub way (X-Hub-Signature-256) or not at all."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json

from app import __version__
from app.channels.base import (REFUSED, SENT, Event, HttpReply, HttpRequest, Outcome, classify_redirect,
                               classify_status, excerpt, one_line, option, url_secrets)
from app.errors import UserError
from app.settings.kinds import OptionValue

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Mapping, Optional

NAME = "webhook"
SECRET = "signing_secret"
SECRET_REQUIRED = False  # format = plain needs none; standard and github refuse to send without it
OPTIONS = ("url", "format")
DEFAULTS = {"url": "", "format": "standard"}
FORMATS = ("standard", "github", "plain")
TOLERANCE = 300  # seconds a Standard Webhooks timestamp may be off (the reference library's)
_PREFIX = "whsec_"


def secret_required(options: Mapping[str, OptionValue]) -> bool:
    """Takes the channel's options; returns whether its format signs requests, so needs a signing_secret."""
    return option(options, "format", DEFAULTS["format"]).strip().lower() != "plain"


def signing_key(secret: str) -> bytes:
    """Takes the signing secret; returns the HMAC key: the base64-decoded bytes after whsec_, else the secret's
    UTF-8 bytes. Raises UserError when a whsec_ secret is not base64."""
    secret = secret.strip()
    if not secret.startswith(_PREFIX):
        return secret.encode("utf-8")
    try:
        return base64.b64decode(secret[len(_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise UserError("webhook: signing_secret starts with whsec_ but the rest is not base64; "
                        "store the secret exactly as the receiver shows it") from None


def sign_standard(secret: str, event_id: str, timestamp: int, body: bytes) -> str:
    """Takes the secret, the webhook-id, the webhook-timestamp and the raw body; returns "v1,<base64>"."""
    signed = "{}.{}.".format(event_id, int(timestamp)).encode("utf-8") + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def verify_standard(secret: str, event_id: str, timestamp: int, body: bytes, signature_header: str,
                    now: Optional[float] = None) -> bool:
    """Takes what a receiver got (the webhook-signature header may list several signatures) and, to check
    freshness, the time; returns whether one v1 signature matches, compared in constant time, and the
    timestamp is within TOLERANCE of now when now is given."""
    if now is not None and abs(now - int(timestamp)) > TOLERANCE:
        return False
    expected = sign_standard(secret, event_id, timestamp, body).encode("ascii")
    found = False
    for signature in signature_header.split():
        found |= hmac.compare_digest(expected, signature.encode("ascii", "replace"))
    return found


def sign_github(secret: str, body: bytes) -> str:
    """Takes the secret and the raw body; returns the X-Hub-Signature-256 value "sha256=<hex>"."""
    return "sha256=" + hmac.new(secret.strip().encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_github(secret: str, body: bytes, signature_header: str) -> bool:
    """Takes the secret, the raw body and the X-Hub-Signature-256 header; returns whether they match."""
    return hmac.compare_digest(sign_github(secret, body).encode("ascii"),
                               signature_header.strip().encode("ascii", "replace"))


def build_request(event: Event, options: Mapping[str, OptionValue], secret: str, now: float) -> HttpRequest:
    """Takes the event, the channel's options, the signing secret ("" for none) and the time; returns the POST
    of the event as JSON. Raises UserError for an unknown format or a signing format without a secret."""
    url = option(options, "url").strip()
    style = option(options, "format", DEFAULTS["format"]).strip().lower()
    if style not in FORMATS:
        raise UserError("webhook: format = {} is not one of {}".format(one_line(style, 40), ", ".join(FORMATS)))
    secret = secret.strip()
    if style != "plain" and not secret:
        raise UserError("webhook: format = {} signs each request and needs a signing_secret; run: ssh_alert.pyz "
                        "setup --channel webhook --signing-secret-stdin, or set format = plain to send "
                        "unsigned".format(style))
    event_id = str(event.get("id", ""))
    body = json.dumps(event, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    headers = [("Content-Type", "application/json"), ("User-Agent", "ssh_alert/" + __version__),
               ("ssh-alert-event-id", event_id)]
    if style == "standard":
        timestamp = int(now)
        headers += [("webhook-id", event_id), ("webhook-timestamp", str(timestamp)),
                    ("webhook-signature", sign_standard(secret, event_id, timestamp, body))]
    elif style == "github":
        headers.append(("X-Hub-Signature-256", sign_github(secret, body)))
    secrets = ((secret,) if secret else ()) + url_secrets(url)  # a receiver's URL often carries its token
    return HttpRequest("POST", url, tuple(headers), body, secrets)


def classify(reply: HttpReply) -> Outcome:
    """Takes the receiver's reply; returns sent on 2xx, retry on 408, 429 and 5xx (Retry-After), refused on
    3xx (not followed), 410 (the endpoint is gone) and other 4xx."""
    if 200 <= reply.status < 300:
        return Outcome(SENT, one_line("webhook: HTTP {}".format(reply.status)))
    if 300 <= reply.status < 400:
        return classify_redirect("webhook", reply.status, "set [webhook] url to where it points")
    if reply.status == 410:
        return Outcome(REFUSED, "webhook: endpoint gone (410): remove or fix [webhook] url")
    hint = {401: " (check signing_secret and format)", 403: " (check signing_secret and format)",
            404: " (check url)"}.get(reply.status, "")
    detail = one_line("webhook: HTTP {} reply: {}{}".format(reply.status, excerpt(reply.body), hint), 600)
    return classify_status(reply.status, detail, reply.headers)
