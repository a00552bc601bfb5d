"""The store: positions, run outcomes, send times and the full-disk reserve; the previous release's state file."""

import json
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from app.store.schema import SCHEMA_VERSION
from app.store.store import JOURNAL_RESERVE, RESERVE_PAGES, Store, opened
from app.store.upgrade import StateProblem, read_state_file
from app.logins.loginlog import Position


def test_a_position_round_trips_through_the_store(tmp_path: Path) -> None:
    path = tmp_path / "state" / "store.db"
    with opened(path) as store:
        assert store.is_new
        with store.transaction():
            store.set_position(Position(2049, 123456, 789, "ab" * 16))
    with opened(path) as store:
        assert not store.is_new
        assert store.position() == Position(2049, 123456, 789, "ab" * 16)


def test_a_seed_without_a_log_stores_no_position_but_is_seeded(tmp_path: Path) -> None:
    with opened(tmp_path / "store.db") as store:
        with store.transaction():
            store.set_position(None)
        assert store.position() is None and not store.is_new


def test_a_new_store_is_0600_in_a_0700_directory_with_only_its_journal_beside_it(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    with opened(directory / "store.db") as store:
        with store.transaction():
            store.set_position(None)
    assert stat.S_IMODE((directory / "store.db").stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert sorted(os.listdir(str(directory))) == ["store.db", "store.db-journal"]
    assert stat.S_IMODE((directory / "store.db-journal").stat().st_mode) == 0o600


def test_a_world_readable_store_of_ours_is_made_private_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    opened(path).__enter__().close()
    path.chmod(0o644)
    Store.open(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_schema_carries_its_version_and_a_newer_one_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    Store.open(path).close()
    connection = sqlite3.connect(str(path))
    assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    connection.execute("PRAGMA user_version = {}".format(SCHEMA_VERSION + 1))
    connection.close()
    with pytest.raises(sqlite3.DatabaseError, match="newer than this ssh_alert knows"):
        Store.open(path)


def test_the_reserve_keeps_free_pages_in_the_file_and_a_grown_journal(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    with opened(path) as store:
        assert store.ensure_reserve()
        assert store.connection.execute("PRAGMA freelist_count").fetchone()[0] >= RESERVE_PAGES
    assert Path(str(path) + "-journal").stat().st_size >= JOURNAL_RESERVE


def test_a_failure_stays_until_a_run_of_the_same_kind_succeeds(tmp_path: Path) -> None:
    with opened(tmp_path / "store.db") as store:
        with store.transaction():
            store.record_run("check", "no answer from the server", now=100.0)
            store.record_run("sessions", None, now=200.0)
        assert store.failures() == [("check", 100.0, "no answer from the server")]
        with store.transaction():
            store.record_run("check", None, now=300.0)
        assert store.failures() == []


def test_send_times_in_the_future_are_forgotten(tmp_path: Path) -> None:
    now = 1_800_000_000.0
    with opened(tmp_path / "store.db") as store:
        with store.transaction():
            store.connection.executemany("INSERT INTO sends (time) VALUES (?)",
                                         [(now - 7200,), (now - 60,), (now + 365 * 86400,)])
        assert store.send_times(now) == (now - 60,)
        with store.transaction():  # the alert's own
            store.put("position", None)
        assert store.connection.execute("SELECT time FROM sends").fetchall() == [(now - 60,)]  # forgotten


def test_forgetting_expired_send_times_commits_nothing_of_its_own(tmp_path: Path) -> None:
    now = 1_800_000_000.0
    with opened(tmp_path / "store.db") as store:
        with store.transaction():
            store.connection.executemany("INSERT INTO sends (time) VALUES (?)", [(now - 7200,), (now - 60,)])
        changes = store.connection.total_changes
        assert store.send_times(now) == (now - 60,)
        assert store.connection.total_changes == changes  # no transaction, no fsync before the alert's
    with opened(tmp_path / "store.db") as store:
        assert store.connection.execute("SELECT time FROM sends").fetchall() == [(now - 60,)]  # made at close


def test_a_change_held_for_later_rides_with_the_next_transaction_and_survives_its_rollback(tmp_path: Path) -> None:
    with opened(tmp_path / "store.db") as store:
        store.later(lambda target: target.put("cache", 1))
        with pytest.raises(ZeroDivisionError):
            with store.transaction():
                store.put("position", None)
                1 / 0
        assert store.get("cache") is None and store.get("position") is None  # rolled back together
        with store.transaction():
            store.put("seeded", True)
        assert (store.get("cache"), store.get("seeded")) == (1, True)
        statements: list = []
        store.connection.set_trace_callback(statements.append)
    assert statements == []  # made once: closing commits nothing more


# --- the previous release's state.json (read once, for the upgrade) -------------------------------------

def test_a_missing_state_file_is_none(tmp_path: Path) -> None:
    assert read_state_file(tmp_path / "state.json") is None


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe", b"", b"[]", b"null", b'{"format": 2, "log": null}'])
def test_a_corrupt_state_file_is_a_state_problem(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(content)
    with pytest.raises(StateProblem):
        read_state_file(path)


def test_an_unreadable_state_file_says_it_cannot_be_read(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.mkdir()  # root reads through chmod 000: a directory forces the OSError instead
    with pytest.raises(StateProblem) as raised:
        read_state_file(path)
    assert str(raised.value).startswith("cannot read it: ")


def test_a_valid_state_file_reads_as_its_document(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"format": 1, "log": None}))
    assert read_state_file(path) == {"format": 1, "log": None}
