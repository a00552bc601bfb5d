"""The first run after an upgrade from release 0.1, field by field (app.store.upgrade): every part of the old
state.json, sources.json and history.jsonl lands in the store, the old files are renamed, and a state file that is
not what 0.1 wrote is a StateProblem naming why, with nothing imported. Built from "now", written as 0.1 wrote them."""

import json
import time
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest

from app.store.rows import Seen
from app.logins.loginlog import Position
from app.store import history
from app.store.store import Store
from app.store.upgrade import IMPORTED_SUFFIX, RELEASE_FORMAT, StateProblem, import_release_files
from app.system.paths import Paths

NOW = time.time()


@pytest.fixture
def store(paths: Paths) -> Iterator[Store]:
    paths.state_dir.mkdir(parents=True, exist_ok=True)
    opened = Store.open(paths.state_dir / "store.db")
    yield opened
    opened.close()


def state(**changes: Any) -> Dict[str, Any]:
    document = {"format": 1, "log": {"device": 2049, "inode": 77, "offset": 4096, "anchor": "abc123"},
                "recent": [["198.51.100.1 40000 10.0.0.1 22", NOW - 60]], "sent_times": [NOW - 120, NOW - 30],
                "sessions_alerted": ["1234:5678"], "holding": True,
                "last_sent": {"time": NOW - 30, "subject": "SSH login: alice@web1 from 198.51.100.1"},
                "last_failure": {"reason": "connection refused", "epoch": NOW - 300}}
    document.update(changes)
    return document


def entry(number: int) -> history.HistoryEntry:
    return history.HistoryEntry("2026-01-01 00:00:0{} +0000".format(number), NOW - 600 + number, "alice",
                                "198.51.100.{}".format(number), "", ("publickey",), "", "", "", history.EMAILED,
                                True, False, "2049:77:{}".format(number * 100))


def write_release_files(paths: Paths, document: Dict[str, Any]) -> None:
    paths.state_dir.mkdir(parents=True, exist_ok=True)
    paths.state_file.write_text(json.dumps(document))
    paths.sources_file.write_text(json.dumps({
        "alice": {"198.51.100.1": {"first": NOW - 9000, "last": NOW - 60, "count": 3},
                  "198.51.100.2": {"first": "never"},  # unreadable: left out, the rest kept
                  "198.51.100.3": {"first": NOW - 10, "last": NOW - 5}},  # no count: left out
        "bob": "not a mapping"}))
    paths.history_file.write_text("".join(json.dumps(entry(number)._asdict()) + "\n" for number in (1, 2)))
    Path(str(paths.history_file) + ".1").write_text(json.dumps(entry(0)._asdict()) + "\n")


def test_release_0_1_wrote_format_1() -> None:
    assert RELEASE_FORMAT == 1 and IMPORTED_SUFFIX == ".imported"


def test_every_part_of_the_old_state_lands_in_the_store_and_the_old_files_are_renamed(paths: Paths,
                                                                                        store: Store) -> None:
    write_release_files(paths, state())
    said = import_release_files(store, paths)
    assert said == "imported state.json (position, 1 source(s), 3 history entries) into {}".format(store.path)
    assert store.position() == Position(2049, 77, 4096, "abc123")
    assert store.recent() == (("198.51.100.1 40000 10.0.0.1 22", pytest.approx(NOW - 60)),)
    assert sorted(store.send_times(NOW)) == [pytest.approx(NOW - 120), pytest.approx(NOW - 30)]
    assert store.sessions_alerted() == ("1234:5678",)
    assert store.get("holding") is True
    assert store.get("last_sent") == {"time": pytest.approx(NOW - 30),
                                      "subject": "SSH login: alice@web1 from 198.51.100.1"}
    assert [(kind, failed, reason) for kind, failed, reason in store.failures()] == [
        ("check", pytest.approx(NOW - 300), "connection refused")]
    assert store.seen("alice", "198.51.100.1") == Seen(pytest.approx(NOW - 9000), pytest.approx(NOW - 60), 3)
    assert store.seen("alice", "198.51.100.2") is None and store.seen("alice", "198.51.100.3") is None
    assert [history.from_json(text).ip for text in store.history()] == ["198.51.100.0", "198.51.100.1",
                                                                         "198.51.100.2"]
    for old in (paths.state_file, paths.sources_file, paths.history_file, Path(str(paths.history_file) + ".1")):
        assert not old.exists() and Path(str(old) + ".imported").exists()


