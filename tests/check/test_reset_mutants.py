"""A lost store is an event: which signs count as an earlier run, where alerting starts again, and the exact words
of the "state was reset" notice and of the key watch's baseline notice (app.check.reset), pinned one decision at
a time with real files, a real SQLite store and epochs taken from now."""

import json
import os
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

from app.check import reset
from app.check.context import RunParts
from app.check.events import event_id
from app.install.hooks import render_hook
from app.install.installplan import RECORD_FORMAT, record_path
from app.logins.loginlog import Position, anchor_at
from app.logins.runmark import AHEAD
from app.settings.config import load_config
from app.store.store import Store
from app.system import oplog
from app.system.paths import Paths
from helpers import append_log, login_line, write_config


def line_at(epoch: float, ip: str, port: int) -> bytes:
    """A hook's line for a login at epoch (built from now: no fixed dates)."""
    when = time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(epoch))
    return login_line(ip=ip, when=when, extras="cport={} saddr=10.0.0.1 sport=22 tty=/dev/pts/0 hook=bash-profile "
                                               "epoch={:.0f}".format(port, epoch))


def stamp(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(epoch))


def position_of(log: Path, offset: int) -> Position:
    """The position at offset of log, as a check records it."""
    with open(str(log), "rb") as handle:
        status = os.fstat(handle.fileno())
        return Position(status.st_dev, status.st_ino, offset, anchor_at(handle, offset))


def lock_sign(paths: Paths) -> str:
    return "the lock file {} records a run".format(paths.lock_file)


def notices(store: Store) -> List[Tuple[str, Dict[str, Any]]]:
    """(event id, event) of every event stored."""
    return [(row[0], json.loads(row[1])) for row in store.connection.execute("SELECT event_id, body FROM events")]


@pytest.fixture
def quiet(paths: Paths) -> Paths:
    """HOME with a config whose mail server is never reached: posting a notice only queues it."""
    write_config(paths, smtp={"host": "127.0.0.1", "port": "9", "security": "none", "timeout": "1"})
    paths.state_dir.mkdir(parents=True, exist_ok=True)
    return paths


def test_the_notices_the_owner_reads_say_these_exact_words() -> None:
    assert [reset.RESET_SUBJECT.format(how=how) for how in (reset.MISSING, reset.EMPTY, reset.UNUSABLE)] == [
        "state was reset: the store was missing", "state was reset: the store was empty",
        "state was reset: the store was unusable"]
    assert reset.SINCE_MARK.format(when="W") == "the last position a check recorded outside the store (W)"
    assert reset.SINCE_WINDOW.format(when="W") == "W (the last 24 hours: no position survived)"
    assert reset.RESET_WINDOW == 86400.0
    assert reset.BASELINE_RESET == "baseline_reset"  # a meta key: a store written by an earlier version keeps it
    keys = {"SHA256:bbb": [{"type": "ssh-ed25519", "file": "/home/alice/.ssh/authorized_keys", "comment": "bob@x"}],
            "SHA256:aaa": [{"comment": ""}], "SHA256:ccc": []}
    assert reset.baseline_notice(keys, "the store was missing") == (
        "key watch baseline was reset",
        "The store was reset (the store was missing), so the key watch cannot tell which of these keys were added "
        "while it was gone; it takes them as its new baseline. Check that you know each one:\n"
        "  ? SHA256:aaa (?)\n"
        '  ssh-ed25519 SHA256:bbb (/home/alice/.ssh/authorized_keys) "bob@x"')
    assert reset.baseline_notice({}, "why")[1].endswith("Check that you know each one:\n  (no key found)")
    assert reset.Reset(reset.MISSING, [], None, "since") == (reset.MISSING, [], None, "since", "")


def test_each_sign_of_an_earlier_run_is_named_with_its_file_and_a_config_alone_is_none(paths: Paths) -> None:
    paths.state_dir.mkdir(parents=True, exist_ok=True)
    assert reset.earlier_run_signs(paths, {}) == []
    assert reset.earlier_run_signs(paths, {"seeded": True}) == [lock_sign(paths)]
    assert reset.earlier_run_signs(paths, {"position": [1, 2, 3, "a"]}) == [lock_sign(paths)]
    assert reset.earlier_run_signs(paths, {"seeded": False, "position": None}) == []

    logged = "the operations log {} records runs".format(paths.oplog_file)
    oplog.logger(paths.oplog_file).info("first run: 3 earlier login(s) in x skipped")
    assert reset.earlier_run_signs(paths, {}) == [logged]
    paths.oplog_file.unlink()
    oplog.logger(paths.oplog_file).info("sent: ssh login to web1 from 198.51.100.1")
    assert reset.earlier_run_signs(paths, {}) == [logged]
    paths.oplog_file.unlink()
    oplog.logger(paths.oplog_file).error("sending failed: first run and sent are not markers alone")
    assert reset.earlier_run_signs(paths, {}) == []


