"""Which part of the login log is still to alert, across appends, truncation, rewrites and rotation."""

import io
import os
import tracemalloc
from pathlib import Path

import pytest

from helpers import position_at_end
from app.logins import loginlog
from app.logins.loginlog import MAX_LINE, Position, anchor_at, read_entries
from app.logins.statediff import FileFacts, Segment, decide, plan

LOG = Path("/state/logins.log")
OLD = Path("/state/logins.log.1")


def line(number: int, user: str = "alice") -> bytes:
    return "2026-11-25 11:55:{:02d} +0000 203.0.113.{} {} publickey cport=5{:04d}\n".format(
        number % 60, number % 250, user, number).encode()


# --- decide: the pure cases --------------------------------------------------------------------------

def test_decide_first_run_without_position_reads_the_whole_log() -> None:
    log = FileFacts(LOG, 1, 10, 500)
    assert decide(None, log, True, None) == ((Segment(LOG, 0, 1, 10),), "new log")


def test_decide_first_run_with_an_empty_log_reads_nothing() -> None:
    assert decide(None, FileFacts(LOG, 1, 10, 0), True, None) == ((), "new log")


def test_decide_appended_log_reads_from_the_stored_offset() -> None:
    position = Position(1, 10, 300, "anchor")
    assert decide(position, FileFacts(LOG, 1, 10, 500), True, None) == ((Segment(LOG, 300, 1, 10),), "appended")


def test_decide_up_to_date_log_reads_nothing() -> None:
    position = Position(1, 10, 500, "anchor")
    assert decide(position, FileFacts(LOG, 1, 10, 500), True, None) == ((), "up to date")


def test_decide_truncated_log_reads_from_the_start() -> None:
    position = Position(1, 10, 500, "anchor")
    assert decide(position, FileFacts(LOG, 1, 10, 120), True, None) == ((Segment(LOG, 0, 1, 10),), "truncated")


def test_decide_rewritten_log_with_anchor_mismatch_reads_from_the_start() -> None:
    position = Position(1, 10, 300, "anchor")
    assert decide(position, FileFacts(LOG, 1, 10, 800), False, None) == ((Segment(LOG, 0, 1, 10),), "rewritten")


def test_decide_rotated_log_with_old_file_found_reads_rest_of_old_then_new_from_start() -> None:
    position = Position(1, 10, 300, "anchor")
    segments, reason = decide(position, FileFacts(LOG, 1, 11, 90), True, FileFacts(OLD, 1, 10, 420))
    assert reason == "rotated"
    assert segments == (Segment(OLD, 300, 1, 10), Segment(LOG, 0, 1, 11))


def test_decide_rotated_log_whose_old_file_was_fully_alerted_reads_only_the_new_file() -> None:
    position = Position(1, 10, 300, "anchor")
    segments, _ = decide(position, FileFacts(LOG, 1, 11, 90), True, FileFacts(OLD, 1, 10, 300))
    assert segments == (Segment(LOG, 0, 1, 11),)


def test_decide_rotated_log_with_old_file_gone_reads_the_new_file_from_start() -> None:
    position = Position(1, 10, 300, "anchor")
    assert decide(position, FileFacts(LOG, 1, 11, 90), True, None) == ((Segment(LOG, 0, 1, 11),), "rotated")


def test_decide_rotated_log_with_new_file_not_created_yet_reads_the_rest_of_the_old_file() -> None:
    position = Position(1, 10, 300, "anchor")
    assert decide(position, None, True, FileFacts(OLD, 1, 10, 420)) == ((Segment(OLD, 300, 1, 10),), "rotated")


def test_decide_without_any_log_reads_nothing() -> None:
    assert decide(None, None, True, None) == ((), "no log")
    assert decide(Position(1, 10, 300, "anchor"), None, True, None) == ((), "no log")


# --- plan: the same cases on real files ----------------------------------------------------------------

