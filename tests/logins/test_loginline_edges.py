"""Login lines at their edges: field lengths, the connection key, what merging several hooks' lines keeps."""

from app.logins.loginline import LoginRecord, merge_login_records, parse_line, safe_text

PREFIX = "2026-11-25 11:55:03 +0000 203.0.113.7"


def parsed(extras: str = "", user: str = "alice", auth: str = "publickey") -> LoginRecord:
    return parse_line("{} {} {} {}".format(PREFIX, user, auth, extras).rstrip().encode())


# --- fields and the raw text ------------------------------------------------------------------------------------

def test_a_field_of_exactly_two_hundred_characters_parses_and_one_more_does_not():
    assert parsed(user="u" * 200).user == "u" * 200
    assert not parsed(user="u" * 201).parsed
    assert not parsed(auth="p" * 201).parsed


def test_an_extra_value_is_cut_to_two_hundred_characters():
    assert parsed("note=" + "n" * 250).extra("note") == "n" * 200
    assert parsed("note=" + "n" * 200).extra("note") == "n" * 200


def test_an_unparsed_line_records_no_time_address_or_user():
    record = parse_line(b"not a login line at all")
    assert (record.parsed, record.when, record.ip, record.user, record.methods, record.extras) == (
        False, "", "", "", (), ())
    assert record.epoch is None and record.connection_key == ""


def test_only_the_line_end_is_taken_off_the_raw_text():
    assert parse_line(b"odd line ending in XX\r\n").raw == "odd line ending in XX"
    assert parse_line(b"XX odd line XX").raw == "XX odd line XX"


def test_safe_text_keeps_a_text_of_exactly_the_limit_and_cuts_a_longer_one_with_an_ellipsis():
    assert safe_text(b"a" * 2000) == "a" * 2000
    assert safe_text(b"a" * 2001) == "a" * 2000 + "\u2026"
    assert safe_text(b"abc", limit=3) == "abc"
    assert safe_text(b"abcd", limit=3) == "abc\u2026"


def test_a_raw_line_is_cut_after_two_thousand_characters():
    line = (PREFIX + " alice publickey note=").encode()
    exact = line + b"x" * (2000 - len(line))
    assert parse_line(exact).raw == exact.decode()
    assert parse_line(exact + b"y").raw == exact.decode() + "\u2026"


# --- the connection key ------------------------------------------------------------------------------------------

def test_connection_key_names_client_address_and_port_then_server_address_and_port():
    record = parsed("cport=51234 saddr=10.0.0.1 sport=22")
    assert record.connection_key == "203.0.113.7 51234 10.0.0.1 22"


def test_connection_key_adds_the_sshd_process_so_a_reused_port_is_another_connection():
    first = parsed("cport=51234 saddr=10.0.0.1 sport=22 spid=4242")
    again = parsed("cport=51234 saddr=10.0.0.1 sport=22 spid=4243")
    assert first.connection_key == "203.0.113.7 51234 10.0.0.1 22 4242"
    assert first.connection_key != again.connection_key


def test_a_line_without_client_port_has_no_connection_key_even_when_parsed():
    assert parsed().parsed and parsed().connection_key == ""
    assert parsed("saddr=10.0.0.1 sport=22 spid=4242").connection_key == ""


def test_an_empty_client_port_is_no_client_port():
    assert parsed("cport= saddr=10.0.0.1").connection_key == ""


# --- merging what several hooks of one connection saw -----------------------------------------------------------

def test_merge_lists_every_hook_once_in_the_order_they_wrote():
    first = parsed("cport=1 hook=ssh-rc")
    merged = merge_login_records(first, [parsed("cport=1 hook=bash-profile"), parsed("cport=1 hook=ssh-rc"),
                                         parsed("cport=1 hook=bashrc")])
    assert merged.extra("hook") == "ssh-rc,bash-profile,bashrc"


def test_merge_takes_the_hook_of_the_others_when_the_first_line_names_none():
    merged = merge_login_records(parsed("cport=1"), [parsed("cport=1 hook=bashrc")])
    assert merged.extra("hook") == "bashrc"
    assert merge_login_records(parsed("cport=1"), [parsed("cport=1")]).extra("hook") == ""


def test_merge_fills_what_the_first_line_left_empty_none_or_unsaid_and_keeps_what_it_knew():
    first = parsed("cport=1 tty=none kind= keytype=ssh-ed25519 hook=ssh-rc")
    other = parsed("cport=1 tty=/dev/pts/3 kind=transfer keytype=ssh-rsa key=AAAA hook=bashrc")
    merged = merge_login_records(first, [other])
    assert merged.extra("tty") == "/dev/pts/3"
    assert merged.extra("kind") == "transfer"
    assert merged.extra("keytype") == "ssh-ed25519"  # the first line's own value stays
    assert merged.extra("key") == "AAAA"  # not said by the first line at all
    assert merged.extra("hook") == "ssh-rc,bashrc"


def test_merge_never_replaces_a_value_with_an_empty_one():
    merged = merge_login_records(parsed("cport=1 kind=command"), [parsed("cport=1 kind= tty=")])
    assert merged.extra("kind") == "command"
    assert "tty" not in dict(merged.extras)
    merged = merge_login_records(parsed("cport=1 tty=none"), [parsed("cport=1 tty=")])
    assert merged.extra("tty") == "none"


def test_merge_keeps_the_first_lines_methods_and_takes_the_others_when_it_had_none():
    assert merge_login_records(parsed("cport=1"), [parsed("cport=1", auth="password")]).methods == ("publickey",)
    unknown = parsed("cport=1", auth="unknown")
    assert merge_login_records(unknown, [parsed("cport=1", auth="password")]).methods == ("password",)
    assert merge_login_records(unknown, [parsed("cport=1", auth="keyboard-interactive"),
                                         parsed("cport=1", auth="password")]).methods == ("keyboard-interactive",)


def test_merge_keeps_the_first_lines_raw_text_time_address_and_user():
    first = parsed("cport=1 hook=ssh-rc")
    merged = merge_login_records(first, [parse_line(b"2026-11-25 11:55:09 +0000 198.51.100.1 bob password cport=1")])
    assert (merged.raw, merged.when, merged.ip, merged.user, merged.parsed) == (
        first.raw, first.when, first.ip, first.user, True)


def test_merge_with_no_other_line_is_the_first_line():
    first = parsed("cport=1 hook=ssh-rc tty=none")
    assert merge_login_records(first, []) == first
