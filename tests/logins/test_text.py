"""The one sanitiser: hostile characters are escaped the same way in the email, its HTML part and syslog."""

import re

import pytest

from app.store.history import EMAILED, HistoryEntry
from app.logins.loginline import parse_line
from app.check.render import AlertContext, Envelope, alert_html, build_alert, build_digest
from app.check.events import login_event
from app.channels.syslog import event_lines
from app.system.text import UNPRINTABLE, printable

# Bidi controls, zero-width characters, C0/C1 controls and line separators: each could hide or reorder text.
HOSTILE = ["\u202e", "\u202a", "\u202b", "\u202c", "\u202d", "\u200e", "\u200f", "\u2066", "\u2067", "\u2068",
           "\u2069", "\u200b", "\u200c", "\u200d", "\ufeff", "\u2028", "\u2029", "\x1b", "\x07", "\x85", "\x9b"]
ENVELOPE = Envelope("ssh-alert@web1.example.com", ["owner@example.com"], "web1.example.com")
BLOB = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
EVIL = "gpj.exe" + "".join(HOSTILE)


def escaped(character: str) -> str:
    code = ord(character)
    return "\\x{:02x}".format(code) if code < 256 else "\\u{:04x}".format(code)


@pytest.mark.parametrize("character", HOSTILE)
def test_each_hostile_character_is_escaped_as_its_code(character: str) -> None:
    assert printable("a" + character + "b") == "a" + escaped(character) + "b"


def test_printable_text_is_left_alone_and_escaping_twice_changes_nothing() -> None:
    text = "caf\u00e9 \u65e5\u672c \U0001f600 tab\there"
    assert printable("caf\u00e9 \u65e5\u672c \U0001f600") == "caf\u00e9 \u65e5\u672c \U0001f600"
    assert printable(printable(text)) == printable(text)


def test_every_escaped_character_fails_isprintable_so_the_fast_path_never_skips_one() -> None:
    escaped_ones = [chr(code) for code in range(0x110000) if re.fullmatch(UNPRINTABLE, chr(code))]
    assert len(escaped_ones) > 2000 and not any(character.isprintable() for character in escaped_ones)
    assert printable("\ud800") == "\\ud800" and printable("a\u00a0b") == "a\u00a0b"  # not printable, not escaped


def test_a_limit_cuts_after_escaping_and_ends_with_an_ellipsis() -> None:
    assert printable("\u202e" * 10, 8) == "\\u202e\\" + "\u2026"
    assert printable("short", 8) == "short"


def test_hostile_key_comment_rdns_and_tty_reach_the_email_escaped_and_none_raw() -> None:
    line = ("2026-11-25 11:55:03 +0000 203.0.113.7 alice publickey cport=51234 tty=/dev/pts/0{} "
            "keytype=ssh-ed25519 key={}").format("\u202e\u200b\u2066", BLOB).encode("utf-8")
    record = parse_line(line)
    context = AlertContext(key_comment="bob@laptop" + EVIL, rdns="host" + EVIL + ".example.net")
    message = build_alert(record, ENVELOPE, "Wed, 25 Nov 2026 11:55:04 +0000", "<1@web1>", context, with_html=True)
    text, html = (part.get_content() for part in message.iter_parts())
    digest = build_digest([(record, context)], ENVELOPE, "Wed, 25 Nov 2026 11:55:04 +0000", "<2@web1>",
                          with_html=True)
    shown = [text, html, alert_html(record, ENVELOPE.host, context)] + [
        part.get_content() for part in digest.iter_parts()] + [str(value) for _, value in message.items()]
    for character in HOSTILE:
        assert not any(character in part for part in shown), repr(character)
    assert "tty /dev/pts/0\\u202e\\u200b\\u2066" in text
    assert "bob@laptopgpj.exe\\u202e" in text and "hostgpj.exe\\u202e" in text
    assert "bob@laptopgpj.exe\\u202e" in html


def test_hostile_key_comment_and_rdns_reach_syslog_escaped_like_the_email() -> None:
    entry = HistoryEntry(time="2026-11-25 11:55:03 +0000", epoch=1795607703.0, user="alice", ip="203.0.113.7",
                         rdns="host" + EVIL, methods=("publickey",), key="", key_comment="bob" + EVIL,
                         kind="interactive", outcome=EMAILED, new_ip=True, trusted=False, log_key="1:2:3")
    line = event_lines(login_event(entry, entry.log_key, "web1"))[0]
    for character in HOSTILE:
        assert character not in line, repr(character)
    assert 'comment="bob{}"'.format(printable(EVIL).replace("\\", "\\\\")) in line
