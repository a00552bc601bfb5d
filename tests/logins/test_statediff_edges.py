"""The state diff at its edges: copytruncate, the truncated branch of plan, repeated connections."""

import os
import shutil
from pathlib import Path

import pytest

from helpers import numbered_line as line, position_at_end
from app.logins import statediff
from app.logins.loginlog import Position
from app.logins.statediff import FileFacts, Segment, decide, facts, is_repeat, plan, remember
from app.system.files import NotRegularFile

LOG = Path("/state/logins.log")
OLD = Path("/state/logins.log.1")
EPOCH = 1795607703.0  # 2026-11-25 11:55:03 UTC
CONNECTION = "203.0.113.7 51234 10.0.0.1 22"


def segments_of(found):  # type: ignore[no-untyped-def]
    segments, reason = found
    return reason, [(segment.path, segment.start) for segment in segments]


def read_segments(segments) -> bytes:  # type: ignore[no-untyped-def]
    data = b""
    for segment in segments:
        with open(str(segment.path), "rb") as handle:
            handle.seek(segment.start)
            data += handle.read()
    return data


def copytruncate(log: Path, copy: Path, then: bytes = b"") -> None:
    """What logrotate's copytruncate does: copy the log aside, truncate it in place (same inode)."""
    shutil.copyfile(str(log), str(copy))
    with open(str(log), "r+b") as handle:
        handle.truncate(0)
        handle.write(then)


# --- is_repeat and remember: one connection seen by several hooks -----------------------------------------

def test_is_repeat_within_the_window_before_or_after_is_the_same_login():
    recent = ((CONNECTION, EPOCH),)
    assert is_repeat(recent, CONNECTION, EPOCH)
    assert is_repeat(recent, CONNECTION, EPOCH + 1)
    assert is_repeat(recent, CONNECTION, EPOCH - 1)


def test_is_repeat_window_is_five_minutes_inclusive_on_both_sides():
    recent = ((CONNECTION, EPOCH),)
    assert is_repeat(recent, CONNECTION, EPOCH + 300)
    assert is_repeat(recent, CONNECTION, EPOCH - 300)
    assert not is_repeat(recent, CONNECTION, EPOCH + 301)
    assert not is_repeat(recent, CONNECTION, EPOCH - 301)


def test_is_repeat_needs_the_same_connection_not_just_a_close_time():
    recent = ((CONNECTION, EPOCH), ("198.51.100.1 40000 10.0.0.1 22", EPOCH))
    assert not is_repeat(recent, "203.0.113.7 51235 10.0.0.1 22", EPOCH)
    assert not is_repeat((), CONNECTION, EPOCH)
    assert is_repeat(recent, "198.51.100.1 40000 10.0.0.1 22", EPOCH + 10)


def test_is_repeat_finds_the_connection_anywhere_in_the_recent_list():
    recent = tuple(("198.51.100.{} 4000 10.0.0.1 22".format(number), EPOCH - 7200) for number in range(5))
    recent += ((CONNECTION, EPOCH - 7200), (CONNECTION, EPOCH - 100))
    assert is_repeat(recent, CONNECTION, EPOCH)
    assert not is_repeat(recent[:-1], CONNECTION, EPOCH)


def test_remember_appends_the_newest_and_keeps_the_newest_256():
    assert remember((), CONNECTION, EPOCH) == ((CONNECTION, EPOCH),)
    recent = tuple(("c{}".format(number), EPOCH + number) for number in range(256))
    kept = remember(recent, CONNECTION, EPOCH + 1000)
    assert len(kept) == 256
    assert kept[-1] == (CONNECTION, EPOCH + 1000)
    assert kept[0] == ("c1", EPOCH + 1)  # the oldest went


# --- facts ---------------------------------------------------------------------------------------------------

def test_facts_of_a_log_are_its_path_identity_and_size(tmp_path: Path):
    log = tmp_path / "logins.log"
    log.write_bytes(line(1))
    status = os.stat(str(log))
    assert facts(log) == FileFacts(log, status.st_dev, status.st_ino, len(line(1)))


