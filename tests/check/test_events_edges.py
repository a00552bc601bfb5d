"""Events at their edges: every field and line of a login event, titles with missing parts, digests over their
listing limit, of notices only or of nothing, and ids that stay the same for the same login."""

import hashlib
import json
import re
import time
from typing import Any, Dict

import pytest

from app.check.events import (DIGEST_MAX, digest_event, event_id, iso_time, login_event, login_where, notice_event,
                              posted_identity)
from app.check.events import test_event as channel_test_event  # not collected as a test
from app.store.history import EMAILED, HistoryEntry
from app.channels.base import EVENT_VERSION
from app.channels.syslog import event_lines
from app.channels.webhook import build_request
from app.logins.geoip import Novelty, Place

EPOCH = 1_795_600_000.0  # 2026-11-25T09:46:40Z
ISO = "2026-11-25T09:46:40Z"


def entry(**changes) -> HistoryEntry:
    fields = dict(time="2026-11-25T10:46:40+01:00", epoch=EPOCH, user="alice", ip="203.0.113.7", rdns="gw.example.net",
                  methods=("publickey", "keyboard-interactive"), key="ssh-ed25519 SHA256:abcdef", key_comment="laptop",
                  kind="interactive", outcome=EMAILED, new_ip=True, trusted=True, log_key="1:2:3", raw="")
    fields.update(changes)
    return HistoryEntry(**fields)


def test_an_id_is_evt_and_32_hex_digits_of_the_sha256_of_identity_and_kind() -> None:
    assert event_id("conn-1", "login") == "evt_" + hashlib.sha256(b"conn-1|login").hexdigest()[:32]
    assert event_id("conn-1", "login") != event_id("conn-1", "digest")


def test_an_identity_with_undecodable_bytes_still_has_an_id() -> None:
    assert event_id("conn-\udcff", "login") == "evt_" + hashlib.sha256(b"conn-\xff|login").hexdigest()[:32]


def test_iso_time_is_utc_with_a_z() -> None:
    assert iso_time(EPOCH) == ISO
    assert iso_time(0) == "1970-01-01T00:00:00Z"


def test_a_login_event_carries_every_field_and_line() -> None:
    event = login_event(entry(), "conn-1", "web1")
    login = {"user": "alice", "ip": "203.0.113.7", "rdns": "gw.example.net",
             "methods": ["publickey", "keyboard-interactive"], "key_type": "ssh-ed25519",
             "key_fingerprint": "SHA256:abcdef", "key_comment": "laptop", "kind": "interactive", "epoch": EPOCH,
             "time": "2026-11-25T10:46:40+01:00", "time_iso": ISO, "new_ip": True, "trusted": True,
             "outcome": EMAILED, "raw": "", "port": "", "country": "", "country_name": "", "city": "", "asn": 0,
             "org": "", "new_country": False, "new_network": False, "geo_attribution": []}
    assert event == {
        "version": EVENT_VERSION, "id": event_id("conn-1", "login"), "type": "login", "host": "web1", "time": EPOCH,
        "time_iso": ISO, "title": "SSH login: alice@web1 from 203.0.113.7 [new address] [trusted]",
        "text": "User: alice\nFrom: 203.0.113.7 (gw.example.net)\nHost: web1\n"
                "Method: publickey, keyboard-interactive\nKey: ssh-ed25519 SHA256:abcdef \"laptop\"\n"
                "Session: interactive\nTime: 2026-11-25T10:46:40+01:00\nNew address: yes; trusted",
        "urgent": False, "logins": [login]}


def test_a_login_with_only_the_basics_has_only_their_lines() -> None:
    event = login_event(entry(rdns="", methods=(), key="", key_comment="", kind="", time="", new_ip=False,
                              trusted=False), "conn-1", "web1", urgent=True)
    assert event["title"] == "SSH login: alice@web1 from 203.0.113.7"
    assert event["text"] == ("User: alice\nFrom: 203.0.113.7\nHost: web1\nMethod: unknown\nTime: " + ISO
                             + "\nNew address: no")
    assert event["urgent"] is True


def test_a_key_without_a_comment_has_no_quotes_and_a_trusted_known_address_says_so() -> None:
    event = login_event(entry(key_comment="", new_ip=False), "conn-1", "web1")
    assert "\nKey: ssh-ed25519 SHA256:abcdef\n" in event["text"]
    assert event["text"].endswith("\nNew address: no; trusted")
    assert event["title"] == "SSH login: alice@web1 from 203.0.113.7 [trusted]"


