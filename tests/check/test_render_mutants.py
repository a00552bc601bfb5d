"""Rendering as the owner reads it where the other render tests left room: a geoip place's rows and marks, the
command row, the headers of a message the email package builds, the plain wire choice, the context's defaults."""

import time
from email.message import EmailMessage

from app.logins.geoip import Place
from app.logins.loginline import LoginRecord, parse_line
from app.check.render import (AlertContext, Envelope, alert_body, alert_rows, alert_subject, build_alert,
                              build_digest, digest_line, geo_rows, wrap_raw)
from app.check.wire import WireMessage

HOST = "web1.example.com"
ENVELOPE = Envelope("ssh-alert@web1.example.com", ["owner@example.com", "backup@example.org"], HOST)
DATE = "Mon, 07 Dec 2026 10:00:00 +0000"  # a header value passed through as given, never compared with now
SOURCE = "IP geolocation by DB-IP.com (CC BY 4.0)"
FRANKFURT = Place(country="DE", country_name="Germany", city="Frankfurt am Main", asn=64500,
                  org="Example Hosting GmbH", sources=(SOURCE, "ASN by Example"))


def now_line(extras: str = "", user: str = "alice", ip: str = "203.0.113.7") -> LoginRecord:
    """A login of a minute ago, with its recorded local time in UTC."""
    epoch = int(time.time()) - 60
    when = time.strftime("%Y-%m-%d %H:%M:%S +0000", time.gmtime(epoch))
    return parse_line("{} {} {} publickey epoch={} {}".format(when, ip, user, epoch, extras).rstrip().encode())


def utc_time_row(record: LoginRecord) -> str:
    return "{} ({} UTC)".format(record.when, record.when[:19])


# --- geoip: the rows, the marks, the digest ------------------------------------------------------------------------

def test_a_located_login_from_a_new_country_and_network_reads_exactly_so_in_the_body() -> None:
    record = now_line("tty=/dev/pts/2")
    context = AlertContext(new_ip=True, place=FRANKFURT, new_country=True, new_network=True)
    assert alert_body(record, HOST, context).split("\n")[:11] == [
        "Someone logged in over SSH.",
        "",
        "  Host:     web1.example.com",
        "  From:     203.0.113.7",
        "  Location: Frankfurt am Main, DE (Germany), AS64500 Example Hosting GmbH",
        "  New:      first login of alice from this country and network (VPNs and roaming make this a hint)",
        "  Geo data: IP geolocation by DB-IP.com (CC BY 4.0)",
        "  Geo data: ASN by Example",
        "  Source:   first login from this address for alice",
        "  User:     alice",
        "  Auth:     publickey",
    ]


def test_a_new_country_alone_and_a_new_network_alone_each_name_only_that() -> None:
    country = geo_rows("bob", AlertContext(place=FRANKFURT, new_country=True))
    network = geo_rows("bob", AlertContext(place=FRANKFURT, new_network=True))
    assert country[1] == ("New", "first login of bob from this country (VPNs and roaming make this a hint)")
    assert network[1] == ("New", "first login of bob from this network (VPNs and roaming make this a hint)")


def test_a_known_place_shows_its_location_and_sources_and_no_new_row() -> None:
    assert geo_rows("alice", AlertContext(place=FRANKFURT)) == [
        ("Location", "Frankfurt am Main, DE (Germany), AS64500 Example Hosting GmbH"),
        ("Geo data", SOURCE), ("Geo data", "ASN by Example")]
    assert geo_rows("alice", AlertContext(place=Place(country="FR"))) == [("Location", "FR")]


def test_no_place_or_a_place_the_databases_know_nothing_of_adds_no_rows() -> None:
    assert geo_rows("alice", AlertContext()) == []
    assert geo_rows("alice", AlertContext(place=Place(sources=(SOURCE,)), new_country=True)) == []
    labels = [label for label, _ in alert_rows(now_line(), HOST, AlertContext(place=Place()))]
    assert "Location" not in labels and "Geo data" not in labels


def test_the_subject_marks_a_new_country_then_a_new_network_after_urgent_and_before_new_ip() -> None:
    context = AlertContext(urgent=("night",), new_country=True, new_network=True, new_ip=True, trusted=True,
                           tags=("ops",), place=FRANKFURT)
    assert alert_subject(now_line(), HOST, context) == (
        "[URGENT] [NEW COUNTRY] [NEW NETWORK] [NEW IP] [trusted] [ops] SSH login: alice@web1.example.com "
        "from 203.0.113.7")
    assert alert_subject(now_line(), HOST, AlertContext(new_network=True)) == (
        "[NEW NETWORK] SSH login: alice@web1.example.com from 203.0.113.7")
    assert alert_subject(now_line(), HOST, AlertContext(new_country=True)) == (
        "[NEW COUNTRY] SSH login: alice@web1.example.com from 203.0.113.7")


