"""The heartbeat (pure): when it is due, what its summary says, and the healthchecks.io-style ping."""

from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.watch.heartbeat import (DAY, HEALTHY, HIDDEN_URL, MAX_PING_BODY, NOT_A_PING_URL, PROMISE, UNHEALTHY,
                                    UNHEALTHY_HEADING, UNKNOWN_PERIOD, UNPARSED_LINES, heartbeat_due,
                                    heartbeat_summary, next_heartbeat, ping_request, redact_url)
from app.store.history import EMAILED, HistoryEntry
from app.system.text import printable

NOW = 1795607703.0
WEEK_AGO = NOW - 7 * DAY
PING = "https://hc-ping.com/0f1e2d3c-aaaa-bbbb-cccc-123456789abc"


def entry(ip: str, user: str = "alice", new_ip: bool = False, **fields: object) -> HistoryEntry:
    values = dict(time="2026-11-25 11:55:03 +0000", epoch=NOW - DAY, user=user, ip=ip, rdns="", methods=("publickey",),
                  key="", key_comment="", kind="interactive", outcome=EMAILED, new_ip=new_ip, trusted=False,
                  log_key="2049:131:{}".format(ip))
    values.update(fields)
    return HistoryEntry(**values)  # type: ignore[arg-type]


# --- when ---------------------------------------------------------------------------------------------------


def test_heartbeat_is_not_due_on_the_first_run():
    assert not heartbeat_due(None, NOW, "weekly")
    assert next_heartbeat(None, "weekly") is None


def test_heartbeat_after_a_clock_jump_back_is_due():
    assert heartbeat_due(NOW + 3600, NOW, "weekly")
    assert heartbeat_due(NOW + 1, NOW, "daily")


def test_an_off_heartbeat_is_never_due():
    assert not heartbeat_due(0.0, NOW, "off") and not heartbeat_due(NOW + 1, NOW, "off")
    assert next_heartbeat(NOW, "off") is None


def test_an_unknown_period_is_named():
    with pytest.raises(ValueError) as raised:
        heartbeat_due(NOW, NOW, "monthly")
    assert str(raised.value) == UNKNOWN_PERIOD.format(period="monthly")


@given(st.sampled_from([("daily", DAY), ("weekly", 7 * DAY)]), st.floats(0, 30 * DAY))
def test_heartbeat_is_due_exactly_when_its_period_has_passed(period_and_seconds, elapsed):
    period, seconds = period_and_seconds
    assert next_heartbeat(NOW, period) == NOW + seconds
    assert heartbeat_due(NOW, NOW + elapsed, period) == (NOW + elapsed >= NOW + seconds)


# --- the summary ----------------------------------------------------------------------------------------------


def week_of_logins():
    return [entry("203.0.113.7") for _ in range(5)] + [entry("::ffff:203.0.113.7", user="bob")] + \
        [entry("10.0.0.5", user="deploy", kind="command") for _ in range(5)] + \
        [entry("198.51.100.9", new_ip=True, rdns="evil.example.net")]


def test_summary_counts_logins_addresses_and_new_addresses():
    title, text = heartbeat_summary(week_of_logins(), WEEK_AGO, NOW, "web1", [])
    assert title == "ssh_alert weekly on web1: 12 logins, 3 addresses, 1 new"
    assert "Logins: 12 by 3 users (alice, bob, deploy)\nAddresses: 3\nNew addresses: 1\n" in text
    assert "  198.51.100.9 alice (evil.example.net) at 2026-11-25 11:55:03 +0000\n" in text
    assert HEALTHY in text and UNHEALTHY not in text


def test_summary_tells_the_reader_that_its_arrival_shows_monitoring_works():
    _, weekly = heartbeat_summary([], WEEK_AGO, NOW, "web1", [])
    _, daily = heartbeat_summary([], NOW - DAY, NOW, "web1", [])
    assert PROMISE.format(unit="week", host="web1") in weekly
    assert PROMISE.format(unit="day", host="web1") in daily


def test_summary_of_a_quiet_day_is_singular_where_it_should_be():
    title, _ = heartbeat_summary([entry("203.0.113.7")], NOW - DAY, NOW, "web1", [])
    assert title == "ssh_alert daily on web1: 1 login, 1 address, 0 new"
    weekly_title, _ = heartbeat_summary([], NOW - DAY, NOW, "web1", [], period="weekly")
    assert weekly_title.startswith("ssh_alert weekly on web1: 0 logins")


def test_an_unhealthy_summary_says_so_in_the_title_and_lists_the_problems():
    problems = ["outbox: 3 alerts waiting since 2026-11-20", "smtp: authentication failed"]
    title, text = heartbeat_summary(week_of_logins(), WEEK_AGO, NOW, "web1", problems)
    assert title == "ssh_alert weekly on web1: UNHEALTHY, 12 logins, 3 addresses, 1 new"
    assert "\n{}\n  - {}\n  - {}\n".format(UNHEALTHY_HEADING, *problems) in text
    assert HEALTHY not in text


