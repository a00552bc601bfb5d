"""The alert email: what the owner reads on their phone, and a message no log line can break."""

import email
import email.policy
from email.message import EmailMessage

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.rules.keys import fingerprint
from app.logins.loginline import parse_line
from app.check.render import AlertContext, Envelope, build_alert, build_notice, build_test_message

BLOB = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
FULL_LINE = ("2026-11-25 11:55:03 +0000 203.0.113.7 alice publickey cport=51234 saddr=10.0.0.1 sport=22 "
             "tty=/dev/pts/0 keytype=ssh-ed25519 key={} hook=bash-profile").format(BLOB).encode()
ENVELOPE = Envelope("ssh-alert@web1.example.com", ["owner@example.com", "backup@example.org"], "web1.example.com")
DATE = "Wed, 25 Nov 2026 11:55:04 +0000"
MESSAGE_ID = "<20261125115504.1@web1.example.com>"


def body_of(message: EmailMessage) -> str:
    return message.get_content()


def alert(line: bytes, key_comment=None) -> EmailMessage:  # type: ignore[no-untyped-def]
    return build_alert(parse_line(line), ENVELOPE, DATE, MESSAGE_ID, AlertContext(key_comment=key_comment))


def test_build_alert_full_record_subject_names_user_host_and_ip() -> None:
    assert alert(FULL_LINE)["Subject"] == "SSH login: alice@web1.example.com from 203.0.113.7"


def test_build_alert_full_record_has_the_expected_headers() -> None:
    message = alert(FULL_LINE)
    assert message["Date"] == DATE
    assert message["Message-ID"] == MESSAGE_ID
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["From"] == "\"ssh_alert on web1.example.com\" <ssh-alert@web1.example.com>"  # a named sender
    assert message["To"] == "owner@example.com, backup@example.org"
    assert [address.addr_spec for address in message["To"].addresses] == ["owner@example.com", "backup@example.org"]


def test_build_alert_full_record_body_has_every_fact() -> None:
    body = body_of(alert(FULL_LINE, key_comment="my laptop"))
    assert "web1.example.com" in body
    assert "203.0.113.7 port 51234" in body
    assert "User:" in body and "alice" in body
    assert "publickey" in body
    assert "ssh-ed25519 {}".format(fingerprint(BLOB)) in body
    assert '"my laptop" in authorized_keys' in body
    assert "interactive (tty /dev/pts/0)" in body
    assert "2026-11-25 11:55:03 +0000" in body
    assert "10.0.0.1 port 22" in body
    assert "~/.bash_profile" in body
    assert FULL_LINE.decode() in body.replace("\n  ", "")


def test_build_alert_key_not_in_authorized_keys_says_not_found() -> None:
    body = body_of(alert(FULL_LINE, key_comment=None))
    assert "ssh-ed25519 {} (not found in ~/.ssh/authorized_keys)".format(fingerprint(BLOB)) in body


def test_build_alert_key_without_comment_shows_only_the_fingerprint() -> None:
    body = body_of(alert(FULL_LINE, key_comment=""))
    assert "ssh-ed25519 {}\n".format(fingerprint(BLOB)) in body
    assert "not found" not in body


def test_build_alert_unreadable_key_data_is_said_so() -> None:
    body = body_of(alert(FULL_LINE.replace(BLOB.encode(), b"!!notbase64!!")))
    assert "ssh-ed25519 (unreadable key data)" in body


def test_build_alert_key_comment_with_control_characters_stays_on_one_line() -> None:
    body = body_of(alert(FULL_LINE, key_comment="evil\r\nBcc: victim@example.com"))
    assert '"evil Bcc: victim@example.com" in authorized_keys' in body
    assert "\r" not in body


def test_build_alert_without_methods_says_unknown_and_mentions_expose_auth_info() -> None:
    body = body_of(alert(b"2024-01-02 03:04:05 -0500 198.51.100.9 bob unknown"))
    assert "Auth:" in body
    auth_line = next(line for line in body.splitlines() if "Auth:" in line)
    assert "unknown" in auth_line and "ExposeAuthInfo" in auth_line
    assert "Key:" not in body


def test_build_alert_command_session_without_tty_is_described() -> None:
    body = body_of(alert(b"2026-11-25 11:55:03 +0000 203.0.113.7 alice publickey tty=none kind=command"))
    assert "command (no tty)" in body


