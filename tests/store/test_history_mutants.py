"""The login history, field by field (app.store.history and the store's history table, app.store.historytable):
how long a connection lasted, the store row of a login, reading rows and the previous release's history.jsonl
back, a later hook line's kind, pruning, and the outcome texts `history` shows. Real SQLite; times from "now"."""

import json
import os
import time
from pathlib import Path
from typing import Any, List, Optional

import pytest

from app.commands.history import table
from app.logins.geoip import SEEN_KEY
from app.store import history
from app.store.history import HistoryEntry
from app.store.rows import Seen
from app.store.store import Store

NOW = time.time()
DAY = 86400.0


def login(epoch: float = NOW - 600, ip: str = "198.51.100.7", user: str = "alice", log_key: str = "2049:77:100",
          **fields: Any) -> HistoryEntry:
    """A recorded login at epoch, its time written as the hook writes it (UTC here)."""
    values = dict(time=time.strftime("%Y-%m-%d %H:%M:%S +0000", time.gmtime(epoch)), epoch=epoch, user=user, ip=ip,
                  rdns="", methods=("publickey",), key="", key_comment="", kind="", outcome=history.EMAILED,
                  new_ip=False, trusted=False, log_key=log_key)
    values.update(fields)
    return HistoryEntry(**values)  # type: ignore[arg-type]


def record(store: Store, entries: List[HistoryEntry], now: Optional[float] = None) -> None:
    with store.transaction():
        store.add_history([history.row(entry) for entry in entries], now)


def recorded(store: Store, since: Optional[float] = None, address: Optional[str] = None) -> List[str]:
    """The log_keys that history(since, address) reads, in its order."""
    return [entry.log_key for entry in history.read(store, since, address)]


def stored_column(store: Store, log_key: str) -> Any:
    return store.connection.execute("SELECT stored FROM history WHERE log_key = ?", (log_key,)).fetchone()[0]


# --- the outcome texts `history` shows ----------------------------------------------------------------------


def test_the_outcome_texts_users_read_in_history_are_pinned() -> None:
    assert (history.EMAILED, history.DIGEST, history.TRUSTED_SKIPPED, history.KNOWN_IP) == (
        "emailed", "digest", "trusted: not emailed", "known IP: not emailed")
    assert history.HELD == "held: email waits for its hourly limit or its server"
    assert history.RULE_SKIPPED == "skipped by a rule"
    assert history.ALERTED == "alerted"


def test_the_history_table_ends_each_login_row_with_its_outcome_text() -> None:
    outcomes = [history.EMAILED, history.DIGEST, history.TRUSTED_SKIPPED, history.KNOWN_IP, history.RULE_SKIPPED,
                history.ALERTED]
    lines = table([login(log_key=str(number), outcome=outcome) for number, outcome in enumerate(outcomes)])
    assert [line.endswith("  " + outcome) for line, outcome in zip(lines[1:], outcomes)] == [True] * len(outcomes)


def test_a_login_without_the_later_fields_has_empty_defaults_for_them() -> None:
    entry = HistoryEntry("", 0.0, "alice", "198.51.100.7", "", (), "", "", "", history.EMAILED, False, False, "1:2:3")
    assert entry[13:] == ("", 0.0, "", "", "", "", 0, "", (), False, False)
    assert entry._fields[13:] == ("raw", "ended", "port", "country", "country_name", "city", "asn", "org",
                                  "geo_sources", "new_country", "new_network")


# --- duration -----------------------------------------------------------------------------------------------


def test_duration_of_a_running_connection_is_empty() -> None:
    assert history.duration(login(epoch=NOW - 60, ended=0.0)) == ""


def test_duration_of_a_login_of_unknown_time_is_empty() -> None:
    assert history.duration(login(epoch=0, ended=NOW)) == ""


def test_duration_of_a_connection_that_ended_before_it_began_is_empty() -> None:
    assert history.duration(login(epoch=NOW - 60, ended=NOW - 61)) == ""


