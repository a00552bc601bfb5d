"""Rendering at its edges: the exact text the owner reads, header cuts, hostile bytes in headers, digests, notices."""

import email
import email.policy
import time
from typing import Iterator

import pytest

from app.rules.keys import fingerprint
from app.logins.loginline import parse_line
from app.check.render import (AlertContext, Envelope, alert_body, alert_html, alert_rows, build_alert, build_digest,
                                 build_notice, build_refused_notice, build_session_alert, build_test_message,
                                 digest_line, one_line, session_description, wrap_raw)

BLOB = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
ENVELOPE = Envelope("ssh-alert@web1.example.com", ["owner@example.com"], "web1.example.com")
DATE = "Wed, 25 Nov 2026 12:05:00 +0000"
FULL = ("2026-11-25 11:55:03 +0000 203.0.113.7 alice publickey,password cport=51234 saddr=10.0.0.1 sport=22 "
        "tty=/dev/pts/0 hook=ssh-rc,bashrc,bash-profile,cron,later epoch=1795607703 keytype=ssh-ed25519 "
        "key=" + BLOB).encode()
ADVICE = ("If this was not you or someone you trust: check `last` and `who`, remove unknown keys from\n"
          "~/.ssh/authorized_keys, change the account's password, and tell your hosting provider.\n")


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time is UTC, so first/last seen dates are the same on every machine."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def line(extras: str = "", auth: str = "publickey") -> bytes:
    return "2026-11-25 11:55:03 +0000 203.0.113.7 alice {} {}".format(auth, extras).rstrip().encode()


def rows(extras: str = "", context: AlertContext = AlertContext(), auth: str = "publickey") -> dict:
    return dict(alert_rows(parse_line(line(extras, auth)), "web1.example.com", context))


# --- the alert as the owner reads it ---------------------------------------------------------------------------

def test_alert_body_with_every_row_reads_exactly_as_the_owner_sees_it(utc: None) -> None:
    context = AlertContext(key_comment="laptop", trusted=True, first_seen=1795000000.0, last_seen=1795600000.0,
                           earlier=7, rdns="host.example.net")
    message = build_alert(parse_line(FULL), ENVELOPE, DATE, "<1@web1>", context)
    assert message["Subject"] == "[trusted] SSH login: alice@web1.example.com from 203.0.113.7"
    assert message.get_content() == (
        "Someone logged in over SSH.\n"
        "\n"
        "  Host:        web1.example.com\n"
        "  From:        203.0.113.7 port 51234\n"
        "  Reverse DNS: host.example.net\n"
        "  Source:      known: first seen 2026-11-18 11:06, last seen 2026-11-25 09:46, 7 earlier login(s)\n"
        "  Trusted:     yes (in [alert] trusted)\n"
        "  User:        alice\n"
        "  Auth:        publickey, password\n"
        "  Key:         ssh-ed25519 SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU"
        " (\"laptop\" in authorized_keys)\n"
        "  Session:     interactive (tty /dev/pts/0)\n"
        "  Time:        2026-11-25 11:55:03 +0000 (2026-11-25 11:55:03 UTC)\n"
        "  Server:      10.0.0.1 port 22\n"
        "  Seen by:     ~/.ssh/rc, ~/.bashrc, ~/.bash_profile, cron, later\n"
        "\n" + ADVICE + "\n"
        "Raw log line:\n"
        "  " + FULL.decode()[:200] + "\n"
        "  " + FULL.decode()[200:] + "\n")


