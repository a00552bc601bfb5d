"""app.check.wire at its limits, byte for byte against the email package: 78-character header lines, 998-character
body lines, printable ASCII only, no encoded-word opener, no leading, trailing or doubled spaces, display names
with a dot, the trailing newline; date_header against email.utils.formatdate; WireMessage's headers, parsing and
attribute lookup."""

import datetime
import email.utils
import os
import pickle
import time
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from typing import Iterator, List, Optional, Sequence, Tuple

import pytest

from app.check.wire import MAX_BODY_LINE, MAX_HEADER_LINE, WireMessage, date_header, plain_wire_bytes

ADDRESSES = ["ssh-alert@example.com", "you@example.com", "backup@example.org"]
DATE = email.utils.formatdate(time.time(), localtime=True)
MESSAGE_ID = "<0123456789abcdef.login@web1.example.com>"


def headers(subject: str) -> List[Tuple[str, str]]:
    return [("Subject", subject), ("Date", DATE), ("Message-ID", MESSAGE_ID)]


def direct(subject: str = "SSH login", body: str = "body\n", name: str = "ssh_alert on web1",
           addresses: Sequence[str] = ADDRESSES) -> Optional[bytes]:
    return plain_wire_bytes(name, addresses, headers(subject), body)


def packaged(subject: str = "SSH login", body: str = "body\n", name: str = "ssh_alert on web1",
             addresses: Sequence[str] = ADDRESSES) -> bytes:
    """The same message as the email package writes it (app.check.render._email_message's way)."""
    message = EmailMessage(policy=SMTP)
    message["From"] = Address(display_name=name, addr_spec=addresses[0])
    message["To"] = ", ".join(addresses[1:])
    for header, value in headers(subject):
        message[header] = value
    message["Auto-Submitted"] = "auto-generated"
    message["X-Mailer"] = "ssh_alert"
    message.set_content(body, cte="7bit")
    return message.as_bytes()


def spaced(length: int) -> str:
    """A subject of words, length characters long (one the SMTP policy folds once the line is too long)."""
    return ("word " * length)[:length - 1] + "x"


def test_a_header_line_of_exactly_78_characters_is_written_directly_as_the_email_package_writes_it() -> None:
    subject = spaced(MAX_HEADER_LINE - len("Subject: "))
    assert len("Subject: " + subject) == 78
    assert direct(subject) == packaged(subject)
    assert b"\r\nSubject: " + subject.encode() + b"\r\n" in packaged(subject)


def test_a_header_line_of_79_characters_is_left_to_the_email_package_which_folds_it() -> None:
    subject = spaced(MAX_HEADER_LINE - len("Subject: ") + 1)
    assert direct(subject) is None
    assert b"\r\nSubject: " + subject.encode() + b"\r\n" not in packaged(subject)


def test_a_body_line_of_998_characters_is_written_directly_and_one_of_999_is_not() -> None:
    assert direct(body="a" * MAX_BODY_LINE + "\n") == packaged(body="a" * 998 + "\n")
    assert direct(body="b\n" + "a" * 999 + "\nc\n") is None


@pytest.mark.parametrize("character", ["\x7f", "\t", "\x1b", "\x00", "\u00e9", "\r"])
def test_a_character_outside_printable_ascii_sends_the_message_to_the_email_package(character: str) -> None:
    assert direct(subject="login " + character + " now") is None
    assert direct(body="line one\nline " + character + " two\n") is None
    assert direct(name="web" + character) is None


@pytest.mark.parametrize("subject", ["=?utf-8?q?x?=", "a =? b", " leading", "trailing ", "double  space", ""])
def test_a_header_the_smtp_policy_would_rewrite_is_left_to_the_email_package(subject: str) -> None:
    assert direct(subject) is None


def test_single_spaces_and_every_printable_character_but_the_opener_are_written_directly() -> None:
    subject = "a b ~ ! # $ % & ' ( ) * + , - . / : ; < = > ? @ [ \\ ] ^ _ ` { | }"
    assert direct(subject) == packaged(subject)
    body = "".join(chr(code) for code in range(0x20, 0x7F)) + "\n"
    assert direct(body=body) == packaged(body=body)


def test_a_display_name_with_a_dot_is_quoted_and_one_without_is_not() -> None:
    dotted = direct(name="ssh_alert on web1.example.com")
    assert dotted == packaged(name="ssh_alert on web1.example.com")
    assert dotted is not None and dotted.startswith(b'From: "ssh_alert on web1.example.com" <ssh-alert@example.com>\r\n')
    bare = direct(name="ssh_alert on web-1")
    assert bare == packaged(name="ssh_alert on web-1")
    assert bare is not None and bare.startswith(b"From: ssh_alert on web-1 <ssh-alert@example.com>\r\n")