def test_duration_of_a_connection_that_ended_the_second_it_began_reads_zero_seconds() -> None:
    assert history.duration(login(epoch=NOW - 60, ended=NOW - 60)) == "0s"


def test_duration_under_a_minute_reads_seconds() -> None:
    assert history.duration(login(epoch=NOW - 100, ended=NOW - 100 + 59.9)) == "59s"
    assert history.duration(login(epoch=NOW - 100, ended=NOW - 100 + 1)) == "1s"


def test_duration_of_a_minute_reads_minutes() -> None:
    assert history.duration(login(epoch=NOW - 100, ended=NOW - 100 + 60)) == "1m"
    assert history.duration(login(epoch=NOW - 4000, ended=NOW - 4000 + 59 * 60 + 59)) == "59m"


def test_duration_of_a_connection_over_an_hour_reads_hours_and_minutes() -> None:
    assert history.duration(login(epoch=NOW - 9000, ended=NOW - 9000 + 3600)) == "1h 00m"
    assert history.duration(login(epoch=NOW - 9000, ended=NOW - 9000 + 3600 + 2 * 60 + 30)) == "1h 02m"
    assert history.duration(login(epoch=NOW - 3 * DAY, ended=NOW - 3 * DAY + 25 * 3600 + 59 * 60)) == "25h 59m"


# --- the store row ------------------------------------------------------------------------------------------


def test_the_row_of_a_login_is_its_log_key_epoch_address_and_sorted_json() -> None:
    entry = login(epoch=int(NOW) - 600, log_key="2049:77:4096")
    log_key, epoch, address, text = history.row(entry)
    assert (log_key, epoch, type(epoch), address) == ("2049:77:4096", float(int(NOW) - 600), float, "198.51.100.7")
    assert text == json.dumps(entry._asdict(), sort_keys=True)
    assert list(json.loads(text)) == sorted(HistoryEntry._fields)


def test_the_row_of_a_login_of_unknown_time_has_no_epoch() -> None:
    assert history.row(login(epoch=0))[1] is None


def test_the_row_of_an_ipv4_mapped_address_keeps_the_ipv4_address() -> None:
    entry = login(ip="::FFFF:203.0.113.9")
    assert history.row(entry)[2] == "203.0.113.9"
    assert json.loads(history.row(entry)[3])["ip"] == "::FFFF:203.0.113.9"


def test_the_row_of_an_ipv6_address_is_canonical() -> None:
    assert history.row(login(ip="2001:DB8:0:0::1"))[2] == "2001:db8::1"


def test_the_row_of_a_text_that_is_no_address_keeps_the_text() -> None:
    assert history.row(login(ip="unknown"))[2] == "unknown"


# --- from_json ----------------------------------------------------------------------------------------------


def test_from_json_reads_back_what_row_wrote() -> None:
    entry = login(methods=("publickey", "keyboard-interactive"), geo_sources=("IP geolocation by DB-IP",),
                  ended=NOW, country="DE", asn=64500, new_country=True, new_network=True)
    assert history.from_json(history.row(entry)[3]) == entry


def test_from_json_turns_lists_into_tuples() -> None:
    entry = history.from_json(json.dumps(login(methods=["publickey", "password"], geo_sources=["a", "b"])._asdict()))
    assert entry is not None
    assert (entry.methods, entry.geo_sources) == (("publickey", "password"), ("a", "b"))


def test_from_json_gives_none_for_a_text_that_is_not_json() -> None:
    assert history.from_json("{not json") is None
    assert history.from_json("") is None


def test_from_json_gives_none_for_json_that_is_not_an_object() -> None:
    assert history.from_json("[1, 2]") is None
    assert history.from_json("42") is None
    assert history.from_json('"time user ip"') is None


def test_from_json_gives_none_when_a_field_without_default_is_missing() -> None:
    document = login()._asdict()
    del document["log_key"]
    assert history.from_json(json.dumps(document)) is None