def test_plan_appended_lines_are_read_from_the_stored_offset(tmp_path: Path) -> None:
    log = tmp_path / "logins.log"
    log.write_bytes(line(1) + line(2))
    position = position_at_end(log)
    assert plan(position, log) == ((), "up to date")
    with open(str(log), "ab") as handle:
        handle.write(line(3))
    segments, reason = plan(position, log)
    assert reason == "appended"
    assert [segment.start for segment in segments] == [position.offset]
    with open(str(log), "rb") as handle:
        entries = list(read_entries(handle, segments[0].start, include_partial=False))
    assert [entry.data + b"\n" for entry in entries] == [line(3)]


def test_plan_without_position_reads_the_whole_log(tmp_path: Path) -> None:
    log = tmp_path / "logins.log"
    log.write_bytes(line(1))
    segments, reason = plan(None, log)
    assert (reason, [(segment.path, segment.start) for segment in segments]) == ("new log", [(log, 0)])


def test_plan_missing_log_reads_nothing(tmp_path: Path) -> None:
    assert plan(None, tmp_path / "logins.log") == ((), "no log")


def test_plan_truncated_log_is_read_from_the_start(tmp_path: Path) -> None:
    log = tmp_path / "logins.log"
    log.write_bytes(line(1) + line(2) + line(3))
    position = position_at_end(log)
    with open(str(log), "r+b") as handle:
        handle.truncate(0)
        handle.write(line(4))
    segments, reason = plan(position, log)
    assert reason == "truncated"
    assert [segment.start for segment in segments] == [0]


def test_plan_truncated_and_regrown_past_the_offset_is_detected_by_the_anchor(tmp_path: Path) -> None:
    log = tmp_path / "logins.log"
    log.write_bytes(line(1) + line(2) + line(3))
    position = position_at_end(log)
    inode = os.stat(str(log)).st_ino
    with open(str(log), "r+b") as handle:  # same inode: truncated in place, then five other lines
        handle.truncate(0)
        handle.write(b"".join(line(number, "mallory") for number in range(10, 15)))
    assert os.stat(str(log)).st_ino == inode
    assert os.stat(str(log)).st_size > position.offset
    segments, reason = plan(position, log)
    assert reason == "rewritten"
    assert segments == (Segment(log, 0, position.device, inode),)


def test_plan_renamed_log_and_new_file_reads_rest_of_old_then_new(tmp_path: Path) -> None:
    log = tmp_path / "logins.log"
    log.write_bytes(line(1) + line(2))
    position = position_at_end(log)
    with open(str(log), "ab") as handle:
        handle.write(line(3))
    rotated = tmp_path / "logins.log.1"
    os.rename(str(log), str(rotated))
    log.write_bytes(line(4))
    segments, reason = plan(position, log)
    assert reason == "rotated"
    assert [(segment.path, segment.start) for segment in segments] == [(rotated, position.offset), (log, 0)]
    read = []
    for segment in segments:
        with open(str(segment.path), "rb") as handle:
            read += [entry.data + b"\n" for entry in read_entries(handle, segment.start, include_partial=False)]
    assert read == [line(3), line(4)]


def test_plan_renamed_log_whose_old_copy_was_deleted_reads_the_new_file(tmp_path: Path) -> None:
    log = tmp_path / "logins.log"
    log.write_bytes(line(1) + line(2))
    position = position_at_end(log)
    keep = tmp_path / "elsewhere"
    os.rename(str(log), str(keep))  # keeps the inode alive, so the new log cannot reuse it
    log.write_bytes(line(3))
    segments, reason = plan(position, log)
    assert (reason, [(segment.path, segment.start) for segment in segments]) == ("rotated", [(log, 0)])


# --- loginlog.read_entries ----------------------------------------------------------------------------

def test_read_entries_yields_complete_lines_with_their_end_offsets() -> None:
    data = line(1) + line(2) + line(3)
    entries = list(read_entries(io.BytesIO(data), 0, include_partial=False))
    assert [entry.data for entry in entries] == [line(1)[:-1], line(2)[:-1], line(3)[:-1]]
    assert [entry.end for entry in entries] == [len(line(1)), len(line(1) + line(2)), len(data)]


