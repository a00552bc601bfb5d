"""parse_line: every line of the login log becomes a LoginRecord, and nothing in it can smuggle control characters."""

import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.logins.loginline import MAX_FIELD, LoginRecord, parse_line
from helpers import run_fresh

FULL_LINE = (b"2026-11-25 11:55:03 +0000 203.0.113.7 alice publickey cport=51234 saddr=10.0.0.1 sport=22 "
             b"tty=/dev/pts/0 keytype=ssh-ed25519 key=AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl "
             b"hook=bash-profile")
FORBIDDEN = {chr(code) for code in range(32)} | {"\x7f", "\u2028", "\u2029"}


def visible_only(text: str) -> bool:
    return not any(character in FORBIDDEN for character in text)


def assert_all_visible(record: LoginRecord) -> None:
    values = [record.raw, record.when, record.ip, record.user, *record.methods]
    values += [part for pair in record.extras for part in pair]
    for value in values:
        assert visible_only(value), repr(value)


def test_parse_line_hook_full_format_gives_ip_user_methods_and_extras() -> None:
    record = parse_line(FULL_LINE)
    assert record.parsed
    assert record.when == "2026-11-25 11:55:03 +0000"
    assert record.ip == "203.0.113.7"
    assert record.user == "alice"
    assert record.methods == ("publickey",)
    assert record.extra("cport") == "51234"
    assert record.extra("saddr") == "10.0.0.1"
    assert record.extra("sport") == "22"
    assert record.extra("tty") == "/dev/pts/0"
    assert record.extra("keytype") == "ssh-ed25519"
    assert record.extra("key").startswith("AAAAC3NzaC1lZDI1NTE5")
    assert record.extra("hook") == "bash-profile"
    assert record.extra("absent") == ""
    assert record.raw == FULL_LINE.decode()


def test_parse_line_trailing_newline_is_not_part_of_the_record() -> None:
    assert parse_line(FULL_LINE + b"\n") == parse_line(FULL_LINE)
    assert parse_line(FULL_LINE + b"\r\n") == parse_line(FULL_LINE)


def test_parse_line_original_scripts_six_fields_parse_with_unknown_method_as_empty() -> None:
    record = parse_line(b"2024-01-02 03:04:05 -0500 198.51.100.9 bob unknown")
    assert record.parsed
    assert (record.when, record.ip, record.user) == ("2024-01-02 03:04:05 -0500", "198.51.100.9", "bob")
    assert record.methods == ()
    assert record.extras == ()


def test_parse_line_original_scripts_six_fields_keep_a_known_method() -> None:
    record = parse_line(b"2024-01-02 03:04:05 +0100 2001:db8::1 bob password")
    assert record.parsed
    assert record.ip == "2001:db8::1"
    assert record.methods == ("password",)


def test_parse_line_several_methods_are_split_in_order() -> None:
    record = parse_line(b"2026-11-25 11:55:03 +0000 203.0.113.7 alice publickey,keyboard-interactive/pam")
    assert record.parsed
    assert record.methods == ("publickey", "keyboard-interactive/pam")


def test_parse_line_missing_fields_is_unparsed_and_shows_raw() -> None:
    record = parse_line(b"2026-11-25 11:55:03 +0000 203.0.113.7 alice")
    assert not record.parsed
    assert record.raw == "2026-11-25 11:55:03 +0000 203.0.113.7 alice"
    assert (record.ip, record.user, record.methods, record.extras) == ("", "", (), ())


def test_parse_line_bad_timestamp_is_unparsed_and_shows_raw() -> None:
    line = b"25/11/2026 11:55:03 +0000 203.0.113.7 alice publickey"
    record = parse_line(line)
    assert not record.parsed
    assert record.raw == line.decode()


def test_parse_line_timestamp_without_zone_is_unparsed() -> None:
    assert not parse_line(b"2026-11-25 11:55:03 203.0.113.7 alice publickey x").parsed


def test_parse_line_empty_line_is_unparsed_with_empty_raw() -> None:
    record = parse_line(b"")
    assert not record.parsed
    assert record.raw == ""


def test_parse_line_field_with_forbidden_characters_is_unparsed() -> None:
    record = parse_line(b"2026-11-25 11:55:03 +0000 203.0.113.7 al<i>ce publickey")
    assert not record.parsed
    assert "al<i>ce" in record.raw


def test_parse_line_invalid_utf8_becomes_visible_escapes() -> None:
    record = parse_line(b"garbage \xff\xfe here")
    assert not record.parsed
    assert record.raw == "garbage \\xff\\xfe here"


def test_parse_line_ansi_escape_cr_nul_and_line_separator_become_visible_escapes() -> None:
    line = "evil \x1b[2J\x1b[31mred\rback\x00nul\u2028sep\u2029par\x7fdel end".encode()
    record = parse_line(line)
    assert not record.parsed
    assert record.raw == "evil \\x1b[2J\\x1b[31mred\\x0dback\\x00nul\\u2028sep\\u2029par\\x7fdel end"
    assert visible_only(record.raw)


def test_parse_line_control_characters_in_extras_never_reach_the_record() -> None:
    record = parse_line(b"2026-11-25 11:55:03 +0000 203.0.113.7 alice publickey tty=/dev/pts/0\x1b]0;pwned\x07 "
                        b"hook=bash\rprofile")
    assert record.parsed
    assert "\\x1b" in record.extra("tty")
    assert record.extra("hook") == "bash\\x0dprofile"
    assert_all_visible(record)