@pytest.mark.parametrize("name", ["web1 (main)", 'say "hi"', "a,b", "a@b", "x;y", "back\\slash", "colon:"])
def test_a_display_name_the_email_package_would_quote_or_escape_is_left_to_it(name: str) -> None:
    assert direct(name=name) is None


def test_a_leading_or_trailing_space_in_an_address_is_left_to_the_email_package() -> None:
    assert direct(addresses=[" ssh-alert@example.com", "you@example.com"]) is None
    assert direct(addresses=["ssh-alert@example.com", "you@example.com "]) is None


@pytest.mark.parametrize("body", ["", "one line", "one line\n", "two\nlines\n", "blank after\n\n", "\n", "a\n\nb"])
def test_the_body_ends_with_one_line_end_as_the_email_package_writes_it(body: str) -> None:
    assert direct(body=body) == packaged(body=body)


def test_the_wire_bytes_are_the_headers_in_order_then_the_mime_headers_then_the_body() -> None:
    assert direct(body="hello\n", addresses=ADDRESSES[:2]) == (
        "From: ssh_alert on web1 <ssh-alert@example.com>\r\nTo: you@example.com\r\nSubject: SSH login\r\n"
        "Date: {}\r\nMessage-ID: {}\r\nAuto-Submitted: auto-generated\r\nX-Mailer: ssh_alert\r\n"
        'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: 7bit\r\nMIME-Version: 1.0\r\n'
        "\r\nhello\r\n").format(DATE, MESSAGE_ID).encode()


@pytest.fixture
def zone() -> Iterator[None]:
    before = os.environ.get("TZ")
    yield
    if before is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = before
    time.tzset()


@pytest.mark.parametrize("name", ["UTC", "Europe/Paris", "America/St_Johns", "Asia/Kolkata", "Pacific/Chatham"])
def test_the_date_header_is_formatdate_in_every_month_and_on_every_weekday_of_this_year(name: str, zone: None) -> None:
    os.environ["TZ"] = name
    time.tzset()
    year = datetime.datetime.fromtimestamp(time.time()).year
    for month in range(1, 13):
        for day in range(1, 8):
            now = datetime.datetime(year, month, day, 23, 59, 58).timestamp() + 0.75
            assert date_header(now) == email.utils.formatdate(now, localtime=True)
    now = time.time()
    assert date_header(now) == email.utils.formatdate(now, localtime=True)


def wire_message() -> WireMessage:
    data = direct(body="hello\n")
    assert data is not None
    return WireMessage(data, dict(headers("SSH login")))


def test_a_wire_message_gives_the_headers_it_was_given_as_given_in_any_case() -> None:
    given = {"Subject": "the given subject", "Date": DATE, "Message-ID": MESSAGE_ID}
    data = direct()
    assert data is not None
    message = WireMessage(data, given)
    assert message["subject"] is given["Subject"] and message["SUBJECT"] == "the given subject"
    assert type(message["message-id"]) is str and message.headers == {name.lower(): value for name, value in given.items()}
    assert str(message["To"]) == "you@example.com, backup@example.org"  # not given: read from the bytes
    assert message.as_bytes() is data


def test_a_wire_message_reads_like_the_email_packages_message_once_parsed() -> None:
    message = wire_message()
    parsed = message.parsed()
    assert message.parsed() is parsed and isinstance(parsed, EmailMessage)
    assert parsed.get_content() == "hello\n" and message.get_content() == "hello\n"
    assert message.get_content_type() == "text/plain" and message.policy is parsed.policy
    assert message["From"].addresses[0].addr_spec == "ssh-alert@example.com"


def test_a_wire_message_has_no_dunder_the_parsed_message_has() -> None:
    message = wire_message()
    assert not hasattr(message, "__len__") and not hasattr(message, "__contains__")
    assert not hasattr(message, "__iter__")


@pytest.mark.parametrize("name", ["data", "headers", "_parsed"])
def test_a_wire_message_not_yet_initialised_says_which_attribute_it_lacks(name: str) -> None:
    message = WireMessage.__new__(WireMessage)
    with pytest.raises(AttributeError) as raised:
        getattr(message, name)
    assert raised.value.args == (name,)


def test_a_wire_message_survives_pickling_with_its_bytes_and_headers() -> None:
    message = wire_message()
    copy = pickle.loads(pickle.dumps(message))
    assert copy.as_bytes() == message.as_bytes() and copy["Subject"] == "SSH login"