def test_alert_html_has_the_same_rows_in_an_escaped_table(utc: None) -> None:
    context = AlertContext(key_comment="<b>laptop</b>", new_ip=True)
    html = alert_html(parse_line(line("cport=1 key=" + BLOB)), "web1.example.com", context)
    assert html == (
        "<p>Someone logged in over SSH.</p><table cellpadding=\"3\">"
        "<tr><th align=\"left\">Host</th><td>web1.example.com</td></tr>"
        "<tr><th align=\"left\">From</th><td>203.0.113.7 port 1</td></tr>"
        "<tr><th align=\"left\">Source</th><td>first login from this address for alice</td></tr>"
        "<tr><th align=\"left\">User</th><td>alice</td></tr>"
        "<tr><th align=\"left\">Auth</th><td>publickey</td></tr>"
        "<tr><th align=\"left\">Key</th><td>key {} (&quot;&lt;b&gt;laptop&lt;/b&gt;&quot; in authorized_keys)</td></tr>"
        "<tr><th align=\"left\">Session</th><td>command or file transfer (no tty)</td></tr>"
        "<tr><th align=\"left\">Time</th><td>2026-11-25 11:55:03 +0000 (2026-11-25 11:55:03 UTC)</td></tr>"
        "</table><p>If this was not you or someone you trust: check `last` and `who`, remove unknown keys from "
        "~/.ssh/authorized_keys, change the account&#x27;s password, and tell your hosting provider.</p>").format(
        fingerprint(BLOB))


def test_alert_html_of_an_unparsed_line_shows_it_escaped():
    assert alert_html(parse_line(b"<script>x</script>"), "web1", AlertContext()) == (
        "<p>A line in the login log could not be parsed; it may be a login, a hand edit or tampering.</p>"
        "<pre>&lt;script&gt;x&lt;/script&gt;</pre>")


def test_build_alert_with_html_has_the_text_and_the_html_alternative():
    message = build_alert(parse_line(FULL), ENVELOPE, DATE, "<1@web1>", with_html=True)
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    assert build_alert(parse_line(FULL), ENVELOPE, DATE, "<1@web1>").get_content_type() == "text/plain"


def test_alert_body_of_an_unparsed_line_names_the_host_and_shows_the_line_wrapped():
    raw = "x" * 250
    assert alert_body(parse_line(raw.encode()), "web1.example.com") == (
        "A line in the login log could not be parsed; it may be a login, a hand edit or tampering.\n\n"
        "  Host:  web1.example.com\n\nRaw line:\n  " + "x" * 200 + "\n  " + "x" * 50 + "\n")


def test_subject_tags_a_new_and_trusted_address_in_that_order():
    message = build_alert(parse_line(line()), ENVELOPE, DATE, "<1@web1>", AlertContext(new_ip=True, trusted=True))
    assert message["Subject"] == "[NEW IP] [trusted] SSH login: alice@web1.example.com from 203.0.113.7"
    assert build_alert(parse_line(line()), ENVELOPE, DATE, "<1@web1>")["Subject"] == (
        "SSH login: alice@web1.example.com from 203.0.113.7")


def test_a_default_context_is_a_known_untrusted_source_with_no_history_and_no_key_found():
    found = rows("key=" + BLOB)
    assert found["Source"] == "known: first seen ?, last seen ?, 0 earlier login(s)"
    assert "Trusted" not in found and "Reverse DNS" not in found
    assert found["Key"] == "key {} (not found in ~/.ssh/authorized_keys)".format(fingerprint(BLOB))


def test_source_and_server_without_ports_show_only_the_addresses():
    found = rows("saddr=10.0.0.1")
    assert found["From"] == "203.0.113.7"
    assert found["Server"] == "10.0.0.1"
    assert "Server" not in rows("sport=22")
    assert "Seen by" not in rows()


def test_the_time_row_of_a_login_whose_time_is_no_real_date_shows_it_as_written():
    record = parse_line(b"2026-02-30 10:00:00 +0000 203.0.113.7 alice publickey")
    assert record.parsed and record.epoch is None
    assert dict(alert_rows(record, "web1", AlertContext()))["Time"] == "2026-02-30 10:00:00 +0000"


def test_the_time_row_gives_the_utc_time_of_the_login_beside_the_local_one():
    record = parse_line(b"2026-11-25 12:55:03 +0100 203.0.113.7 alice publickey")
    assert dict(alert_rows(record, "web1", AlertContext()))["Time"] == (
        "2026-11-25 12:55:03 +0100 (2026-11-25 11:55:03 UTC)")


