"""Generic webhook: the event POSTed as canonical JSON, signed the Standard Webhooks way (checked against the
specification's vector), the GitHub way or not at all; sent for real to an HTTPS server on loopback that
verifies the signature; every reply classified."""

import base64
import json
from typing import Dict, Optional, Tuple

import pytest

from app.channels import webhook
from app.channels.base import REFUSED, RETRY, SENT, HttpReply
from app.channels.http import perform
from app.errors import UserError
from support.httpsworld import HttpsWorld, Recorded, event, headers_of, hostile_event

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID, VECTOR_TIME, VECTOR_BODY = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
GITHUB_SECRET, GITHUB_BODY = "It's a Secret to Everybody", b"Hello, World!"
GITHUB_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
URL = "https://hooks.example/ssh/7f3c9a"
NOW = 1764111310.75


def test_webhook_signature_matches_the_standard_webhooks_vector() -> None:
    assert webhook.sign_standard(SECRET, VECTOR_ID, VECTOR_TIME, VECTOR_BODY) == VECTOR_SIGNATURE
    assert webhook.verify_standard(SECRET, VECTOR_ID, VECTOR_TIME, VECTOR_BODY, VECTOR_SIGNATURE)


def test_webhook_signature_matches_the_github_vector() -> None:
    assert webhook.sign_github(GITHUB_SECRET, GITHUB_BODY) == GITHUB_SIGNATURE
    assert webhook.verify_github(GITHUB_SECRET, GITHUB_BODY, GITHUB_SIGNATURE)
    assert not webhook.verify_github(GITHUB_SECRET, GITHUB_BODY + b" ", GITHUB_SIGNATURE)