def test_an_unparsed_line_is_shown_and_a_login_without_a_time_takes_now() -> None:
    event = login_event(entry(epoch=0.0, time="", raw="garbage \\x1b line"), "conn-1", "web1", now=EPOCH + 5)
    assert event["time"] == EPOCH + 5
    assert event["logins"][0]["time_iso"] == ""
    assert event["text"].endswith("\nTime: \nNew address: yes; trusted\nLog line: garbage \\x1b line")


def test_a_missing_user_or_address_is_a_question_mark_and_both_missing_is_an_unreadable_line() -> None:
    assert login_event(entry(user=""), "c", "web1")["title"] == "SSH login: ?@web1 from 203.0.113.7 [new address] [trusted]"
    assert login_event(entry(ip="", new_ip=False, trusted=False), "c", "web1")["title"] == "SSH login: alice@web1 from ?"
    assert login_event(entry(user="", ip=""), "c", "web\x1b1")["title"] == "SSH login on web\\x1b1 (unreadable log line)"


def test_a_notice_is_urgent_by_default_with_every_line_made_printable() -> None:
    before = time.time()
    event = notice_event("Store \u202e re-seeded", "line one\x1b\nline two\tend", "reseed-1", "web1")
    assert before <= event["time"] <= time.time()
    assert event["time_iso"] == iso_time(event["time"])
    assert {key: event[key] for key in ("id", "type", "host", "title", "text", "urgent", "logins", "version")} == {
        "id": event_id("reseed-1", "notice"), "type": "notice", "host": "web1", "title": "Store \\u202e re-seeded",
        "text": "line one\\x1b\nline two\\x09end", "urgent": True, "logins": [], "version": EVENT_VERSION}


def logins(count: int, first: int = 0):
    return [login_event(entry(ip="203.0.113.{}".format(number % 2), time="", epoch=EPOCH + number,
                              rdns="r.example" if number == 1 else "", new_ip=number == 2),
                        "conn-{}".format(number), "web1") for number in range(first, first + count)]


def test_a_digest_lists_its_logins_newest_first_and_counts_the_addresses() -> None:
    events = logins(3)
    notice = notice_event("Key changed", "text", "key-1", "web1", urgent=False, now=EPOCH)
    digest = digest_event(events + [notice], "web1", now=EPOCH + 60)
    assert digest["type"] == "digest" and digest["time"] == EPOCH + 60
    assert digest["id"] == event_id("{}..{}".format(events[0]["id"], notice["id"]), "digest")
    assert digest["title"] == "SSH: 3 logins on web1 from 2 address(es)"
    assert digest["text"] == "\n".join([
        iso_time(EPOCH + 2) + "  alice@web1 from 203.0.113.0 [new address]",
        iso_time(EPOCH + 1) + "  alice@web1 from 203.0.113.1 (r.example)",
        iso_time(EPOCH) + "  alice@web1 from 203.0.113.0",
        "Notice: Key changed"])
    assert [login["epoch"] for login in digest["logins"]] == [EPOCH + 2, EPOCH + 1, EPOCH]
    assert digest["urgent"] is False


def test_a_digests_id_names_its_first_and_last_event_and_it_is_urgent_if_any_is() -> None:
    events = logins(4)
    events[2]["urgent"] = True
    digest = digest_event(events, "web1", now=EPOCH)
    assert digest["id"] == event_id("{}..{}".format(events[0]["id"], events[3]["id"]), "digest")
    assert digest["urgent"] is True


def test_a_login_with_its_own_time_is_listed_with_it() -> None:
    digest = digest_event([login_event(entry(), "c", "web1")], "web1", now=EPOCH)
    assert digest["text"] == "2026-11-25T10:46:40+01:00  alice@web1 from 203.0.113.7 (gw.example.net) [new address]"


def test_a_digest_of_notices_only_is_titled_by_them() -> None:
    notices = [notice_event("First", "a", "n1", "web1", now=EPOCH), notice_event("Second", "b", "n2", "web1", now=EPOCH)]
    digest = digest_event(notices, "web\x1b1", now=EPOCH)
    assert digest["title"] == "ssh_alert: 2 notices on web\\x1b1"
    assert digest["text"] == "Notice: First\nNotice: Second"
    assert digest["logins"] == [] and digest["urgent"] is True