def test_hook_blocks_count_only_when_no_install_record_is_there(paths: Paths) -> None:
    paths.state_dir.mkdir(parents=True, exist_ok=True)
    (paths.home / ".ssh").mkdir(mode=0o700)
    (paths.home / ".ssh" / "rc").write_text(render_hook())
    (paths.home / ".bashrc").write_text(render_hook())
    hooks = "the login hooks (ssh-rc, bashrc) with no install record"
    assert reset.earlier_run_signs(paths, {}) == [hooks]
    record_path(paths).write_text(json.dumps({"format": RECORD_FORMAT, "seeded": False}))  # installed, never seeded
    assert reset.earlier_run_signs(paths, {}) == []
    record_path(paths).write_text(json.dumps({"format": RECORD_FORMAT}))
    assert reset.earlier_run_signs(paths, {"seeded": True}) == [
        lock_sign(paths), "the install record {}".format(record_path(paths))]
    record_path(paths).write_text("{damaged")
    assert reset.earlier_run_signs(paths, {}) == [hooks]


def test_without_a_kept_position_alerting_starts_at_the_first_line_of_the_last_24_hours(paths: Paths) -> None:
    now = float(int(time.time()))
    outside, inside = line_at(now - 86401, "192.0.2.1", 40001), line_at(now - 86400, "198.51.100.1", 40002)
    append_log(paths, outside, inside, line_at(now - 60, "198.51.100.2", 40003))
    found = reset.detect(paths, {"seeded": True}, reset.MISSING, now=now)
    assert found == reset.Reset(reset.MISSING, [lock_sign(paths)], position_of(paths.login_log, len(outside) + 1),
                                "{} (the last 24 hours: no position survived)".format(stamp(now - 86400)), "")
    assert reset.detect(paths, {}, reset.MISSING, now=now) is None  # no sign: a true first run


def test_a_last_line_still_being_written_is_alerted_and_a_log_of_old_lines_only_starts_at_its_end(
        paths: Paths) -> None:
    now = time.time()
    old = line_at(now - 3 * 86400, "192.0.2.1", 40001)
    append_log(paths, old)
    with open(str(paths.login_log), "ab") as handle:
        handle.write(line_at(now - 10, "198.51.100.3", 40002))  # no newline yet
    assert reset.start_since(paths.login_log, now - 86400) == position_of(paths.login_log, len(old) + 1)
    size = paths.login_log.stat().st_size
    assert reset.start_since(paths.login_log, now + 60) == position_of(paths.login_log, size)
    paths.login_log.unlink()
    assert reset.start_since(paths.login_log, now) is None


def test_a_kept_position_is_where_alerting_starts_and_the_notice_says_when_it_was_recorded(paths: Paths) -> None:
    paths.state_dir.mkdir(parents=True, exist_ok=True)
    now = time.time()
    recorded = now - 300
    mark = {"seeded": True, "position": [1, 2, 30, "anchor"], "time": recorded}
    assert reset.detect(paths, mark, reset.EMPTY, now=now) == reset.Reset(
        reset.EMPTY, [lock_sign(paths)], Position(1, 2, 30, "anchor"),
        "the last position a check recorded outside the store ({})".format(stamp(recorded)), "")
    ahead = {"position": [1, 2, 30, "anchor"], AHEAD: [1, 2, 90, "further"], "time": "bad"}
    assert reset.detect(paths, ahead, reset.MISSING, "why") == reset.Reset(
        reset.MISSING, [lock_sign(paths)], Position(1, 2, 90, "further"),
        "the last position a check recorded outside the store (time unknown)", "why")


def test_an_unusable_store_is_a_reset_even_without_another_sign(paths: Paths) -> None:
    paths.state_dir.mkdir(parents=True, exist_ok=True)
    now = time.time()
    assert reset.detect(paths, {AHEAD: [1, 2, 90, "further"], "time": now}, reset.UNUSABLE, "moved") == reset.Reset(
        reset.UNUSABLE, ["the unusable store itself"], Position(1, 2, 90, "further"),
        "the last position a check recorded outside the store ({})".format(stamp(now)), "moved")
    assert reset.detect(paths, {}, reset.UNUSABLE, now=now) == reset.Reset(
        reset.UNUSABLE, ["the unusable store itself"], None,
        "{} (the last 24 hours: no position survived)".format(stamp(now - 86400)), "")