def test_from_json_fills_the_later_fields_a_previous_release_did_not_write() -> None:
    document = {field: value for field, value in login()._asdict().items() if field in HistoryEntry._fields[:13]}
    document["unknown_field"] = "ignored"
    entry = history.from_json(json.dumps(document))
    assert entry is not None
    assert entry == login() and entry.geo_sources == () and entry.asn == 0


# --- read ---------------------------------------------------------------------------------------------------


def test_read_gives_every_login_in_the_order_recorded_and_skips_rows_that_are_not_entries(store: Store) -> None:
    record(store, [login(epoch=NOW - 60, log_key="b"), login(epoch=NOW - 600, log_key="a")])
    with store.transaction():
        store.add_history([("bad", NOW - 30, "198.51.100.7", "not json")])
    record(store, [login(epoch=NOW - 10, log_key="c")])
    assert recorded(store) == ["b", "a", "c"]


def test_read_narrows_by_time_including_a_login_at_the_boundary(store: Store) -> None:
    record(store, [login(epoch=NOW - 2 * DAY, log_key="old"), login(epoch=NOW - DAY, log_key="edge"),
                   login(epoch=NOW - 60, log_key="new")])
    assert recorded(store, since=NOW - DAY) == ["edge", "new"]


def test_read_narrows_by_exact_canonical_address(store: Store) -> None:
    record(store, [login(ip="198.51.100.7", log_key="a"), login(ip="::ffff:198.51.100.7", log_key="b"),
                   login(ip="198.51.100.70", log_key="c")])
    assert recorded(store, address="198.51.100.7") == ["a", "b"]


def test_read_narrows_by_time_and_address_together(store: Store) -> None:
    record(store, [login(epoch=NOW - 2 * DAY, log_key="old"), login(epoch=NOW - 60, log_key="new"),
                   login(epoch=NOW - 60, ip="203.0.113.1", log_key="other")])
    assert recorded(store, since=NOW - DAY, address="198.51.100.7") == ["new"]


def test_read_counts_a_login_of_unknown_time_from_when_it_was_recorded(store: Store) -> None:
    record(store, [login(epoch=0, log_key="recorded long ago")], now=NOW - 10 * DAY)
    record(store, [login(epoch=0, log_key="recorded at the given time")], now=NOW - 60)
    record(store, [login(epoch=0, log_key="recorded now")])
    assert recorded(store, since=NOW - DAY) == ["recorded at the given time", "recorded now"]


# --- the history table ----------------------------------------------------------------------------------------


def test_add_history_stores_rows_at_the_given_time_or_now(store: Store) -> None:
    record(store, [login(log_key="given")], now=NOW - 5 * DAY)
    before = time.time()
    record(store, [login(log_key="now")])
    assert stored_column(store, "given") == NOW - 5 * DAY
    assert before <= stored_column(store, "now") <= time.time()


def test_add_history_keeps_the_row_already_there_for_a_log_key(store: Store) -> None:
    record(store, [login(user="alice", log_key="2049:77:100")])
    record(store, [login(user="mallory", log_key="2049:77:100"), login(user="bob", log_key="2049:77:200")])
    assert [entry.user for entry in history.read(store)] == ["alice", "bob"]
    assert store.count_history() == 2


def test_history_between_gives_row_ids_and_entries_within_both_bounds_by_time(store: Store) -> None:
    record(store, [login(epoch=NOW - 50, log_key="late"), login(epoch=NOW - 100, log_key="low"),
                   login(epoch=NOW - 101, log_key="before"), login(epoch=NOW - 20, log_key="high"),
                   login(epoch=NOW - 19, log_key="after"), login(epoch=NOW - 50, log_key="late too")])
    rows = store.history_between(NOW - 100, NOW - 20)
    keys = [json.loads(text)["log_key"] for _, text in rows]
    assert keys == ["low", "late", "late too", "high"]
    ids = dict(store.connection.execute("SELECT log_key, id FROM history"))
    assert [row_id for row_id, _ in rows] == [ids[key] for key in keys]
    assert all(type(row_id) is int for row_id, _ in rows)