def test_without_a_state_file_nothing_is_imported(paths: Paths, store: Store) -> None:
    paths.state_dir.mkdir(parents=True, exist_ok=True)
    paths.history_file.write_text(json.dumps(entry(1)._asdict()) + "\n")
    assert import_release_files(store, paths) is None
    assert list(store.history()) == [] and paths.history_file.exists()


def test_a_state_without_optional_parts_imports_what_it_has(paths: Paths, store: Store) -> None:
    paths.state_dir.mkdir(parents=True, exist_ok=True)
    paths.state_file.write_text(json.dumps({"format": 1, "log": None, "last_sent": "x", "last_failure": None}))
    said = import_release_files(store, paths)
    assert said == "imported state.json (position, 0 source(s), 0 history entries) into {}".format(store.path)
    assert store.position() is None and store.recent() == () and store.send_times(NOW) == ()
    assert store.get("holding") is False and store.get("last_sent") is None and store.failures() == []
    assert Path(str(paths.state_file) + ".imported").exists()


def test_a_failure_without_reason_or_time_is_still_recorded(paths: Paths, store: Store) -> None:
    write_release_files(paths, state(last_failure={}))
    import_release_files(store, paths)
    assert [(kind, reason) for kind, _, reason in store.failures()] == [("check", "?")]


@pytest.mark.parametrize("document, why", [
    ({"format": 1}, "unexpected content ('log')"),
    (state(log={"device": 1, "inode": 2, "offset": -1, "anchor": ""}), "unexpected content (negative offset)"),
    (state(log={"device": "x", "inode": 2, "offset": 0, "anchor": ""}), "unexpected content (invalid literal"),
    (state(recent=[["only the connection"]]), "unexpected content ("),
    (state(sent_times=["soon"]), "unexpected content (could not convert"),
    (state(log=[]), "unexpected content ("),
])
def test_a_state_file_that_is_not_what_release_0_1_wrote_is_a_problem_and_nothing_is_imported(
        paths: Paths, store: Store, document: Dict[str, Any], why: str) -> None:
    write_release_files(paths, document)
    with pytest.raises(StateProblem) as raised:
        import_release_files(store, paths)
    assert str(raised.value).startswith(why) and len(str(raised.value)) <= len("unexpected content ()") + 80
    assert store.position() is None and list(store.history()) == [] and paths.state_file.exists()


def test_a_problem_names_the_missing_key_or_what_was_wrong_with_the_value(paths: Paths, store: Store) -> None:
    write_release_files(paths, state(log={"device": 1, "inode": 2, "offset": 0}))  # KeyError('anchor')
    with pytest.raises(StateProblem) as raised:
        import_release_files(store, paths)
    assert str(raised.value) == "unexpected content ('anchor')"
    write_release_files(paths, state(recent=5))  # TypeError: not iterable
    with pytest.raises(StateProblem) as raised:
        import_release_files(store, paths)
    assert str(raised.value) == "unexpected content ('int' object is not iterable)"


def test_a_long_reason_is_cut_to_80_characters(paths: Paths, store: Store) -> None:
    write_release_files(paths, state(sent_times=["s" * 200]))
    with pytest.raises(StateProblem) as raised:
        import_release_files(store, paths)
    said = "could not convert string to float: '" + "s" * 200
    assert str(raised.value) == "unexpected content ({})".format(said[:80])