@pytest.mark.parametrize("hook, shown", [("bash-profile", "~/.bash_profile"), ("bashrc", "~/.bashrc"),
                                         ("ssh-rc", "~/.ssh/rc"), ("cron", "cron"), ("pam", "pam")])
def test_each_hook_is_named_by_the_file_it_runs_from(hook: str, shown: str):
    assert rows("hook=" + hook)["Seen by"] == shown


@pytest.mark.parametrize("extras, described", [
    ("tty=/dev/pts/3", "interactive (tty /dev/pts/3)"),
    ("tty=/dev/pts/3 kind=command", "interactive (tty /dev/pts/3)"),
    ("tty=none kind=command", "command (no tty)"),
    ("tty=none kind=transfer", "file transfer (no tty)"),
    ("tty=none kind=other", "command or file transfer (no tty)"),
    ("tty=none", "command or file transfer (no tty)"),
    ("kind=transfer", "file transfer (no tty)"),
    ("", "command or file transfer (no tty)"),
])
def test_session_description_from_tty_and_kind(extras: str, described: str):
    assert session_description(parse_line(line(extras))) == described


def test_the_auth_row_without_methods_says_unknown_and_how_to_expose_them():
    assert rows(auth="unknown")["Auth"] == (
        "unknown (method not exposed: ask root to set 'ExposeAuthInfo yes' in /etc/ssh/sshd_config to see the method "
        "and key)")


def test_a_row_value_is_cut_to_300_characters():
    found = rows("hook=" + ",".join(["ssh-rc"] * 28))  # 195 characters, shown as 28 times "~/.ssh/rc, "
    assert found["Seen by"] == ", ".join(["~/.ssh/rc"] * 28)[:299] + "\u2026"


# --- headers -----------------------------------------------------------------------------------------------------

def test_headers_name_the_mailer_and_say_the_message_is_automatic():
    message = build_alert(parse_line(line()), ENVELOPE, DATE, "<1@web1>")
    assert message["X-Mailer"] == "ssh_alert"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Date"] == DATE and message["Message-ID"] == "<1@web1>"


def test_an_envelope_without_an_ehlo_name_makes_message_ids_in_a_reserved_domain():
    assert Envelope("a@example.com", ["b@example.com"], "web1").mail_domain == "localhost.invalid"


def test_header_with_nul_and_escape_is_printable():
    envelope = Envelope("ssh-alert@web1.example.com", ["owner@example.com"], "web\x001\x1b[2J.example.com")
    message = build_alert(parse_line(line()), envelope, DATE, "<1@web1>")
    assert message["Subject"] == "SSH login: alice@web\\x001\\x1b[2J.example.com from 203.0.113.7"
    assert message["From"].addresses[0].display_name == "ssh_alert on web\\x001\\x1b[2J.example.com"
    serialized = message.as_bytes()
    assert b"\x00" not in serialized and b"\x1b" not in serialized
    assert email.message_from_bytes(serialized, policy=email.policy.default)["Subject"] == message["Subject"]


def test_header_line_breaks_and_tabs_in_the_host_collapse_to_one_space():
    envelope = Envelope("ssh-alert@web1.example.com", ["owner@example.com"], "web1\r\nBcc: x@evil.example\t ok")
    message = build_alert(parse_line(line()), envelope, DATE, "<1@web1>")
    assert message["Subject"] == "SSH login: alice@web1 Bcc: x@evil.example ok from 203.0.113.7"
    assert "Bcc" not in message.keys()


def test_the_sender_name_is_cut_to_120_characters():
    envelope = Envelope("ssh-alert@web1.example.com", ["owner@example.com"], "h" * 200)
    name = build_alert(parse_line(line()), envelope, DATE, "<1@web1>")["From"].addresses[0].display_name
    assert name == ("ssh_alert on " + "h" * 200)[:119] + "\u2026"
    exact = Envelope("ssh-alert@web1.example.com", ["owner@example.com"], "h" * (120 - len("ssh_alert on ")))
    assert build_alert(parse_line(line()), exact, DATE, "<1@web1>")["From"].addresses[0].display_name == (
        "ssh_alert on " + "h" * 107)