def test_facts_of_a_missing_log_are_none_and_of_a_fifo_or_link_are_refused(tmp_path: Path):
    assert facts(tmp_path / "missing") is None
    os.mkfifo(str(tmp_path / "fifo"))
    with pytest.raises(NotRegularFile):
        facts(tmp_path / "fifo")
    (tmp_path / "real").write_bytes(line(1))
    os.symlink(str(tmp_path / "real"), str(tmp_path / "link"))
    with pytest.raises(NotRegularFile):
        facts(tmp_path / "link")


# --- decide: truncation and rewrites with the predecessor ------------------------------------------------------

def test_decide_truncated_log_with_its_copy_reads_the_rest_of_the_copy_then_the_log():
    position = Position(1, 10, 300, "anchor")
    found = decide(position, FileFacts(LOG, 1, 10, 50), False, FileFacts(OLD, 1, 12, 420))
    assert found == ((Segment(OLD, 300, 1, 12), Segment(LOG, 0, 1, 10)), "truncated")


def test_decide_rewritten_log_with_its_copy_reads_the_rest_of_the_copy_then_the_log():
    position = Position(1, 10, 300, "anchor")
    found = decide(position, FileFacts(LOG, 1, 10, 900), False, FileFacts(OLD, 1, 12, 420))
    assert found == ((Segment(OLD, 300, 1, 12), Segment(LOG, 0, 1, 10)), "rewritten")


def test_decide_truncated_to_empty_with_unread_copy_reads_only_the_copy():
    position = Position(1, 10, 300, "anchor")
    found = decide(position, FileFacts(LOG, 1, 10, 0), False, FileFacts(OLD, 1, 12, 420))
    assert found == ((Segment(OLD, 300, 1, 12),), "truncated")


def test_decide_truncated_to_empty_with_nothing_left_to_read_restarts_at_the_empty_log():
    position = Position(1, 10, 300, "anchor")
    assert decide(position, FileFacts(LOG, 1, 10, 0), False, None) == ((Segment(LOG, 0, 1, 10),), "truncated")
    assert decide(position, FileFacts(LOG, 1, 10, 0), False, FileFacts(OLD, 1, 12, 300)) == (
        (Segment(LOG, 0, 1, 10),), "truncated")


def test_decide_same_size_but_anchor_mismatch_is_a_rewrite_not_up_to_date():
    position = Position(1, 10, 300, "anchor")
    assert decide(position, FileFacts(LOG, 1, 10, 300), False, None) == ((Segment(LOG, 0, 1, 10),), "rewritten")


def test_decide_same_inode_on_another_device_is_a_rotation():
    position = Position(1, 10, 300, "anchor")
    assert decide(position, FileFacts(LOG, 2, 10, 900), True, None) == ((Segment(LOG, 0, 2, 10),), "rotated")


def test_decide_predecessor_one_byte_past_the_offset_is_still_read():
    position = Position(1, 10, 300, "anchor")
    segments, _ = decide(position, FileFacts(LOG, 1, 11, 90), True, FileFacts(OLD, 1, 10, 301))
    assert segments == (Segment(OLD, 300, 1, 10), Segment(LOG, 0, 1, 11))


# --- plan on real files: copytruncate ---------------------------------------------------------------------------

def test_plan_after_copytruncate_reads_the_predecessor_first(tmp_path: Path):
    log, copy = tmp_path / "logins.log", tmp_path / "logins.log.1"
    log.write_bytes(line(1) + line(2) + line(3))
    position = position_at_end(log)
    with open(str(log), "ab") as handle:
        handle.write(line(4))  # pending when logrotate copies the file
    copytruncate(log, copy, then=line(5))
    assert os.stat(str(log)).st_ino == position.inode
    segments, reason = plan(position, log)
    assert (reason, [(segment.path, segment.start) for segment in segments]) == (
        "truncated", [(copy, position.offset), (log, 0)])
    assert read_segments(segments) == line(4) + line(5)