def test_build_alert_unparsed_record_subject_says_unrecognised() -> None:
    message = alert(b"hand edit \x1b[31m here")
    assert message["Subject"] == "SSH login on web1.example.com (unrecognised log line)"


def test_build_alert_unparsed_record_body_shows_escaped_raw_text() -> None:
    body = body_of(alert(b"hand edit \x1b[31m\xff here"))
    assert "could not be parsed" in body
    assert "hand edit \\x1b[31m\\xff here" in body
    assert "\x1b" not in body


def test_build_alert_serialized_message_parses_back_with_the_same_subject() -> None:
    message = alert(FULL_LINE, key_comment="my laptop")
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert parsed["Subject"] == "SSH login: alice@web1.example.com from 203.0.113.7"
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed.get_content().splitlines() == message.get_content().splitlines()


def test_build_alert_non_ascii_raw_line_round_trips() -> None:
    message = alert("2026-11-25 11:55:03 +0000 203.0.113.7 alice publickey note=caf\u00e9".encode())
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert "note=caf\u00e9" in parsed.get_content()


def test_build_alert_body_lines_stay_below_smtp_limit_for_a_one_megabyte_line() -> None:
    for line in (b"x" * (1 << 20),
                 b"2026-11-25 11:55:03 +0000 203.0.113.7 alice publickey note=" + b"y" * (1 << 20),
                 b"\x1b\xff" * (1 << 19)):
        serialized = alert(line).as_bytes()
        assert len(serialized) < 100_000
        assert max(len(physical) for physical in serialized.split(b"\r\n")) < 998


def test_build_alert_unparsed_one_megabyte_line_body_lines_are_short() -> None:
    body = body_of(alert(b"z" * (1 << 20)))
    assert all(len(line.encode()) < 998 for line in body.splitlines())


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(
    st.binary(max_size=4000),
    st.builds(lambda rest: b"2026-11-25 11:55:03 +0000 203.0.113.7 alice publickey " + rest, st.binary(max_size=4000)),
))
def test_build_alert_arbitrary_bytes_never_put_line_breaks_in_headers(data: bytes) -> None:
    message = build_alert(parse_line(data), ENVELOPE, DATE, MESSAGE_ID)
    for name, value in message.items():
        assert "\r" not in str(value) and "\n" not in str(value), name
    serialized = message.as_bytes()
    parsed = email.message_from_bytes(serialized, policy=email.policy.default)
    assert parsed["Subject"] == message["Subject"]


@settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.from_regex(r"\A[\w.:%@/+,=-]{1,200}\Z", fullmatch=True))
def test_build_alert_arbitrary_field_text_in_user_gives_a_serializable_subject(user: str) -> None:
    line = "2026-11-25 11:55:03 +0000 203.0.113.7 {} publickey".format(user).encode()
    message = build_alert(parse_line(line), ENVELOPE, DATE, MESSAGE_ID)
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert parsed["Subject"] == message["Subject"]


def test_build_notice_lists_the_recent_records() -> None:
    recent = [parse_line(FULL_LINE), parse_line(b"2024-01-02 03:04:05 -0500 198.51.100.9 bob unknown"),
              parse_line(b"garbage \x1b line")]
    message = build_notice(ENVELOPE, "state re-seeded", "The state file was corrupt.", recent, DATE, MESSAGE_ID)
    assert message["Subject"] == "ssh_alert on web1.example.com: state re-seeded"
    body = body_of(message)
    assert body.startswith("The state file was corrupt.\n")
    assert "2026-11-25 11:55:03 +0000  alice  203.0.113.7  publickey" in body
    assert "2024-01-02 03:04:05 -0500  bob  198.51.100.9  unknown" in body
    assert "garbage \\x1b line" in body


def test_build_notice_without_records_has_no_review_list() -> None:
    body = body_of(build_notice(ENVELOPE, "s", "Nothing to see.", [], DATE, MESSAGE_ID))
    assert "most recent" not in body
    assert body.startswith("Nothing to see.")


def test_build_test_message_names_the_route() -> None:
    message = build_test_message(ENVELOPE, "SMTP mail.example.com:587 (STARTTLS) as alice", DATE, MESSAGE_ID)
    assert message["Subject"] == "ssh_alert test from web1.example.com"
    assert message["Auto-Submitted"] == "auto-generated"
    assert "Delivery: SMTP mail.example.com:587 (STARTTLS) as alice" in body_of(message)