def test_the_subject_is_cut_to_250_characters():
    user = "u" * 200
    record = parse_line("2026-11-25 11:55:03 +0000 203.0.113.7 {} publickey".format(user).encode())
    envelope = Envelope("ssh-alert@web1.example.com", ["owner@example.com"], "web1.example.com")
    full = "SSH login: {}@web1.example.com from 203.0.113.7".format(user)
    assert len(full) < 250
    assert build_alert(record, envelope, DATE, "<1@web1>")["Subject"] == full
    long_host = Envelope("ssh-alert@web1.example.com", ["owner@example.com"], "h" * 60)
    subject = build_alert(record, long_host, DATE, "<1@web1>")["Subject"]
    assert subject == "SSH login: {}@{} from 203.0.113.7".format(user, "h" * 60)[:249] + "\u2026"


def test_one_line_keeps_a_value_of_exactly_the_limit_and_cuts_a_longer_one():
    assert one_line("a" * 200) == "a" * 200
    assert one_line("a" * 201) == "a" * 199 + "\u2026"
    assert one_line(" spaced\r\n\tout  ") == "spaced out"


def test_an_ascii_body_goes_as_7bit_and_a_non_ascii_one_as_quoted_printable():
    ascii_message = build_alert(parse_line(line()), ENVELOPE, DATE, "<1@web1>")
    assert ascii_message["Content-Transfer-Encoding"] == "7bit"
    accented = build_alert(parse_line(line("note=caf\u00e9".encode().decode())), ENVELOPE, DATE, "<1@web1>")
    assert accented["Content-Transfer-Encoding"] == "quoted-printable"


def test_a_non_ascii_local_part_makes_an_smtputf8_message_and_a_non_ascii_domain_goes_as_a_labels():
    idn = Envelope("ssh-alert@web1.example.com", ["owner@b\u00fccher.example"], "web1")
    message = build_alert(parse_line(line()), idn, DATE, "<1@web1>")
    assert message["To"] == "owner@xn--bcher-kva.example"
    assert not message.policy.utf8
    utf8 = Envelope("ssh-alert@web1.example.com", ["j\u00fcrgen@example.com"], "web1")
    message = build_alert(parse_line(line()), utf8, DATE, "<1@web1>")
    assert message.policy.utf8
    assert "j\u00fcrgen@example.com".encode() in message.as_bytes()


def test_several_recipients_are_listed_in_order_in_to():
    envelope = Envelope("s@example.com", ["a@example.com", "b@example.org", "c@example.net"], "web1")
    assert build_alert(parse_line(line()), envelope, DATE, "<1@web1>")["To"] == (
        "a@example.com, b@example.org, c@example.net")


# --- wrap_raw -------------------------------------------------------------------------------------------------------

def test_wrap_raw_cuts_into_200_character_pieces_each_indented():
    assert wrap_raw("r" * 200) == "  " + "r" * 200
    assert wrap_raw("r" * 401) == "  " + "r" * 200 + "\n  " + "r" * 200 + "\n  r"
    assert wrap_raw("abcdef", width=4) == "  abcd\n  ef"


def test_wrap_raw_of_an_empty_line_is_one_indented_empty_line():
    assert wrap_raw("") == "  "


def test_wrap_raw_escapes_before_cutting():
    assert wrap_raw("\x1b" * 3, width=4) == "  \\x1b\n  \\x1b\n  \\x1b"


# --- digests ---------------------------------------------------------------------------------------------------------