def test_latest_history_gives_the_most_recent_logins_oldest_first(store: Store) -> None:
    record(store, [login(log_key=str(number)) for number in range(5)])
    assert [json.loads(text)["log_key"] for text in store.latest_history(3)] == ["2", "3", "4"]
    assert store.latest_history(0) == []
    assert len(store.latest_history(9)) == 5


def test_count_history_counts_every_row(store: Store) -> None:
    assert store.count_history() == 0
    record(store, [login(log_key=str(number)) for number in range(3)])
    assert store.count_history() == 3


def test_prune_history_forgets_logins_and_sources_older_than_the_days_kept(store: Store) -> None:
    cutoff = NOW - 7 * DAY
    record(store, [login(epoch=cutoff - 1, log_key="older"), login(epoch=cutoff, log_key="at the cutoff"),
                   login(epoch=NOW - 60, log_key="recent")])
    record(store, [login(epoch=0, log_key="unknown, recorded long ago")], now=cutoff - 1)
    record(store, [login(epoch=0, log_key="unknown, recorded at the cutoff")], now=cutoff)
    with store.transaction():
        store.put_sources({("alice", "198.51.100.1"): Seen(cutoff - DAY, cutoff - 1, 2),
                           ("alice", "198.51.100.2"): Seen(cutoff - DAY, cutoff, 3)})
        store.prune_history(NOW, 7)
    assert sorted(recorded(store)) == ["at the cutoff", "recent", "unknown, recorded at the cutoff"]
    assert store.seen("alice", "198.51.100.1") is None
    assert store.seen("alice", "198.51.100.2") == Seen(cutoff - DAY, cutoff, 3)


def test_prune_history_of_zero_days_keeps_only_what_is_not_older_than_now(store: Store) -> None:
    record(store, [login(epoch=NOW - 1, log_key="a second ago"), login(epoch=NOW, log_key="now")])
    with store.transaction():
        store.prune_history(NOW, 0)
    assert recorded(store) == ["now"]


def test_replace_history_entry_changes_only_that_row(store: Store) -> None:
    record(store, [login(log_key="a"), login(log_key="b")])
    (first, _), _ = store.history_between(NOW - 600, NOW - 600)
    with store.transaction():
        store.replace_history_entry(first, history.row(login(log_key="a", kind="interactive"))[3])
    assert [entry.kind for entry in history.read(store)] == ["interactive", ""]


# --- account_places -----------------------------------------------------------------------------------------