def test_plan_after_copytruncate_and_regrowth_past_the_offset_still_reads_the_predecessor_first(tmp_path: Path):
    log, copy = tmp_path / "logins.log", tmp_path / "logins.log.1"
    log.write_bytes(line(1) + line(2))
    position = position_at_end(log)
    with open(str(log), "ab") as handle:
        handle.write(line(3))
    copytruncate(log, copy, then=b"".join(line(number, "mallory") for number in range(10, 14)))
    assert log.stat().st_size > position.offset
    segments, reason = plan(position, log)
    assert (reason, [(segment.path, segment.start) for segment in segments]) == (
        "rewritten", [(copy, position.offset), (log, 0)])
    assert read_segments(segments) == line(3) + b"".join(line(number, "mallory") for number in range(10, 14))


def test_plan_after_copytruncate_chooses_the_copy_whose_bytes_match_not_an_older_sibling(tmp_path: Path):
    log = tmp_path / "logins.log"
    (tmp_path / "logins.log.0").write_bytes(line(40) * 5)  # sorts first, long enough, other bytes
    log.write_bytes(line(1) + line(2))
    position = position_at_end(log)
    with open(str(log), "ab") as handle:
        handle.write(line(3))
    copytruncate(log, tmp_path / "logins.log.1", then=line(5))
    reason, segments = segments_of(plan(position, log))
    assert (reason, segments) == ("truncated", [(tmp_path / "logins.log.1", position.offset), (log, 0)])


def test_plan_after_copytruncate_with_nothing_new_reads_only_the_emptied_log(tmp_path: Path):
    log, copy = tmp_path / "logins.log", tmp_path / "logins.log.1"
    log.write_bytes(line(1) + line(2))
    position = position_at_end(log)
    copytruncate(log, copy)  # the copy ends at the position: nothing left in it
    assert segments_of(plan(position, log)) == ("truncated", [(log, 0)])


def test_plan_truncated_log_without_any_copy_reads_the_log_from_its_start(tmp_path: Path):
    log = tmp_path / "logins.log"
    log.write_bytes(line(1) + line(2))
    position = position_at_end(log)
    (tmp_path / "logins.log.1").write_bytes(line(30))  # too short to hold the alerted bytes
    with open(str(log), "r+b") as handle:
        handle.truncate(0)
        handle.write(line(3))
    assert segments_of(plan(position, log)) == ("truncated", [(log, 0)])


def test_plan_renamed_log_not_yet_recreated_reads_the_rest_of_the_renamed_file(tmp_path: Path):
    log, rotated = tmp_path / "logins.log", tmp_path / "logins.log.1"
    log.write_bytes(line(1))
    position = position_at_end(log)
    with open(str(log), "ab") as handle:
        handle.write(line(2))
    os.rename(str(log), str(rotated))
    segments, reason = plan(position, log)
    assert (reason, [(segment.path, segment.start) for segment in segments]) == (
        "rotated", [(rotated, position.offset)])
    assert read_segments(segments) == line(2)


def test_plan_looks_for_no_sibling_while_the_log_is_only_appended(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    log = tmp_path / "logins.log"
    log.write_bytes(line(1))
    position = position_at_end(log)
    with open(str(log), "ab") as handle:
        handle.write(line(2))
    monkeypatch.setattr(statediff, "find_predecessor", lambda *_: pytest.fail("siblings looked at"))
    assert segments_of(plan(position, log)) == ("appended", [(log, position.offset)])
    assert segments_of(plan(None, log)) == ("new log", [(log, 0)])


def test_plan_of_a_log_that_cannot_be_opened_now_reads_on_and_lets_the_read_report_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    log = tmp_path / "logins.log"
    log.write_bytes(line(1))
    position = position_at_end(log)
    with open(str(log), "ab") as handle:
        handle.write(line(2))

    def refuse(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(statediff, "open_regular_file", refuse)
    assert segments_of(plan(position, log)) == ("appended", [(log, position.offset)])


def test_plan_after_a_dateext_rotation_reads_the_rest_of_the_old_file(tmp_path: Path):
    log, rotated = tmp_path / "logins.log", tmp_path / "logins.log-20261125"
    log.write_bytes(line(1))
    position = position_at_end(log)
    with open(str(log), "ab") as handle:
        handle.write(line(2))
    os.rename(str(log), str(rotated))
    log.write_bytes(line(3))
    assert segments_of(plan(position, log)) == ("rotated", [(rotated, position.offset), (log, 0)])
