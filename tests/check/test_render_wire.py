"""The plain alert written directly (app.check.wire) is byte for byte what the email package writes."""

import email
import email.policy

from hypothesis import given, settings
from hypothesis import strategies as st

from app.check.render import Envelope, _email_message, _new_message, build_alert, build_digest
from app.check.wire import WireMessage
from app.logins.loginline import parse_line

DATE = "Wed, 25 Nov 2026 12:05:00 +0000"
LINE = (b"2026-11-25 11:55:03 +0000 203.0.113.7 alice publickey cport=51234 saddr=10.0.0.1 sport=22 "
        b"tty=/dev/pts/0 hook=ssh-rc epoch=1795607703")
ASCII = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=90)
HOSTILE = st.lists(st.sampled_from(list('ab .,;:"\\()<>@[]=?!\'\t\r\n\x00\x1b~é') + ["=?utf-8?q?x?="]),
                   max_size=40).map("".join)


def both(envelope: Envelope, subject: str, body: str, message_id: str = "<1.login@web1.example.com>"):  # type: ignore
    return (_new_message(envelope, subject, body, DATE, message_id),
            _email_message(envelope, subject, body, DATE, message_id))


def test_the_bench_alert_is_written_directly_with_the_email_packages_bytes() -> None:
    envelope = Envelope("ssh-alert@example.com", ["you@example.com"], "bench.example.com")
    message = build_alert(parse_line(LINE), envelope, DATE, "<1.login@[192.0.2.2]>")
    assert isinstance(message, WireMessage)
    direct, built = both(envelope, str(message["Subject"]), message.get_content(), "<1.login@[192.0.2.2]>")
    assert direct.as_bytes() == built.as_bytes()


def test_a_message_written_directly_reads_like_the_email_packages() -> None:
    envelope = Envelope("ssh-alert@example.com", ["you@example.com", "backup@example.org"], "web1.example.com")
    message = build_alert(parse_line(LINE), envelope, DATE, "<1@web1>")
    assert isinstance(message, WireMessage)
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert message["Subject"] == parsed["Subject"] == "SSH login: alice@web1.example.com from 203.0.113.7"
    assert [address.addr_spec for address in message["To"].addresses] == ["you@example.com", "backup@example.org"]
    assert message["From"].addresses[0].display_name == "ssh_alert on web1.example.com"
    assert message["message-id"] == "<1@web1>" and message.get_content_type() == "text/plain"
    assert not message.policy.utf8 and message["Content-Transfer-Encoding"] == "7bit"


def test_non_ascii_long_headers_and_html_parts_are_left_to_the_email_package() -> None:
    plain = Envelope("ssh-alert@example.com", ["you@example.com"], "web1")
    assert not isinstance(both(Envelope("a@example.com", ["j\u00fcrgen@example.com"], "web1"), "s", "b\n")[0],
                          WireMessage)
    assert not isinstance(both(Envelope("a@example.com", ["b@example.com"], "h\u00f6st"), "s", "b\n")[0],
                          WireMessage)
    assert not isinstance(both(plain, "s" * 80, "b\n")[0], WireMessage)
    assert not isinstance(both(plain, "s", "caf\u00e9\n")[0], WireMessage)
    assert not isinstance(both(plain, "=?utf-8?q?x?=", "b\n")[0], WireMessage)
    assert not isinstance(build_alert(parse_line(LINE), plain, DATE, "<1@web1>", with_html=True), WireMessage)
    assert not isinstance(build_digest([(parse_line(LINE), __import__("app.check.render").check.render.AlertContext())],
                                       plain, DATE, "<d@web1>", with_html=True), WireMessage)


@settings(max_examples=400, deadline=None)
@given(host=st.text(st.sampled_from("abcXYZ019 -._"), max_size=70) | ASCII, subject=ASCII, body=ASCII, local=st.sampled_from(["you", "a.b", "x+y", "o'neil", "a_b-c"]),
       domain=st.sampled_from(["example.com", "[192.0.2.1]", "xn--bcher-kva.example", "localhost"]),
       recipients=st.integers(1, 4))
def test_every_printable_ascii_message_is_written_as_the_email_package_writes_it(  # type: ignore[no-untyped-def]
        host, subject, body, local, domain, recipients):
    address = "{}@{}".format(local, domain)
    direct, built = both(Envelope(address, [address] * recipients, host), subject, body)
    assert direct.as_bytes() == built.as_bytes()


@settings(max_examples=400, deadline=None)
@given(host=HOSTILE, subject=HOSTILE, body=HOSTILE, domain=st.sampled_from(["web1", "[192.0.2.1]", "[IPv6:2001:db8::1]"]))
def test_hostile_text_is_written_directly_only_as_the_email_package_writes_it(  # type: ignore[no-untyped-def]
        host, subject, body, domain):
    direct, built = both(Envelope("ssh-alert@example.com", ["you@example.com"], host), subject, body,
                         "<0123456789abcdef.login@{}>".format(domain))
    if isinstance(direct, WireMessage):
        assert direct.as_bytes() == built.as_bytes()


@settings(max_examples=300, deadline=None)
@given(now=st.floats(0, 4102444800), zone=st.sampled_from(["UTC", "Europe/Paris", "America/St_Johns", "Asia/Kolkata",
                                                           "Pacific/Chatham", "America/Los_Angeles"]))
def test_the_date_header_is_what_email_utils_formatdate_writes(now: float, zone: str) -> None:  # type: ignore
    import email.utils
    import os
    import time

    from app.check.wire import date_header

    before = os.environ.get("TZ")
    os.environ["TZ"] = zone
    time.tzset()
    try:
        assert date_header(now) == email.utils.formatdate(now, localtime=True)
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()