def test_account_places_opens_the_configured_databases(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/someone")
    places = history.account_places("~/geo/country.mmdb, /var/lib/asn.mmdb", store)
    assert places.locator.paths == ("/home/someone/geo/country.mmdb", "/var/lib/asn.mmdb")


def test_account_places_reads_the_seen_sets_kept_for_the_user(store: Store) -> None:
    with store.transaction():
        store.put(SEEN_KEY + "alice", {"countries": ["DE"], "asns": [64500]})
    places = history.account_places("", store)
    assert places.locator.paths == ()
    assert places._stored("alice") == {"countries": ["DE"], "asns": [64500]}
    assert places._stored("bob") is None


def test_account_places_reads_the_past_addresses_of_the_user_only(store: Store) -> None:
    record(store, [login(ip="198.51.100.1", log_key="a"), login(ip="203.0.113.5", user="bob", log_key="b"),
                   login(ip="198.51.100.2", log_key="c")])
    places = history.account_places("", store)
    assert list(places._history("alice")) == ["198.51.100.1", "198.51.100.2"]
    assert list(places._history("bob")) == ["203.0.113.5"]
    assert list(places._history("carol")) == []


# --- read_jsonl ---------------------------------------------------------------------------------------------


def write_lines(path: Path, entries: List[HistoryEntry], extra: bytes = b"") -> None:
    path.write_bytes(b"".join(json.dumps(entry._asdict()).encode() + b"\n" for entry in entries) + extra)


def test_read_jsonl_reads_the_rotated_file_first_and_each_log_key_once(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    write_lines(Path(str(path) + ".1"), [login(log_key="1"), login(log_key="2")])
    write_lines(path, [login(log_key="2", user="again"), login(log_key="3"), login(log_key="3", user="again")])
    entries = history.read_jsonl(path)
    assert [(entry.log_key, entry.user) for entry in entries] == [("1", "alice"), ("2", "alice"), ("3", "alice")]


def test_read_jsonl_without_a_rotated_file_reads_the_current_one(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    write_lines(path, [login(log_key="1"), login(log_key="2")])
    assert [entry.log_key for entry in history.read_jsonl(path)] == ["1", "2"]


def test_read_jsonl_without_any_file_gives_nothing(tmp_path: Path) -> None:
    assert history.read_jsonl(tmp_path / "history.jsonl") == []


def test_read_jsonl_skips_a_fifo_without_waiting_on_it(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    os.mkfifo(str(path) + ".1")
    write_lines(path, [login(log_key="1")])
    assert [entry.log_key for entry in history.read_jsonl(path)] == ["1"]


def test_read_jsonl_skips_lines_that_are_not_entries(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    path.write_bytes(b"garbage\n" + json.dumps(login(log_key="1")._asdict()).encode() + b"\n\n[1]\n{\"user\": 1}\n"
                     + json.dumps(login(log_key="2")._asdict()).encode())
    assert [entry.log_key for entry in history.read_jsonl(path)] == ["1", "2"]


def test_read_jsonl_replaces_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    line = json.dumps(login(log_key="1", rdns="host-RDNS.example")._asdict()).encode()
    path.write_bytes(line.replace(b"RDNS", b"\xff\xfe") + b"\n")
    (entry,) = history.read_jsonl(path)
    assert entry.rdns == "host-\ufffd\ufffd.example"


# --- fill_kind ----------------------------------------------------------------------------------------------


def kinds(store: Store) -> List[str]:
    return [entry.kind for entry in history.read(store)]


def test_fill_kind_gives_the_login_of_the_same_time_address_and_user_its_kind(store: Store) -> None:
    epoch = NOW - 300
    record(store, [login(epoch=epoch, log_key="a"), login(epoch=epoch + 1, log_key="later"),
                   login(epoch=epoch, ip="203.0.113.9", log_key="other ip"),
                   login(epoch=epoch, user="bob", log_key="other user")])
    with store.transaction():
        history.fill_kind(store, epoch, "198.51.100.7", "alice", "transfer")
    assert kinds(store) == ["transfer", "", "", ""]


def test_fill_kind_writes_the_entry_as_sorted_json(store: Store) -> None:
    record(store, [login(log_key="a")])
    with store.transaction():
        history.fill_kind(store, NOW - 600, "198.51.100.7", "alice", "command")
    (text,) = store.history()
    assert text == json.dumps(login(log_key="a", kind="command")._asdict(), sort_keys=True)


def test_fill_kind_never_overwrites_a_kind_already_known(store: Store) -> None:
    record(store, [login(log_key="a", kind="interactive")])
    with store.transaction():
        history.fill_kind(store, NOW - 600, "198.51.100.7", "alice", "transfer")
    assert kinds(store) == ["interactive"]


def test_fill_kind_leaves_a_row_that_is_not_an_entry_alone(store: Store) -> None:
    with store.transaction():
        store.add_history([("bad", NOW - 600, "198.51.100.7", "not json")])
    record(store, [login(log_key="a")])
    with store.transaction():
        history.fill_kind(store, NOW - 600, "198.51.100.7", "alice", "command")
    assert next(store.history()) == "not json"
    assert kinds(store) == ["command"]
