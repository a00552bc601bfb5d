"""The store where its mutation tests found it untested: opening a current store writes nothing, a commit that
fails is rolled back with its own error, the stored forms of meta values and the seed mark, every run kind's
outcome, and the hourly limit's count and last alert after deliveries that were all refused."""

import time
from pathlib import Path

import pytest

from app.store.rows import OutboxRow
from app.store.store import DatabaseError, Store, opened


def enqueue(store: Store, now: float) -> OutboxRow:
    with store.transaction():
        store.enqueue(OutboxRow(0, "<m0@x>", "login", "subject 0", ("a@example.com", "b@example.com"),
                                b"body\r\n", 1), now)
    return store.unsent()[0]


# --- opening ----------------------------------------------------------------------------------------------

def test_opening_a_store_of_the_current_schema_writes_nothing_to_it(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    Store.open(path).close()
    before = path.read_bytes()
    with opened(path) as store:
        assert store.is_new
    assert path.read_bytes() == before  # no migration re-run: not even the schema version is written again


# --- transactions -------------------------------------------------------------------------------------------

def test_a_commit_that_fails_is_rolled_back_and_passes_its_own_error_on(store: Store) -> None:
    # a deferred foreign key fails at COMMIT and leaves the transaction open, as SQLITE_BUSY there would
    store.connection.execute("PRAGMA foreign_keys = ON")
    store.connection.execute("CREATE TEMP TABLE parent (id INTEGER PRIMARY KEY)")
    store.connection.execute("CREATE TEMP TABLE child (parent_id INTEGER REFERENCES parent (id) "
                             "DEFERRABLE INITIALLY DEFERRED)")
    store.later(lambda target: target.put("cache", 1))
    with pytest.raises(DatabaseError, match="FOREIGN KEY constraint failed"):
        with store.transaction():
            store.put("seeded", True)
            store.connection.execute("INSERT INTO child (parent_id) VALUES (7)")
    assert not store.connection.in_transaction
    assert store.is_new and store.get("cache") is None
    with store.transaction():  # the change held for later was kept for the next transaction
        store.put("position", None)
    assert store.get("cache") == 1


# --- meta values and the seed mark ----------------------------------------------------------------------------

def test_a_meta_value_is_stored_with_its_keys_sorted(store: Store) -> None:
    store.put("last_sent", {"subject": "x", "epoch": 1.5})
    stored = store.connection.execute("SELECT value FROM meta WHERE key = 'last_sent'").fetchone()[0]
    assert stored == '{"epoch": 1.5, "subject": "x"}'


def test_a_seed_marks_the_store_seeded_as_true(store: Store) -> None:
    with store.transaction():
        store.set_position(None)
    assert store.get("seeded") is True


# --- run outcomes ---------------------------------------------------------------------------------------------

def test_runs_give_every_kind_with_its_last_success_and_failure_sorted_by_kind(store: Store) -> None:
    now = time.time()
    with store.transaction():
        store.record_run("sessions", None, now=now - 60)
        store.record_run("check", None, now=now - 120)
        store.record_run("check", "no answer from the server", now=now - 30)
    assert store.runs() == [("check", now - 120, now - 30, "no answer from the server"),
                            ("sessions", now - 60, None, None)]


def test_failures_come_oldest_first_whatever_their_kind(store: Store) -> None:
    now = time.time()
    with store.transaction():
        store.record_run("a-newer", "second", now=now - 10)
        store.record_run("b-older", "first", now=now - 20)
    assert store.failures() == [("b-older", now - 20, "first"), ("a-newer", now - 10, "second")]


def test_a_run_recorded_without_a_time_is_recorded_at_the_current_time(store: Store) -> None:
    before = time.time()
    with store.transaction():
        store.record_run("check", "timed out")
    after = time.time()
    [(kind, when, reason)] = store.failures()
    assert (kind, reason) == ("check", "timed out") and before <= when <= after


# --- the outbox's deliveries ----------------------------------------------------------------------------------

def test_deliveries_all_refused_count_no_send_and_leave_the_last_alert_alone(store: Store) -> None:
    now = time.time()
    row = enqueue(store, now)
    store.record_deliveries(row, [], [("a@example.com", "550 no such user"), ("b@example.com", "550 no")], now)
    assert store.send_times(now + 1) == ()
    assert store.get("last_sent") is None


def test_the_first_acceptance_records_the_send_and_the_last_alert(store: Store) -> None:
    now = time.time()
    row = enqueue(store, now - 5)
    store.record_deliveries(row, ["a@example.com"], [], now - 2)
    store.record_deliveries(row, ["b@example.com"], [], now - 1)  # a later acceptance counts no second send
    assert store.send_times(now) == (now - 2,)
    assert store.get("last_sent") == {"epoch": now - 2, "subject": "subject 0"}