def test_read_entries_from_an_offset_starts_at_that_line() -> None:
    data = line(1) + line(2) + line(3)
    entries = list(read_entries(io.BytesIO(data), len(line(1)), include_partial=False))
    assert [entry.data for entry in entries] == [line(2)[:-1], line(3)[:-1]]


def test_read_entries_holds_back_a_trailing_partial_line() -> None:
    data = line(1) + b"2026-11-25 11:55:03 +0000 203.0.113.7 al"
    entries = list(read_entries(io.BytesIO(data), 0, include_partial=False))
    assert [entry.end for entry in entries] == [len(line(1))]


def test_read_entries_includes_a_trailing_partial_line_when_asked() -> None:
    data = line(1) + b"2026-11-25 11:55:03 +0000 203.0.113.7 al"
    entries = list(read_entries(io.BytesIO(data), 0, include_partial=True))
    assert [entry.data for entry in entries] == [line(1)[:-1], b"2026-11-25 11:55:03 +0000 203.0.113.7 al"]
    assert entries[-1].end == len(data)


def test_read_entries_one_megabyte_line_is_one_cut_entry_followed_by_the_next_line() -> None:
    long_line = b"x" * (1 << 20) + b"\n"
    data = line(1) + long_line + line(2)
    entries = list(read_entries(io.BytesIO(data), 0, include_partial=False))
    assert len(entries) == 3
    assert entries[1].data == b"x" * MAX_LINE
    assert entries[1].end == len(line(1) + long_line)
    assert entries[2].data == line(2)[:-1]
    assert entries[2].end == len(data)


@pytest.mark.parametrize("length", [MAX_LINE - 1, MAX_LINE, MAX_LINE + 1])
def test_read_entries_lines_around_max_line_keep_their_end_offsets(length: int) -> None:
    data = b"y" * length + b"\n" + line(1)
    entries = list(read_entries(io.BytesIO(data), 0, include_partial=False))
    assert [entry.end for entry in entries] == [length + 1, len(data)]
    assert entries[0].data == b"y" * min(length, MAX_LINE)


def test_read_entries_over_long_partial_line_is_held_back() -> None:
    data = line(1) + b"z" * (3 * MAX_LINE)
    assert [entry.end for entry in read_entries(io.BytesIO(data), 0, include_partial=False)] == [len(line(1))]


def test_read_entries_memory_stays_bounded_for_a_five_megabyte_line(tmp_path: Path) -> None:
    log = tmp_path / "logins.log"
    with open(str(log), "wb") as handle:
        handle.write(line(1))
        for _ in range(5):
            handle.write(b"m" * (1 << 20))
        handle.write(b"\n" + line(2))
    with open(str(log), "rb") as handle:
        tracemalloc.start()
        try:
            ends = [(len(entry.data), entry.end) for entry in read_entries(handle, 0, include_partial=False)]
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 1 << 20
    assert ends == [(len(line(1)) - 1, len(line(1))), (MAX_LINE, len(line(1)) + (5 << 20) + 1),
                    (len(line(2)) - 1, log.stat().st_size)]


def test_read_entries_anchor_equals_anchor_at_the_entry_end(tmp_path: Path) -> None:
    log = tmp_path / "logins.log"
    log.write_bytes(line(1) + b"s\n" + b"L" * (3 * MAX_LINE) + b"\n" + line(2) + b"\n" + line(3))
    with open(str(log), "rb") as handle:
        entries = list(read_entries(handle, 0, include_partial=False))
    with open(str(log), "rb") as handle:
        from_middle = list(read_entries(handle, entries[1].end, include_partial=False))
    assert from_middle == entries[2:]
    with open(str(log), "rb") as handle:
        for entry in entries:
            assert entry.anchor == anchor_at(handle, entry.end)


def test_anchor_at_differs_when_the_bytes_before_the_offset_differ() -> None:
    first = loginlog.anchor_at(io.BytesIO(line(1) + line(2)), len(line(1)))
    second = loginlog.anchor_at(io.BytesIO(line(3) + line(2)), len(line(1)))
    assert first != second