def test_webhook_verify_rejects_any_change_and_accepts_one_good_signature_among_several() -> None:
    good = (SECRET, VECTOR_ID, VECTOR_TIME, VECTOR_BODY)
    assert not webhook.verify_standard(SECRET, VECTOR_ID, VECTOR_TIME + 1, VECTOR_BODY, VECTOR_SIGNATURE)
    assert not webhook.verify_standard(SECRET, VECTOR_ID + "x", VECTOR_TIME, VECTOR_BODY, VECTOR_SIGNATURE)
    assert not webhook.verify_standard(SECRET, VECTOR_ID, VECTOR_TIME, VECTOR_BODY + b" ", VECTOR_SIGNATURE)
    assert not webhook.verify_standard("whsec_" + base64.b64encode(b"k" * 24).decode(), VECTOR_ID, VECTOR_TIME,
                                       VECTOR_BODY, VECTOR_SIGNATURE)
    assert not webhook.verify_standard(*good, "")
    assert not webhook.verify_standard(*good, "v1a,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
    assert webhook.verify_standard(*good, "v1,Zm9vYmFy " + VECTOR_SIGNATURE + " v1a,\u00e9")


def test_webhook_verify_rejects_a_stale_timestamp_when_given_the_time() -> None:
    good = (SECRET, VECTOR_ID, VECTOR_TIME, VECTOR_BODY, VECTOR_SIGNATURE)
    assert webhook.verify_standard(*good, now=VECTOR_TIME + webhook.TOLERANCE)
    assert not webhook.verify_standard(*good, now=VECTOR_TIME + webhook.TOLERANCE + 1)
    assert not webhook.verify_standard(*good, now=VECTOR_TIME - webhook.TOLERANCE - 1)


def test_webhook_key_is_the_decoded_whsec_secret_else_the_secret_itself() -> None:
    assert webhook.signing_key(SECRET) == base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    assert webhook.signing_key(" plain secret \n") == b"plain secret"
    with pytest.raises(UserError, match="not base64"):
        webhook.signing_key("whsec_not base64!")


def test_webhook_posts_the_event_itself_as_canonical_json() -> None:
    alert = event()
    request = webhook.build_request(alert, {"url": URL}, SECRET, NOW)
    assert (request.method, request.url) == ("POST", URL)
    assert request.body == json.dumps(alert, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    assert json.loads(request.body) == alert


def test_webhook_signs_the_standard_way_by_default() -> None:
    alert = event()
    request = webhook.build_request(alert, {"url": URL}, SECRET, NOW)
    headers = headers_of(request)
    assert headers == {"content-type": "application/json", "user-agent": headers["user-agent"],
                       "ssh-alert-event-id": alert["id"], "webhook-id": alert["id"],
                       "webhook-timestamp": "1764111310", "webhook-signature": headers["webhook-signature"]}
    assert headers["user-agent"].startswith("ssh_alert")
    assert webhook.verify_standard(SECRET, alert["id"], 1764111310, request.body, headers["webhook-signature"],
                                   now=NOW)


def test_webhook_retry_keeps_the_id_and_signs_the_new_timestamp() -> None:
    first = headers_of(webhook.build_request(event(), {"url": URL}, SECRET, NOW))
    retry = headers_of(webhook.build_request(event(), {"url": URL}, SECRET, NOW + 600))
    assert retry["webhook-id"] == first["webhook-id"] == retry["ssh-alert-event-id"]
    assert (first["webhook-timestamp"], retry["webhook-timestamp"]) == ("1764111310", "1764111910")
    assert retry["webhook-signature"] != first["webhook-signature"]


def test_webhook_signs_the_github_way_with_the_secret_as_text() -> None:
    request = webhook.build_request(event(), {"url": URL, "format": "github"}, GITHUB_SECRET, NOW)
    headers = headers_of(request)
    assert headers["x-hub-signature-256"] == webhook.sign_github(GITHUB_SECRET, request.body)
    assert webhook.verify_github(GITHUB_SECRET, request.body, headers["x-hub-signature-256"])
    assert not {"webhook-id", "webhook-signature"} & set(headers)


def test_webhook_plain_format_is_unsigned_with_or_without_a_secret() -> None:
    for secret in ("", SECRET):
        headers = headers_of(webhook.build_request(event(), {"url": URL, "format": "plain"}, secret, NOW))
        assert set(headers) == {"content-type", "user-agent", "ssh-alert-event-id"}


@pytest.mark.parametrize("style", ["standard", "github"])
def test_webhook_refuses_to_send_unsigned_when_the_format_signs(style: str) -> None:
    assert webhook.secret_required({"format": style}) and not webhook.secret_required({"format": "plain"})
    with pytest.raises(UserError, match="needs a signing_secret"):
        webhook.build_request(event(), {"url": URL, "format": style}, " \n", NOW)


def test_webhook_refuses_an_unknown_format() -> None:
    with pytest.raises(UserError, match="format = slack is not one of standard, github, plain"):
        webhook.build_request(event(), {"url": URL, "format": "slack"}, SECRET, NOW)


def test_webhook_never_logs_the_secret_or_the_url_path_that_may_carry_a_token() -> None:
    request = webhook.build_request(event(), {"url": URL}, SECRET + "\n", NOW)
    assert request.secrets == (SECRET, URL, "/ssh/7f3c9a")


def test_webhook_hostile_fields_stay_inside_json_strings() -> None:
    alert = hostile_event()
    alert["logins"] = [{"user": alert["title"], "key_comment": "\"},\"urgent\":true,\"x\":{\""}]
    request = webhook.build_request(alert, {"url": URL}, SECRET, NOW)
    assert json.loads(request.body) == alert
    assert b"\r" not in request.body and "\u202e".encode() not in request.body


@pytest.mark.parametrize("status, body, headers, state, retry_after, words", [
    (200, b"ok", {}, SENT, None, "HTTP 200"),
    (204, b"", {}, SENT, None, "HTTP 204"),
    (301, b"", {"Location": "https://elsewhere.example/"}, REFUSED, None, "redirect not followed"),
    (400, b"bad payload", {}, REFUSED, None, "bad payload"),
    (401, b"invalid signature", {}, REFUSED, None, "check signing_secret"),
    (403, b"", {}, REFUSED, None, "check signing_secret"),
    (404, b"no such hook", {}, REFUSED, None, "check url"),
    (410, b"gone", {}, REFUSED, None, "endpoint gone (410): remove or fix [webhook] url"),
    (413, b"too big", {}, REFUSED, None, "HTTP 413"),
    (429, b"slow down", {"Retry-After": "20"}, RETRY, 20.0, "HTTP 429"),
    (500, b"oops", {}, RETRY, None, "oops"),
    (502, b"<html>Bad Gateway</html>", {"Retry-After": "5"}, RETRY, 5.0, "Bad Gateway"),
    (503, b"", {"Retry-After": "120"}, RETRY, 120.0, "HTTP 503"),
    (504, b"", {}, RETRY, None, "HTTP 504"),
])
def test_webhook_replies_are_classified(world: HttpsWorld, status: int, body: bytes, headers: Dict[str, str],
                                        state: str, retry_after: Optional[float], words: str) -> None:
    world.respond(status, body, headers)
    request = webhook.build_request(event(), {"url": world.url + "/hook"}, SECRET, NOW)
    outcome = webhook.classify(perform(request, timeout=2, deadline=5, ca_file=world.ca_file))
    assert (outcome.state, outcome.retry_after) == (state, retry_after)
    assert words in outcome.detail


def test_webhook_detail_is_one_printable_line_with_the_first_200_characters_of_the_reply_escaped() -> None:
    detail = webhook.classify(HttpReply(400, {}, b"bad\nline \x1b[31m \xe2\x80\xae " + b"x" * 500)).detail
    assert detail.isprintable() and "\u202e" not in detail and len(detail) <= 600
    assert '"bad\\x0aline \\x1b[31m \\u202e ' + "x" * 183 + '"...' in detail


def test_webhook_receiver_verifies_the_standard_signature_over_https(world: HttpsWorld) -> None:
    def receiver(recorded: Recorded) -> Tuple[int, Dict[str, str], bytes]:
        headers = recorded.headers
        valid = webhook.verify_standard(SECRET, headers["webhook-id"], int(headers["webhook-timestamp"]),
                                        recorded.body, headers["webhook-signature"], now=NOW)
        return (204, {}, b"") if valid else (401, {}, b"invalid signature")

    world.responder = receiver
    alert = hostile_event(urgent=True)
    request = webhook.build_request(alert, {"url": world.url + "/hooks/ssh"}, SECRET, NOW)
    outcome = webhook.classify(perform(request, timeout=2, deadline=5, ca_file=world.ca_file))
    assert outcome == (SENT, "webhook: HTTP 204", None)
    [recorded] = world.requests
    assert (recorded.method, recorded.path, recorded.body) == ("POST", "/hooks/ssh", request.body)
    assert json.loads(recorded.body) == alert
    assert recorded.headers["ssh-alert-event-id"] == recorded.headers["webhook-id"] == alert["id"]
    assert recorded.headers["user-agent"].startswith("ssh_alert")


def test_webhook_receiver_refuses_a_request_signed_with_another_secret_over_https(world: HttpsWorld) -> None:
    world.responder = lambda recorded: (204, {}, b"") if webhook.verify_standard(
        SECRET, recorded.headers["webhook-id"], int(recorded.headers["webhook-timestamp"]), recorded.body,
        recorded.headers["webhook-signature"]) else (401, {}, b"invalid signature")
    request = webhook.build_request(event(), {"url": world.url + "/"}, "another secret", NOW)
    outcome = webhook.classify(perform(request, timeout=2, deadline=5, ca_file=world.ca_file))
    assert (outcome.state, outcome.detail) == (REFUSED, 'webhook: HTTP 401 reply: "invalid signature" (check '
                                                        'signing_secret and format)')


def test_webhook_receiver_verifies_the_github_signature_over_https(world: HttpsWorld) -> None:
    world.responder = lambda recorded: (200, {}, b"ok") if webhook.verify_github(
        GITHUB_SECRET, recorded.body, recorded.headers["x-hub-signature-256"]) else (401, {}, b"bad")
    request = webhook.build_request(event(), {"url": world.url + "/gh", "format": "github"}, GITHUB_SECRET, NOW)
    assert webhook.classify(perform(request, timeout=2, deadline=5, ca_file=world.ca_file)).state == SENT
    assert world.requests[0].body == request.body