def test_a_digest_of_nothing_is_zero_logins_with_the_empty_identity() -> None:
    digest = digest_event([], "web1", now=EPOCH)
    assert digest["title"] == "SSH: 0 logins on web1 from 0 address(es)"
    assert digest["text"] == "" and digest["id"] == event_id("", "digest") and digest["urgent"] is False


def test_a_digest_at_its_listing_limit_lists_them_all() -> None:
    digest = digest_event(logins(DIGEST_MAX), "web1", now=EPOCH)
    assert DIGEST_MAX == 200
    assert len(digest["logins"]) == 200 and len(digest["text"].split("\n")) == 200
    assert "earlier logins" not in digest["text"]


def test_a_digest_over_its_listing_limit_lists_the_newest_and_counts_the_rest() -> None:
    digest = digest_event(logins(203), "web1", now=EPOCH)
    assert len(digest["logins"]) == 200 and digest["logins"][0]["epoch"] == EPOCH + 202
    assert digest["logins"][-1]["epoch"] == EPOCH + 3
    assert digest["title"] == "SSH: 203 logins on web1 from 2 address(es)"
    assert digest["text"].split("\n")[-1] == "... and 3 earlier logins (ssh_alert.pyz history)"


# Logins with geoip_db: each built as app.check.decide's history_entry builds it, from a Place and a Novelty.
FRANKFURT = Place("DE", "Germany", "Frankfurt am Main", 64500, "Example Hosting GmbH",
                  ("IP geolocation by DB-IP (https://db-ip.com), CC BY 4.0",
                   "This product includes GeoLite2 data created by MaxMind, available from https://www.maxmind.com"))
WHERE = "Frankfurt am Main, DE (Germany), AS64500 Example Hosting GmbH"


def located(place: Place = FRANKFURT, novelty: Novelty = Novelty(True, True), **changes: Any) -> HistoryEntry:
    """A login seen now, with place's geoip fields and novelty's marks."""
    now = float(int(time.time()))
    fields: Dict[str, Any] = dict(
        country=place.country, country_name=place.country_name, city=place.city, asn=place.asn, org=place.org,
        geo_sources=place.sources, new_country=novelty.new_country, new_network=novelty.new_network,
        time=time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(now)), epoch=now, user="alice",
        ip="203.0.113.7", rdns="", methods=("publickey",), key="", key_comment="", kind="", outcome=EMAILED,
        new_ip=True, trusted=True, log_key="1:2:3", raw="")
    fields.update(changes)
    return HistoryEntry(**fields)


def test_a_login_with_geoip_gives_the_webhook_every_place_field() -> None:
    login = login_event(located(), "conn-1", "web1")["logins"][0]
    assert {key: login[key] for key in ("country", "country_name", "city", "asn", "org", "new_country",
                                        "new_network", "geo_attribution")} == {
        "country": "DE", "country_name": "Germany", "city": "Frankfurt am Main", "asn": 64500,
        "org": "Example Hosting GmbH", "new_country": True, "new_network": True,
        "geo_attribution": list(FRANKFURT.sources)}


def test_the_webhook_posts_the_place_fields_as_json() -> None:
    event = login_event(located(), "conn-1", "web1")
    request = build_request(event, {"url": "https://hooks.example.com/ssh", "format": "plain"}, "", time.time())
    posted = json.loads(request.body.decode("utf-8"))
    assert posted["logins"][0]["city"] == "Frankfurt am Main" and posted["logins"][0]["asn"] == 64500
    assert "\nWhere: " + WHERE + "\n" in posted["text"]


def test_a_login_from_a_new_country_and_network_is_marked_so_in_the_title_before_the_new_address() -> None:
    assert login_event(located(), "conn-1", "web1")["title"] == (
        "SSH login: alice@web1 from 203.0.113.7 [new country] [new network] [new address] [trusted]")


def test_a_login_with_geoip_says_where_what_is_new_and_whose_data_it_is_in_its_lines() -> None:
    entry = located(raw="unparsed")
    assert login_event(entry, "conn-1", "web1")["text"] == "\n".join([
        "User: alice", "From: 203.0.113.7", "Where: " + WHERE, "Host: web1", "Method: publickey",
        "Time: " + entry.time, "New address: yes; trusted", "New for this account: country and network",
        "Log line: unparsed", "Geo data: IP geolocation by DB-IP (https://db-ip.com), CC BY 4.0",
        "Geo data: This product includes GeoLite2 data created by MaxMind, available from https://www.maxmind.com"])