def test_parse_line_one_megabyte_line_does_not_raise_and_raw_is_cut() -> None:
    line = b"2026-11-25 11:55:03 +0000 203.0.113.7 alice publickey note=" + b"A" * (1 << 20)
    record = parse_line(line)
    assert len(record.raw) < 2100
    assert record.raw.startswith("2026-11-25 11:55:03 +0000 203.0.113.7 alice publickey note=AAAA")
    assert record.raw.endswith("…")
    assert len(record.extra("note")) <= MAX_FIELD


def test_parse_line_one_megabyte_of_control_bytes_stays_bounded_and_visible() -> None:
    record = parse_line(b"\x1b" * (1 << 20))
    assert not record.parsed
    assert len(record.raw) < 10000
    assert visible_only(record.raw)


def test_parse_line_duplicate_extra_keys_keep_the_first() -> None:
    record = parse_line(b"2026-11-25 11:55:03 +0000 203.0.113.7 alice publickey saddr=10.0.0.1 saddr=192.0.2.66")
    assert record.extra("saddr") == "10.0.0.1"
    assert [key for key, _ in record.extras].count("saddr") == 1


def test_parse_line_tokens_that_are_not_key_value_are_ignored() -> None:
    record = parse_line(b"2026-11-25 11:55:03 +0000 203.0.113.7 alice publickey junk =x Upper=1 cport=1")
    assert record.parsed
    assert record.extras == (("cport", "1"),)


def test_record_connection_gives_client_and_server_address_and_ports() -> None:
    assert parse_line(FULL_LINE).connection == ("203.0.113.7", "51234", "10.0.0.1", "22")


def test_record_connection_of_original_six_field_line_has_only_the_client_ip() -> None:
    record = parse_line(b"2024-01-02 03:04:05 -0500 198.51.100.9 bob unknown")
    assert record.connection == ("198.51.100.9", "", "", "")


LEGACY_PREFIX = st.just(b"2026-11-25 11:55:03 +0000 203.0.113.7 alice publickey ")


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000))
def test_parse_line_arbitrary_bytes_never_raise_and_yield_only_visible_characters(data: bytes) -> None:
    assert_all_visible(parse_line(data))


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.builds(lambda prefix, rest: prefix + rest, LEGACY_PREFIX, st.binary(max_size=4000)))
def test_parse_line_valid_prefix_with_arbitrary_extras_yields_only_visible_characters(data: bytes) -> None:
    record = parse_line(data)
    assert record.parsed
    assert_all_visible(record)


# --- the login's time --------------------------------------------------------------------------------------

def test_epoch_of_an_old_line_without_epoch_field_comes_from_the_local_time_and_its_offset() -> None:
    assert parse_line(b"2026-11-25 12:55:03 +0100 203.0.113.7 alice publickey").epoch == 1795607703.0


def test_epoch_field_wins_over_the_local_time() -> None:
    record = parse_line(b"2026-11-25 11:55:03 +0000 203.0.113.7 alice publickey cport=1 epoch=1795607000")
    assert record.epoch == 1795607000.0


def test_epoch_field_gives_the_time_when_the_offset_is_a_day_or_more() -> None:
    """TZ=XXX-25 makes date print +2400 or +2500: no strptime %z accepts it, so only epoch= dates the login."""
    for offset in (b"+2400", b"+2500", b"-2400"):
        line = b"2026-11-26 12:55:03 " + offset + b" 203.0.113.7 alice publickey cport=51234 saddr=10.0.0.1 sport=22"
        assert parse_line(line).epoch is None
        assert parse_line(line + b" hook=ssh-rc epoch=1795607703").epoch == 1795607703.0


def test_two_hooks_of_one_connection_under_a_day_long_offset_have_one_connection_and_one_epoch() -> None:
    extras = b" 203.0.113.7 alice publickey cport=51234 saddr=10.0.0.1 sport=22 tty=none"
    rc = parse_line(b"2026-11-26 12:55:03 +2500" + extras + b" hook=ssh-rc epoch=1795607703")
    profile = parse_line(b"2026-11-26 12:55:04 +2500" + extras + b" hook=bash-profile epoch=1795607704")
    assert rc.connection_key == profile.connection_key != ""
    assert rc.epoch is not None and profile.epoch is not None and abs(rc.epoch - profile.epoch) <= 1


def test_an_epoch_field_that_is_not_a_sane_integer_is_ignored() -> None:
    for value in (b"", b"-5", b"1.5", b"abc", b"99999999999999", b"253402300800", b"1e9", b"\xd9\xa1\xd9\xa2"):
        record = parse_line(b"2026-11-25 11:55:03 +0000 203.0.113.7 alice publickey epoch=" + value)
        assert record.parsed and record.epoch == 1795607703.0, value


@settings(max_examples=200, deadline=None, database=None)
@given(st.binary(max_size=40))
def test_epoch_is_none_or_a_finite_time_that_can_be_shown_as_a_date(value: bytes) -> None:
    epoch = parse_line(b"2026-11-25 11:55:03 +2500 203.0.113.7 alice publickey epoch=" + value).epoch
    if epoch is not None:
        assert time.gmtime(epoch).tm_year < 10000


def test_todays_hook_line_and_the_store_need_no_datetime_which_older_lines_still_get() -> None:
    output = run_fresh(
        "import sys, time\n"
        "from app.logins.loginline import parse_line\n"
        "import app.store.store\n"
        "now = int(time.time())\n"
        "stamp = time.strftime('%Y-%m-%d %H:%M:%S +0000', time.gmtime(now))\n"
        "hook = parse_line((stamp + ' 203.0.113.7 alice publickey hook=bashrc epoch={}'.format(now)).encode())\n"
        "print(hook.epoch == now, 'datetime' in sys.modules)\n"
        "older = parse_line((stamp + ' 203.0.113.7 alice publickey').encode())\n"
        "print(older.epoch == now, 'datetime' in sys.modules)\n")
    assert output.splitlines() == ["True False", "True True"]