def test_lines_that_did_not_parse_are_counted_apart_from_logins():
    unparsed = entry("", user="", raw="garbage \\x1b[2J", epoch=0)
    title, text = heartbeat_summary([entry("203.0.113.7"), unparsed], WEEK_AGO, NOW, "web1", [])
    assert title.startswith("ssh_alert weekly on web1: 1 login, 1 address")
    assert UNPARSED_LINES.format(count=1) in text


def test_many_new_addresses_are_listed_up_to_a_limit_and_counted():
    entries = [entry("203.0.113.{}".format(number), new_ip=True) for number in range(1, 31)]
    title, text = heartbeat_summary(entries, WEEK_AGO, NOW, "web1", [])
    assert "30 addresses, 30 new" in title
    assert "203.0.113.20 " in text and "203.0.113.21 " not in text and "and 10 more" in text


hostile = st.text(st.characters(blacklist_categories=("Cs",)) | st.sampled_from("\n\r\x1b\u202e\u2028\x00"),
                  max_size=40)


@given(hostile, hostile, hostile, hostile, st.lists(hostile, max_size=3))
def test_summary_is_printable_whatever_the_log_and_the_problems_hold(user, rdns, when, host, problems):
    title, text = heartbeat_summary([entry("203.0.113.7", user=user, rdns=rdns, time=when, new_ip=True)],
                                    WEEK_AGO, NOW, host, problems)
    assert printable(title) == title
    assert all(printable(line) == line for line in text.split("\n"))
    assert len(text.split("\n")) == len(heartbeat_summary([entry("203.0.113.7", new_ip=True, rdns="x")],
                                                          WEEK_AGO, NOW, "h", ["p"] * len(problems))[1].split("\n"))


# --- the ping ------------------------------------------------------------------------------------------------


def test_success_pings_the_url_as_it_is_with_the_reason_as_body():
    assert ping_request(PING, True, "12 logins") == (PING, b"12 logins")


def test_fail_ping_appends_fail():
    assert ping_request(PING, False, "smtp: authentication failed") == (PING + "/fail", b"smtp: authentication failed")


def test_fail_ping_respects_a_trailing_slash():
    assert ping_request(PING + "/", False, "")[0] == PING + "/fail"


def test_fail_ping_keeps_the_query_string():
    assert ping_request(PING + "?rid=5&create=1", False, "x")[0] == PING + "/fail?rid=5&create=1"
    assert ping_request("https://hc-ping.com/key/web1/?create=1", False, "x")[0] == \
        "https://hc-ping.com/key/web1/fail?create=1"


def test_fail_ping_of_a_bare_host_pings_its_fail_path():
    assert ping_request("https://ping.example", False, "x")[0] == "https://ping.example/fail"


@given(st.text(max_size=12000), st.booleans())
def test_ping_body_is_printable_lines_of_at_most_10000_bytes(reason, ok):
    _, body = ping_request(PING, ok, reason)
    text = body.decode("utf-8")  # never cut inside a character
    assert len(body) <= MAX_PING_BODY
    assert all(printable(line) == line for line in text.split("\n"))


def test_a_long_reason_is_cut_with_an_ellipsis():
    _, body = ping_request(PING, False, "é" * 6000)
    assert len(body) <= MAX_PING_BODY and body.decode("utf-8").endswith("\u2026")


@pytest.mark.parametrize("url", ["ftp://hc-ping.com/secret-uuid", "hc-ping.com/secret-uuid", "https:///secret-uuid",
                                 "https://[::1/secret-uuid", ""])
def test_a_ping_url_that_is_not_http_is_refused_without_showing_its_secret(url):
    with pytest.raises(ValueError) as raised:
        ping_request(url, True, "")
    assert "secret-uuid" not in str(raised.value)
    assert str(raised.value) == NOT_A_PING_URL.format(url=redact_url(url))


@pytest.mark.parametrize("url, shown", [
    (PING + "?rid=1#x", "https://hc-ping.com/\u2026"),
    ("https://user:token@Ping.Example:8443/secret", "https://ping.example/\u2026"),
    ("http://[2001:db8::1]/secret", "http://[2001:db8::1]/\u2026"),
    ("not a url", HIDDEN_URL),
    ("https://[::1/secret", HIDDEN_URL),
])
def test_redact_url_shows_only_the_scheme_and_the_host(url, shown):
    assert redact_url(url) == shown


@given(st.text(max_size=60))
def test_redact_url_never_shows_what_follows_the_host(tail):
    redacted = redact_url("https://hc-ping.com/" + tail)
    assert redacted in ("https://hc-ping.com/\u2026", HIDDEN_URL)
    assert urlsplit(redacted).path in ("/\u2026", "")


def test_the_heartbeat_email_subject_names_the_host_once():
    from app.watch.heartbeat import notice_subject

    title = "ssh_alert daily on web1: 12 logins, 3 addresses, 1 new"
    subject = "ssh_alert on web1: " + notice_subject(title, "web1")  # as the notice's subject is made
    assert subject == "ssh_alert on web1: daily: 12 logins, 3 addresses, 1 new" and subject.count("web1") == 1
    assert notice_subject("something else", "web1") == "something else"