def digest_items():  # type: ignore[no-untyped-def]
    first = parse_line(line("cport=1 tty=/dev/pts/0 keytype=ssh-ed25519 key=" + BLOB))
    second = parse_line(b"2026-11-25 12:00:09 +0000 198.51.100.1 bob unknown cport=2 tty=none kind=transfer")
    garbage = parse_line(b"garbage \x1b line")
    fourth = parse_line(b"2026-11-25 12:01:00 +0000 203.0.113.7 alice password cport=3 kind=command key=" +
                        BLOB.encode())
    return [(first, AlertContext(key_comment="laptop", new_ip=True)),
            (second, AlertContext(rdns="b.example.net", trusted=True, new_ip=True)),
            (garbage, AlertContext()),
            (fourth, AlertContext())]


def test_a_digest_lists_every_login_newest_first_and_its_subject_counts_logins_addresses_and_new_ones():
    message = build_digest(digest_items(), ENVELOPE, DATE, "<d@web1>", with_html=True)
    assert message["Subject"] == "SSH logins: 4 on web1.example.com from 3 IPs (2 new)"
    text, html = (part.get_content() for part in message.iter_parts())
    assert text == (
        "4 SSH logins since the last alert, newest first:\n\n"
        "2026-11-25 12:01 alice@203.0.113.7 password {} [command]\n"
        "unrecognised line: garbage \\x1b line\n"
        "2026-11-25 12:00 bob@198.51.100.1 (b.example.net) unknown [file transfer] [NEW IP] [trusted]\n"
        "2026-11-25 11:55 alice@203.0.113.7 publickey laptop [interactive] [NEW IP]\n\n" + ADVICE + "\n"
        "`ssh_alert.pyz history` shows every recorded login.\n").format(fingerprint(BLOB))
    assert html == (
        "<p>4 SSH logins since the last alert, newest first:</p><ol>"
        "<li>2026-11-25 12:01 alice@203.0.113.7 password {} [command]</li>"
        "<li>unrecognised line: garbage \\x1b line</li>"
        "<li>2026-11-25 12:00 bob@198.51.100.1 (b.example.net) unknown [file transfer] [NEW IP] [trusted]</li>"
        "<li>2026-11-25 11:55 alice@203.0.113.7 publickey laptop [interactive] [NEW IP]</li></ol>"
        "<p>If this was not you or someone you trust: check `last` and `who`, remove unknown keys from "
        "~/.ssh/authorized_keys, change the account&#x27;s password, and tell your hosting provider.</p>\n").format(
        fingerprint(BLOB))


def test_a_digest_from_one_address_says_ip_not_ips_and_leaves_out_new_when_none_is():
    second = parse_line(b"2026-11-25 12:00:09 +0000 198.51.100.1 bob unknown cport=2")
    message = build_digest([(second, AlertContext()), (second, AlertContext())], ENVELOPE, DATE, "<d@web1>")
    assert message["Subject"] == "SSH logins: 2 on web1.example.com from 1 IP"
    assert message.get_content_type() == "text/plain"
    one_new = build_digest([(second, AlertContext(new_ip=True))], ENVELOPE, DATE, "<d@web1>")
    assert one_new["Subject"] == "SSH logins: 1 on web1.example.com from 1 IP (1 new)"


def test_a_digest_line_names_the_key_by_comment_else_fingerprint_else_just_key():
    record = parse_line(line("key=" + BLOB))
    assert digest_line(record, AlertContext(key_comment="laptop")).split(" ")[4] == "laptop"
    assert digest_line(record, AlertContext(key_comment="")).split(" ")[4] == fingerprint(BLOB)
    unreadable = parse_line(line("key=!!!"))
    assert digest_line(unreadable, AlertContext()) == (
        "2026-11-25 11:55 alice@203.0.113.7 publickey key [command or file transfer]")
    assert digest_line(parse_line(line()), AlertContext()) == (
        "2026-11-25 11:55 alice@203.0.113.7 publickey [command or file transfer]")


def test_a_digest_line_of_an_unparsed_line_is_cut_to_160_characters():
    assert digest_line(parse_line(b"y" * 500), AlertContext()) == "unrecognised line: " + "y" * 159 + "\u2026"