def test_a_missing_store_after_a_run_posts_the_whole_notice_sets_the_position_and_logs_one_warning(
        quiet: Paths) -> None:
    now = time.time()
    first = line_at(now - 60, "198.51.100.4", 40001)
    append_log(quiet, first, line_at(now - 30, "198.51.100.5", 40002))
    mark = {"seeded": True, "position": list(position_of(quiet.login_log, len(first) + 1)), "time": now - 50}
    store = Store.open(quiet.store_file)
    try:
        assert reset.begin(quiet, store, mark, False, None) is True
        assert store.position() == position_of(quiet.login_log, len(first) + 1)
        assert store.get("baseline_reset") == "state was reset: the store was missing"
        [(_, event)] = notices(store)
        assert event["title"] == "ssh_alert on web1.example.com: state was reset: the store was missing"
        assert event["text"] == (
            "ssh_alert's store {} was missing, yet ssh_alert ran here before (the lock file {} records a run). If "
            "you did not remove it, someone with this account may have, to hide a login or a key.\n\n"
            "Logins recorded since the last position a check recorded outside the store ({}) are alerted again now "
            "(a repeat carries the Message-ID of its first alert). Which addresses are known, the history and the "
            "key watch's baseline start anew: the next cron run lists the authorized keys it finds as the new "
            "baseline.".format(quiet.store_file, quiet.lock_file, stamp(now - 50)))
        [(subject,)] = store.connection.execute("SELECT subject FROM outbox").fetchall()
        assert subject == "ssh_alert on web1.example.com: state was reset: the store was missing"
    finally:
        store.close()
    assert quiet.oplog_file.read_text().endswith(" state was reset: the store was missing\n")


def test_an_unusable_store_notice_and_warning_say_why_it_was_moved_aside(quiet: Paths) -> None:
    oplog.logger(quiet.oplog_file).info("sent: an earlier alert")
    store = Store.open(quiet.store_file)
    try:
        assert reset.begin(quiet, store, {}, True, "not a database; moved to store.db.unusable-1") is True
        [(_, event)] = notices(store)
        assert event["text"].startswith(
            "ssh_alert's store {} was unusable (not a database; moved to store.db.unusable-1), yet ssh_alert ran "
            "here before (the operations log {} records runs). If".format(quiet.store_file, quiet.oplog_file))
        assert store.position() is None  # no log yet: from its start
    finally:
        store.close()
    assert quiet.oplog_file.read_text().endswith(
        " state was reset: the store was unusable: not a database; moved to store.db.unusable-1\n")


def test_an_empty_store_with_signs_from_several_places_lists_them_all(quiet: Paths) -> None:
    oplog.logger(quiet.oplog_file).info("first run: 1 earlier login(s) in x skipped")
    store = Store.open(quiet.store_file)
    try:
        assert reset.begin(quiet, store, {"seeded": True}, True, None) is True
        [(_, event)] = notices(store)
        assert event["text"].startswith(
            "ssh_alert's store {} was empty, yet ssh_alert ran here before (the lock file {} records a run; the "
            "operations log {} records runs). If".format(quiet.store_file, quiet.lock_file, quiet.oplog_file))
    finally:
        store.close()


def test_a_true_first_run_posts_nothing_and_leaves_the_store_to_be_seeded(quiet: Paths) -> None:
    append_log(quiet, line_at(time.time(), "192.0.2.1", 40001))
    store = Store.open(quiet.store_file)
    try:
        assert reset.begin(quiet, store, {}, False, None) is False
        assert notices(store) == [] and store.position() is None and store.get("baseline_reset") is None
    finally:
        store.close()
    assert not quiet.oplog_file.exists() or "reset" not in quiet.oplog_file.read_text()


def test_the_notice_is_identified_by_how_and_when_the_store_was_lost(quiet: Paths,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "urandom", lambda count: b"\0" * count)  # the posting's random part, made known
    store = Store.open(quiet.store_file)
    try:
        parts = RunParts.of(quiet, store, load_config(quiet.config_file))
        reset.announce(parts, reset.Reset(reset.EMPTY, ["a sign"], None, "then"), now=1234.4)
        [(identity, event)] = notices(store)
        assert identity == event_id("reset|empty|1234|0000000000000000", "notice")
        assert "store {} was empty, yet".format(quiet.store_file) in event["text"]  # no reason: nothing between
    finally:
        store.close()
