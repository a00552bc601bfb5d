"""The store at its edges: opening read-only or without sqlite3, the reserve at its exact sizes, warnings, recent
connections, sources, alerted sessions, the outbox's rows and deliveries, and the login history table."""

import importlib.util
import json
import sqlite3
import stat
import sys
from pathlib import Path

import pytest

from app.logins.loginlog import Position
from app.store.rows import OutboxRow, Seen
from app.logins.statediff import RECENT_KEPT
from app.store.schema import MIGRATIONS, SCHEMA_VERSION
from app.store.store import JOURNAL_RESERVE, Store, opened
from app.errors import NO_SQLITE, UserError

NOW = 1_795_600_000.0


def free_pages(store: Store) -> int:
    return store.connection.execute("PRAGMA freelist_count").fetchone()[0]


def journal(store: Store) -> Path:
    return Path(str(store.path) + "-journal")


# --- opening ---------------------------------------------------------------------------------------------

def test_every_schema_version_has_its_migration(tmp_path: Path) -> None:
    assert SCHEMA_VERSION == len(MIGRATIONS)


def test_a_store_of_an_older_schema_is_migrated_and_keeps_what_it_had(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    connection = sqlite3.connect(str(path))
    connection.executescript(MIGRATIONS[0])
    connection.execute("INSERT INTO meta (key, value) VALUES ('seeded', 'true')")
    connection.execute("PRAGMA user_version = 1")
    connection.commit()
    connection.close()
    with opened(path) as store:
        assert not store.is_new
        assert store.connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        tables = {row[0] for row in store.connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"deliveries", "events", "event_deliveries", "channels", "channel_sends"} <= tables


def test_a_newer_schema_is_refused_naming_both_versions(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    Store.open(path).close()
    connection = sqlite3.connect(str(path))
    connection.execute("PRAGMA user_version = 7")
    connection.close()
    with pytest.raises(sqlite3.DatabaseError) as raised:
        Store.open(path)
    assert str(raised.value) == "schema version 7 is newer than this ssh_alert knows ({})".format(SCHEMA_VERSION)


def test_a_read_only_store_reads_what_was_stored_and_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    with opened(path) as store, store.transaction():
        store.set_position(Position(1, 2, 3, "ab"))
    with opened(path, read_only=True) as store:
        assert store.position() == Position(1, 2, 3, "ab")
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            store.put("seeded", False)
    assert sorted(entry.name for entry in tmp_path.iterdir()) == ["store.db", "store.db-journal"]


def test_opening_read_only_never_changes_the_stores_mode(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    Store.open(path).close()
    path.chmod(0o644)
    Store.open(path, read_only=True).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_a_store_without_group_or_other_bits_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    Store.open(path).close()
    path.chmod(0o700)
    Store.open(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o700


def test_a_missing_store_opened_read_only_is_a_user_error_with_the_system_reason(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    with pytest.raises(UserError) as raised:
        Store.open(path, read_only=True)
    assert str(raised.value).startswith("cannot write the store {}: No such file or directory; ".format(path))


def test_a_directory_in_the_stores_place_is_refused_as_not_a_regular_file(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    path.mkdir()
    with pytest.raises(UserError) as raised:
        Store.open(path)
    assert str(raised.value).startswith("{} is a directory, not a regular file".format(path))


def test_a_python_without_sqlite3_is_told_so_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import app.store.store as real

    for name in ("sqlite3", "_sqlite3"):  # import raises ImportError: what a Python built without SQLite does
        monkeypatch.setitem(sys.modules, name, None)
    spec = importlib.util.spec_from_file_location("store_without_sqlite", real.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert issubclass(module.OperationalError, module.DatabaseError)
    with pytest.raises(UserError) as raised:
        module.Store.open(tmp_path / "state" / "store.db")
    assert str(raised.value) == NO_SQLITE.format(python=sys.executable)
    assert not (tmp_path / "state").exists()


# --- transactions ----------------------------------------------------------------------------------------

def test_a_transaction_that_raises_keeps_nothing_and_passes_the_error_on(store: Store) -> None:
    with pytest.raises(ValueError, match="stop"):
        with store.transaction():
            store.put("seeded", True)
            raise ValueError("stop")
    assert store.is_new
    with store.transaction():  # no transaction was left open
        store.put("seeded", True)
    assert not store.is_new


# --- the reserve -----------------------------------------------------------------------------------------

def test_a_reserve_in_place_is_kept_without_writing(store: Store) -> None:
    assert store.ensure_reserve()
    changes = store.connection.total_changes
    assert store.ensure_reserve()
    assert store.connection.total_changes == changes


def test_a_reserve_exactly_at_its_sizes_is_left_as_it_is(store: Store) -> None:
    assert store.ensure_reserve()
    with store.transaction():  # use up free pages one at a time until exactly 96 are left
        while free_pages(store) > 96:
            store.connection.execute("INSERT INTO reserve (filler) VALUES (zeroblob(3000))")
    assert free_pages(store) == 96
    with open(str(journal(store)), "r+b") as handle:
        handle.truncate(256 * 1024)
    changes = store.connection.total_changes
    assert store.ensure_reserve()
    assert store.connection.total_changes == changes
    assert journal(store).stat().st_size == 256 * 1024 and free_pages(store) == 96


def test_free_pages_used_up_are_made_again_even_with_the_journal_grown(store: Store) -> None:
    assert store.ensure_reserve()
    with store.transaction():
        store.connection.execute("INSERT INTO reserve (filler) VALUES (zeroblob(?))", (200 * 4096,))
    assert free_pages(store) < 96 and journal(store).stat().st_size >= JOURNAL_RESERVE
    assert store.ensure_reserve()
    assert free_pages(store) >= 96


def test_a_journal_cut_short_is_grown_again_even_with_the_free_pages_there(store: Store) -> None:
    assert store.ensure_reserve()
    with open(str(journal(store)), "r+b") as handle:
        handle.truncate(1000)
    assert store.ensure_reserve()
    assert journal(store).stat().st_size >= 256 * 1024


def test_a_journal_removed_is_made_again(store: Store) -> None:
    assert store.ensure_reserve()
    journal(store).unlink()
    assert store.ensure_reserve()
    assert journal(store).stat().st_size >= 256 * 1024


def test_a_full_disk_makes_ensure_reserve_say_false(store: Store) -> None:
    pages = store.connection.execute("PRAGMA page_count").fetchone()[0]
    store.connection.execute("PRAGMA max_page_count = {:d}".format(pages))  # the file cannot grow
    assert store.ensure_reserve() is False


# --- meta and warnings -------------------------------------------------------------------------------------

def test_a_warning_is_given_once_until_it_is_cleared(store: Store) -> None:
    assert store.warn_once("held") is True
    assert store.warn_once("held") is False
    assert store.warn_once("other") is True
    store.clear_warning("held")
    assert store.warn_once("held") is True
    assert store.warn_once("other") is False


def test_a_meta_value_is_stored_as_canonical_json(store: Store) -> None:
    store.put("last_sent", {"subject": "x", "epoch": 1.5})
    assert store.get("last_sent") == {"epoch": 1.5, "subject": "x"}
    assert store.get("missing", 7) == 7


# --- recent connections, sources, sessions -------------------------------------------------------------------

def test_recent_connections_come_back_oldest_first_and_only_the_newest_are_kept(store: Store) -> None:
    assert store.recent() == ()
    store.add_recent([("c{}".format(number), float(number)) for number in range(RECENT_KEPT + 5)])
    kept = store.recent()
    assert len(kept) == RECENT_KEPT
    assert kept[0] == ("c5", 5.0) and kept[-1] == ("c{}".format(RECENT_KEPT + 4), float(RECENT_KEPT + 4))
    assert store.connection.execute("SELECT count(*) FROM recent").fetchone()[0] == RECENT_KEPT


def test_a_source_round_trips_with_first_last_and_count(store: Store) -> None:
    assert store.seen("alice", "203.0.113.7") is None
    store.put_sources({("alice", "203.0.113.7"): Seen(10.0, 20.0, 3), ("bob", "203.0.113.7"): Seen(1.0, 2.0, 1)})
    assert store.seen("alice", "203.0.113.7") == Seen(10.0, 20.0, 3)
    assert store.seen("alice", "203.0.113.8") is None
    store.put_sources({("alice", "203.0.113.7"): Seen(10.0, 30.0, 4)})
    assert store.seen("alice", "203.0.113.7") == Seen(10.0, 30.0, 4)


def test_sessions_no_longer_running_are_forgotten(store: Store) -> None:
    for key in ("s2", "s1", "s3", "s1"):
        store.add_session_alerted(key)
    assert store.sessions_alerted() == ("s1", "s2", "s3")
    store.keep_sessions(["s2", "s9"])
    assert store.sessions_alerted() == ("s2",)


# --- the outbox ---------------------------------------------------------------------------------------------

def enqueue(store: Store, number: int, recipients=("a@example.com", "b@example.com")) -> int:
    return store.enqueue(OutboxRow(0, "<m{}@x>".format(number), "login", "subject {}".format(number), tuple(recipients),
                                   "body {}\r\n".format(number).encode(), number + 1), NOW + number)


def test_an_enqueued_message_comes_back_as_it_was_stored(store: Store) -> None:
    first = enqueue(store, 0)
    second = enqueue(store, 1, ["c@example.com"])
    rows = store.unsent()
    assert [row.id for row in rows] == [first, second] and second > first
    assert tuple(rows[0]) == (first, "<m0@x>", "login", "subject 0", ("a@example.com", "b@example.com"),
                              b"body 0\r\n", 1)
    assert tuple(rows[1])[1:] == ("<m1@x>", "login", "subject 1", ("c@example.com",), b"body 1\r\n", 2)


def test_a_message_marked_sent_leaves_the_outbox_and_counts_for_the_hourly_limit(store: Store) -> None:
    enqueue(store, 0)
    enqueue(store, 1)
    store.put("holding", True)
    assert store.warn_once("held")
    first = store.unsent()[0]
    store.mark_sent(first, NOW + 10)
    assert [row.message_id for row in store.unsent()] == ["<m1@x>"]
    assert store.send_times(NOW + 20) == (NOW + 10,)
    assert store.get("last_sent") == {"epoch": NOW + 10, "subject": "subject 0"}
    assert store.get("holding") is False
    assert store.warn_once("held") is True  # the hold warning was cleared
    attempts, error = store.connection.execute("SELECT attempts, last_error FROM outbox WHERE id = ?",
                                               (first.id,)).fetchone()
    assert (attempts, error) == (1, None)


def test_a_failed_attempt_counts_and_keeps_its_reason_until_the_message_is_sent(store: Store) -> None:
    enqueue(store, 0)
    enqueue(store, 1)
    row, other = store.unsent()
    store.mark_failed(row, "timed out")
    store.mark_failed(row, "refused: 451")
    query = "SELECT attempts, last_error FROM outbox WHERE id = ?"
    assert store.connection.execute(query, (row.id,)).fetchone() == (2, "refused: 451")
    assert store.connection.execute(query, (other.id,)).fetchone() == (0, None)
    store.mark_sent(row, NOW)
    assert store.connection.execute(query, (row.id,)).fetchone() == (3, None)


def test_deliveries_name_who_accepted_and_who_refused_for_good(store: Store) -> None:
    enqueue(store, 0)
    enqueue(store, 1)
    row, other = store.unsent()
    assert store.delivered_to(row) == []
    store.record_deliveries(row, ["a@example.com"], [("b@example.com", "550 no such user")], NOW)
    assert sorted(store.delivered_to(row)) == ["a@example.com", "b@example.com"]
    assert store.delivered_to(other) == []
    assert sorted(store.connection.execute("SELECT outbox_id, recipient, state, reply, time FROM deliveries")) == [
        (row.id, "a@example.com", "accepted", "", NOW), (row.id, "b@example.com", "refused", "550 no such user", NOW)]


def test_prune_outbox_drops_only_messages_sent_before_the_kept_time(store: Store) -> None:
    for number in range(3):
        enqueue(store, number)
    old, recent, unsent = store.unsent()
    store.mark_sent(old, NOW - 1000)
    store.mark_sent(recent, NOW - 10)
    store.prune_outbox(NOW, 100)
    remaining = [row[0] for row in store.connection.execute("SELECT id FROM outbox ORDER BY id")]
    assert remaining == [recent.id, unsent.id]


# --- the login history table ----------------------------------------------------------------------------------

def history_rows(store: Store) -> None:
    store.add_history([("k1", NOW - 3 * 86400, "203.0.113.7", '{"n": 1}'),
                       ("k2", NOW - 100, "203.0.113.8", '{"n": 2}'),
                       ("k3", NOW - 200, "203.0.113.7", '{"n": 3}'),
                       ("k4", NOW - 2 * 86400 - 1, "203.0.113.9", '{"n": 4}'),
                       ("k1", NOW, "203.0.113.9", '{"n": "again"}')])  # a log_key already there is kept


def test_history_comes_back_in_the_order_it_was_handled_narrowed_by_time_and_address(store: Store) -> None:
    history_rows(store)
    assert list(store.history()) == ['{"n": 1}', '{"n": 2}', '{"n": 3}', '{"n": 4}']
    assert list(store.history(since=NOW - 150)) == ['{"n": 2}']
    assert list(store.history(since=NOW - 200)) == ['{"n": 2}', '{"n": 3}']
    assert list(store.history(address="203.0.113.7")) == ['{"n": 1}', '{"n": 3}']
    assert list(store.history(since=NOW - 86400, address="203.0.113.7")) == ['{"n": 3}']
    assert store.count_history() == 4


def test_history_between_is_inclusive_and_ordered_by_time(store: Store) -> None:
    history_rows(store)
    found = store.history_between(NOW - 200, NOW - 100)
    assert [entry for _, entry in found] == ['{"n": 3}', '{"n": 2}']
    store.replace_history_entry(found[0][0], '{"n": 33}')
    assert list(store.history(address="203.0.113.7")) == ['{"n": 1}', '{"n": 33}']


def test_latest_history_is_the_newest_oldest_first(store: Store) -> None:
    history_rows(store)
    assert store.latest_history(2) == ['{"n": 3}', '{"n": 4}']
    assert store.latest_history(10) == ['{"n": 1}', '{"n": 2}', '{"n": 3}', '{"n": 4}']


def test_prune_history_forgets_logins_and_sources_older_than_the_days_kept(store: Store) -> None:
    history_rows(store)
    store.put_sources({("alice", "203.0.113.7"): Seen(1.0, NOW - 3 * 86400, 1),
                       ("alice", "203.0.113.8"): Seen(1.0, NOW - 86400, 2),
                       ("alice", "203.0.113.9"): Seen(1.0, NOW - 2 * 86400 - 1, 1)})
    store.prune_history(NOW, 2)
    assert list(store.history()) == ['{"n": 2}', '{"n": 3}']
    assert store.seen("alice", "203.0.113.7") is None and store.seen("alice", "203.0.113.8") is not None
    assert store.seen("alice", "203.0.113.9") is None  # a second past the days kept
    assert json.loads(store.latest_history(1)[0]) == {"n": 3}