def test_a_digest_line_names_the_country_and_network_of_a_located_login() -> None:
    record = now_line("tty=/dev/pts/1")
    when = record.when[:16]
    assert digest_line(record, AlertContext(place=FRANKFURT, new_country=True)) == (
        "{} alice@203.0.113.7 DE AS64500 publickey [interactive] [NEW COUNTRY]".format(when))
    assert digest_line(record, AlertContext(place=Place(country="FR", sources=(SOURCE,)))) == (
        "{} alice@203.0.113.7 FR publickey [interactive]".format(when))
    assert digest_line(record, AlertContext(place=Place(org="Unnumbered", sources=(SOURCE,)))) == (
        "{} alice@203.0.113.7 publickey [interactive]".format(when))


def test_a_digest_of_a_login_known_only_by_its_network_shows_the_network_in_the_body() -> None:
    record = now_line("tty=/dev/pts/1")
    message = build_digest([(record, AlertContext(place=Place(asn=64501, org="Example Transit")))],
                           ENVELOPE, DATE, "<d@web1>")
    assert message.get_content().split("\n")[2] == (
        "{} alice@203.0.113.7 AS64501 publickey [interactive]".format(record.when[:16]))


# --- the command row -----------------------------------------------------------------------------------------------

def test_a_recorded_command_is_shown_after_the_session_and_said_to_be_what_the_client_asked() -> None:
    record = now_line("kind=command cmd=uptime")
    found = alert_rows(record, HOST, AlertContext())
    labels = [label for label, _ in found]
    assert labels[labels.index("Session"):] == ["Session", "Command", "Time"]
    assert dict(found)["Command"] == "uptime (as the client asked; shell-escaped)"
    assert dict(found)["Time"] == utc_time_row(record)


def test_a_login_without_a_recorded_command_has_no_command_row() -> None:
    assert "Command" not in dict(alert_rows(now_line("kind=command"), HOST, AlertContext()))


# --- the message: plain wire bytes when they can, the email package otherwise ------------------------------------

def test_a_plain_ascii_alert_is_written_as_wire_bytes_and_one_with_html_by_the_email_package() -> None:
    record = now_line()
    plain = build_alert(record, ENVELOPE, DATE, "<1@web1>")
    assert isinstance(plain, WireMessage)
    assert plain.as_bytes().startswith(
        b'From: "ssh_alert on web1.example.com" <ssh-alert@web1.example.com>\r\n'
        b"To: owner@example.com, backup@example.org\r\n"
        b"Subject: SSH login: alice@web1.example.com from 203.0.113.7\r\n")
    assert isinstance(build_alert(record, ENVELOPE, DATE, "<1@web1>", with_html=True), EmailMessage)


def test_a_message_the_email_package_builds_has_every_header_in_order_with_its_value() -> None:
    message = build_alert(now_line(), ENVELOPE, DATE, "<1@web1>", with_html=True)
    assert isinstance(message, EmailMessage)
    assert [(name, str(value)) for name, value in message.items()][:7] == [
        ("From", '"ssh_alert on web1.example.com" <ssh-alert@web1.example.com>'),
        ("To", "owner@example.com, backup@example.org"),
        ("Subject", "SSH login: alice@web1.example.com from 203.0.113.7"),
        ("Date", DATE),
        ("Message-ID", "<1@web1>"),
        ("Auto-Submitted", "auto-generated"),
        ("X-Mailer", "ssh_alert"),
    ]
    assert b"\r\nAuto-Submitted: auto-generated\r\nX-Mailer: ssh_alert\r\n" in message.as_bytes()


def test_a_non_ascii_alert_built_by_the_email_package_carries_the_same_headers() -> None:
    envelope = Envelope("ssh-alert@web1.example.com", ["owner@example.com", "backup@example.org"], "m\u00fchle")
    message = build_alert(now_line(), envelope, DATE, "<2@web1>")
    assert isinstance(message, EmailMessage)
    assert message["To"] == "owner@example.com, backup@example.org"
    assert (message["Date"], message["Message-ID"]) == (DATE, "<2@web1>")
    assert (message["Auto-Submitted"], message["X-Mailer"]) == ("auto-generated", "ssh_alert")


# --- small edges -----------------------------------------------------------------------------------------------

def test_wrap_raw_of_an_empty_line_is_one_indented_empty_line_at_any_width() -> None:
    assert wrap_raw("", 1) == "  "
    assert wrap_raw("ab", 1) == "  a\n  b"


def test_a_default_context_holds_typed_empty_values_not_none_where_a_bool_str_or_tuple_is_declared() -> None:
    context = AlertContext()
    assert tuple(context) == (None, False, False, None, None, 0, "", (), (), None, False, False)
    assert [type(value) for value in context] == [type(None), bool, bool, type(None), type(None), int, str, tuple,
                                                  tuple, type(None), bool, bool]