# --- the other messages ---------------------------------------------------------------------------------------------

def test_a_session_no_hook_recorded_is_reported_with_its_process_and_start(utc: None):
    message = build_session_alert(1795607703.0, "sshd: alice@notty", ENVELOPE, DATE, "<s@web1>")
    assert message["Subject"] == "SSH connection seen by no hook on web1.example.com since 11:55"
    assert message.get_content() == (
        "An SSH connection to this account is open that no login hook recorded.\n\n"
        "  Host:       web1.example.com\n"
        "  Since:      2026-11-25 11:55:03 +0000\n"
        "  Process:    sshd: alice@notty\n\n"
        "Without root, that is all an account can see of such a connection: sshd hides its client\n"
        "address from the user's processes, and it runs no hook. Root can show the address with\n"
        "`ss -tnp | grep sshd`; the system-wide PAM mode records every connection.\n"
        "If you do not expect it, end it (kill the process) and remove unknown keys from\n"
        "~/.ssh/authorized_keys.\n")


def test_a_connection_without_a_session_is_reported_as_a_tunnel(utc: None):
    message = build_session_alert(1795607703.0, "sshd: alice", ENVELOPE, DATE, "<s@web1>")
    assert message["Subject"] == "SSH connection without a session on web1.example.com since 11:55"
    assert message.get_content().startswith(
        "An SSH connection to this account is open with no session (tunnel-only, e.g. ssh -N port forwarding).\n")


def test_a_session_alerts_process_title_is_one_printable_line_cut_to_120():
    message = build_session_alert(1795607703.0, "sshd: \x1b[2J" + "p" * 200, ENVELOPE, DATE, "<s@web1>")
    process = next(row for row in message.get_content().splitlines() if row.startswith("  Process:"))
    assert process == "  Process:    " + ("sshd: \\x1b[2J" + "p" * 200)[:119] + "\u2026"


def test_the_refused_notice_names_the_address_and_the_servers_reply():
    message = build_refused_notice(ENVELOPE, "gone@example.org", "550 5.1.1 <gone@example.org>: mailbox\r\nunavailable",
                                   DATE, "<r@web1>")
    assert message["Subject"] == "ssh_alert on web1.example.com: gone@example.org refused"
    assert message.get_content() == (
        "The mail server refused alerts for gone@example.org permanently:\n\n"
        "  550 5.1.1 <gone@example.org>: mailbox unavailable\n\n"
        "That address gets no alerts until this is fixed; every other recipient does. Fix [alert] to, then run: "
        "ssh_alert.pyz test\n")


def test_the_refused_notice_subject_cuts_a_long_address_to_80_characters():
    address = "a" * 100 + "@example.org"
    subject = build_refused_notice(ENVELOPE, address, "550", DATE, "<r@web1>")["Subject"]
    assert subject == "ssh_alert on web1.example.com: {}\u2026 refused".format(address[:79])


def test_the_test_message_says_how_delivery_goes():
    message = build_test_message(ENVELOPE, "sendmail /usr/sbin/sendmail", DATE, "<t@web1>")
    assert message.get_content() == (
        "This is a test from ssh_alert on web1.example.com.\n\nDelivery: sendmail /usr/sbin/sendmail\n\n"
        "If you can read this, login alerts will reach you the same way.\n")


def test_a_notice_lists_recent_logins_parsed_or_raw_after_the_explanation():
    recent = [parse_line(line()), parse_line(b"2024-01-02 03:04:05 -0500 198.51.100.9 bob unknown"),
              parse_line(b"hand \x1b edit")]
    message = build_notice(ENVELOPE, "re-seeded", "The store was corrupt.", iter(recent), DATE, "<n@web1>")
    assert message.get_content() == (
        "The store was corrupt.\n\n"
        "The most recent recorded logins, for review:\n\n"
        "  2026-11-25 11:55:03 +0000  alice  203.0.113.7  publickey\n"
        "  2024-01-02 03:04:05 -0500  bob  198.51.100.9  unknown\n"
        "  hand \\x1b edit\n")