def test_a_login_from_a_new_country_says_new_for_this_account_country() -> None:
    event = login_event(located(novelty=Novelty(True, False), new_ip=False, trusted=False), "conn-1", "web1")
    assert event["title"] == "SSH login: alice@web1 from 203.0.113.7 [new country]"
    assert "\nNew address: no\nNew for this account: country\nGeo data: " in event["text"]


def test_a_login_from_a_new_network_says_new_for_this_account_network() -> None:
    event = login_event(located(novelty=Novelty(False, True), trusted=False), "conn-1", "web1")
    assert event["title"] == "SSH login: alice@web1 from 203.0.113.7 [new network] [new address]"
    assert "\nNew address: yes\nNew for this account: network\nGeo data: " in event["text"]


def test_a_login_from_a_known_country_and_network_has_no_marks_and_no_new_for_this_account_line() -> None:
    event = login_event(located(novelty=Novelty(False, False), new_ip=False, trusted=False), "conn-1", "web1")
    assert event["title"] == "SSH login: alice@web1 from 203.0.113.7"
    assert "New for this account" not in event["text"]
    assert "\nWhere: " + WHERE + "\n" in event["text"]


@pytest.mark.parametrize("place, where", [
    (Place(country="DE"), "DE"),
    (Place(country="DE", country_name="Germany"), "DE (Germany)"),
    (Place(city="Frankfurt am Main"), "Frankfurt am Main"),
    (Place(asn=64500), "AS64500"),
    (Place(org="Example Hosting GmbH"), "Example Hosting GmbH"),
])
def test_each_place_field_alone_reaches_the_where_line(place: Place, where: str) -> None:
    event = login_event(located(place=place, novelty=Novelty(False, False)), "conn-1", "web1")
    assert "\nWhere: " + where + "\n" in event["text"]
    assert login_where(event["logins"][0]) == where


def test_a_login_without_geoip_has_no_where_and_no_geo_data_lines() -> None:
    event = login_event(located(place=Place(), novelty=Novelty(False, False)), "conn-1", "web1")
    assert "Where: " not in event["text"] and "Geo data: " not in event["text"]


def test_syslog_gets_the_country_network_and_what_is_new() -> None:
    line = event_lines(login_event(located(novelty=Novelty(True, False)), "conn-1", "web1"))[0]
    assert line.endswith(' country=DE asn=64500 org="Example Hosting GmbH" new_country=yes new_network=no')


def test_a_digest_shows_each_logins_place_in_brackets() -> None:
    event = login_event(located(), "conn-1", "web1")
    digest = digest_event([event], "web1", now=time.time())
    assert digest["text"] == "{}  alice@web1 from 203.0.113.7 [{}] [new address]".format(event["logins"][0]["time"],
                                                                                          WHERE)


def test_a_login_stored_before_geoip_fields_existed_is_listed_without_a_place() -> None:
    event = login_event(located(place=Place(), novelty=Novelty(False, False), new_ip=False), "conn-1", "web1")
    for key in ("country", "country_name", "city", "asn", "org", "new_country", "new_network", "geo_attribution"):
        del event["logins"][0][key]
    assert login_where(event["logins"][0]) == ""
    digest = digest_event([event], "web1", now=time.time())
    assert digest["text"] == "{}  alice@web1 from 203.0.113.7".format(event["logins"][0]["time"])


def test_a_posted_identity_is_the_identity_a_bar_and_16_lowercase_hex_digits_new_each_time() -> None:
    first, second = posted_identity("notice|key|3"), posted_identity("notice|key|3")
    for posted in (first, second):
        assert re.fullmatch(r"notice\|key\|3\|[0-9a-f]{16}", posted), posted
    assert first != second


def test_a_notice_made_without_saying_urgent_is_urgent_and_one_saying_not_is_not() -> None:
    assert notice_event("Key changed", "text", "key-1", "web1")["urgent"] is True
    assert notice_event("Key changed", "text", "key-1", "web1", urgent=False)["urgent"] is False


def test_a_test_event_is_of_kind_test_never_urgent_and_named_by_its_title_and_time(
        monkeypatch: pytest.MonkeyPatch) -> None:
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now)
    event = channel_test_event("ssh_alert test from web\x1b1", "It works.", "web1")
    assert event == {"version": EVENT_VERSION, "id": event_id("test|ssh_alert test from web\x1b1|{}".format(now), "test"),
                     "type": "test", "host": "web1", "time": now, "time_iso": iso_time(now),
                     "title": "ssh_alert test from web\\x1b1", "text": "It works.", "urgent": False, "logins": []}