def test_a_key_comment_is_cut_to_120_characters_in_the_key_row():
    found = rows("key=" + BLOB, AlertContext(key_comment="c" * 200))
    assert found["Key"] == 'key {} ("{}\u2026" in authorized_keys)'.format(fingerprint(BLOB), "c" * 119)
    exact = rows("key=" + BLOB, AlertContext(key_comment="c" * 120))
    assert exact["Key"] == 'key {} ("{}" in authorized_keys)'.format(fingerprint(BLOB), "c" * 120)


def test_a_digest_line_lists_every_method_comma_separated():
    record = parse_line(line(auth="publickey,keyboard-interactive"))
    assert digest_line(record, AlertContext()) == (
        "2026-11-25 11:55 alice@203.0.113.7 publickey,keyboard-interactive [command or file transfer]")


def test_a_digest_line_in_the_body_is_cut_to_300_characters():
    record = parse_line(line())
    context = AlertContext(rdns="r" * 400)
    body = build_digest([(record, context)], ENVELOPE, DATE, "<d@web1>").get_content()
    shown = body.splitlines()[2]
    assert shown == digest_line(record, context)[:299] + "\u2026"
    assert len(shown) == 300


def test_a_digest_with_html_has_the_text_and_the_html_alternative():
    message = build_digest(digest_items(), ENVELOPE, DATE, "<d@web1>", with_html=True)
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]


def test_a_notice_lists_every_method_of_a_recent_login():
    recent = [parse_line(line(auth="publickey,password"))]
    body = build_notice(ENVELOPE, "s", "Why.", recent, DATE, "<n@web1>").get_content()
    assert "  2026-11-25 11:55:03 +0000  alice  203.0.113.7  publickey,password\n" in body


# --- [rules]: urgent logins and tags ---------------------------------------------------------------------------------

URGENT = AlertContext(new_ip=True, trusted=True, tags=("ops", "vpn"),
                      urgent=("a key not in authorized_keys", "outside work hours"))


def test_the_subject_of_an_urgent_tagged_login_leads_with_urgent_then_the_marks_then_the_tags():
    message = build_alert(parse_line(line()), ENVELOPE, DATE, "<1@web1>", URGENT)
    assert message["Subject"] == (
        "[URGENT] [NEW IP] [trusted] [ops] [vpn] SSH login: alice@web1.example.com from 203.0.113.7")


def test_a_tag_is_cut_to_32_characters_and_made_printable_in_the_subject():
    context = AlertContext(tags=("t" * 40, "a\x1bb"))
    subject = build_alert(parse_line(line()), ENVELOPE, DATE, "<1@web1>", context)["Subject"]
    assert subject == "[{}\u2026] [a\\x1bb] SSH login: alice@web1.example.com from 203.0.113.7".format("t" * 31)
    exact = AlertContext(tags=("t" * 32,))
    assert build_alert(parse_line(line()), ENVELOPE, DATE, "<1@web1>", exact)["Subject"].startswith(
        "[{}] SSH login".format("t" * 32))


def test_the_first_row_of_an_urgent_login_says_every_reason_then_the_usual_rows_follow():
    found = alert_rows(parse_line(line("cport=1")), "web1.example.com", URGENT)
    assert found[:3] == [("Urgent", "a key not in authorized_keys; outside work hours"),
                         ("Host", "web1.example.com"), ("From", "203.0.113.7 port 1")]
    assert [label for label, _ in alert_rows(parse_line(line()), "web1", AlertContext())][:2] == ["Host", "From"]


def test_a_digest_line_ends_with_the_urgent_mark_and_the_tags():
    assert digest_line(parse_line(line("tty=/dev/pts/1")), AlertContext(tags=("ops",), urgent=("night",))) == (
        "2026-11-25 11:55 alice@203.0.113.7 publickey [interactive] [URGENT] [ops]")
