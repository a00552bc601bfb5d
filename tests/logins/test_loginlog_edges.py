"""The login log at its edges: the anchor format, line cuts, counting and tailing lines, finding the predecessor."""

import hashlib
import io
import os
import shutil
from pathlib import Path

from helpers import position_at_end
from app.logins.loginlog import (Position, anchor_at, count_lines_from, find_predecessor, position_at, read_entries,
                                   tail_lines)


def line(number: int) -> bytes:
    return "2026-11-25 11:55:{:02d} +0000 203.0.113.{} alice publickey cport=5{:04d}\n".format(
        number % 60, number % 250, number).encode()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


# --- the anchor: stored in every position, so its format must not change between releases ---------------------------

def test_the_anchor_is_the_first_32_hex_digits_of_the_sha256_of_the_64_bytes_before_the_offset():
    data = b"".join(line(number) for number in range(5))
    offset = len(line(0)) * 3
    assert anchor_at(io.BytesIO(data), offset) == sha(data[offset - 64:offset])


def test_the_anchor_near_the_start_hashes_every_byte_before_the_offset():
    data = line(1)
    assert anchor_at(io.BytesIO(data), 10) == sha(data[:10])
    assert anchor_at(io.BytesIO(data), 1) == sha(data[:1])
    assert anchor_at(io.BytesIO(data), 0) == sha(b"")


def test_the_anchor_depends_on_the_64_bytes_before_the_offset_and_on_nothing_earlier():
    data = bytearray(b"a" * 200)
    offset = 150
    before = anchor_at(io.BytesIO(bytes(data)), offset)
    data[offset - 65] = ord("b")  # outside the anchored bytes
    assert anchor_at(io.BytesIO(bytes(data)), offset) == before
    data[offset - 64] = ord("b")
    assert anchor_at(io.BytesIO(bytes(data)), offset) != before


def test_position_at_defaults_to_the_end_of_the_file_and_takes_an_offset(tmp_path: Path):
    log = tmp_path / "logins.log"
    log.write_bytes(line(1) + line(2))
    status = os.stat(str(log))
    with open(str(log), "rb") as handle:
        assert position_at(handle) == Position(status.st_dev, status.st_ino, status.st_size,
                                               sha((line(1) + line(2))[-64:]))
        assert position_at(handle, len(line(1))) == Position(status.st_dev, status.st_ino, len(line(1)),
                                                             sha(line(1)[-64:]))


def test_entry_anchors_read_from_a_start_near_the_beginning_match_the_anchor_there():
    data = b"ab\n" + line(1) + line(2)
    entries = list(read_entries(io.BytesIO(data), 3, include_partial=False))
    assert [entry.anchor for entry in entries] == [sha(data[:3 + len(line(1))][-64:]), sha(data[-64:])]


# --- cutting lines -------------------------------------------------------------------------------------------------

def test_an_entry_holds_at_most_8192_bytes_of_its_line():
    data = b"k" * 8192 + b"\n" + b"m" * 8193 + b"\n"
    entries = list(read_entries(io.BytesIO(data), 0, include_partial=False))
    assert [len(entry.data) for entry in entries] == [8192, 8192]
    assert [entry.end for entry in entries] == [8193, len(data)]


def test_only_the_newline_is_taken_off_an_entry():
    data = b"key=AAAAX\n" + b"trailing XX \n"
    assert [entry.data for entry in read_entries(io.BytesIO(data), 0, include_partial=False)] == [
        b"key=AAAAX", b"trailing XX "]


# --- count_lines_from ---------------------------------------------------------------------------------------------

def test_count_lines_from_counts_complete_lines_and_a_last_line_without_newline():
    assert count_lines_from(io.BytesIO(b""), 0) == 0
    assert count_lines_from(io.BytesIO(b"one\n"), 0) == 1
    assert count_lines_from(io.BytesIO(b"one\ntwo\n"), 0) == 2
    assert count_lines_from(io.BytesIO(b"one\ntwo"), 0) == 2
    assert count_lines_from(io.BytesIO(b"\n\n\n"), 0) == 3


def test_count_lines_from_starts_at_the_offset():
    data = line(1) + line(2) + line(3)
    assert count_lines_from(io.BytesIO(data), len(line(1))) == 2
    assert count_lines_from(io.BytesIO(data), len(data)) == 0


def test_count_lines_from_a_log_larger_than_one_read_counts_every_line():
    data = line(1) * 5000  # about 300 kB: several 64 kB blocks, lines cut across them
    assert len(data) > 4 * 65536
    assert count_lines_from(io.BytesIO(data), 0) == 5000
    assert count_lines_from(io.BytesIO(data + b"partial"), 0) == 5001


def test_count_lines_from_a_block_ending_just_after_a_newline_counts_the_next_partial_line():
    data = b"x" * 65535 + b"\n" + b"tail"
    assert count_lines_from(io.BytesIO(data), 0) == 2
    assert count_lines_from(io.BytesIO(b"x" * 65535 + b"\n"), 0) == 1


# --- tail_lines ----------------------------------------------------------------------------------------------------

def test_tail_lines_gives_the_last_lines_oldest_first(tmp_path: Path):
    log = tmp_path / "logins.log"
    log.write_bytes(b"".join(line(number) for number in range(10)))
    assert tail_lines(log, 3) == [line(7)[:-1], line(8)[:-1], line(9)[:-1]]
    assert tail_lines(log, 20) == [line(number)[:-1] for number in range(10)]


def test_tail_lines_cuts_each_line_to_8192_bytes(tmp_path: Path):
    log = tmp_path / "logins.log"
    log.write_bytes(b"w" * 10000 + b"\n" + line(1))
    assert tail_lines(log, 2) == [b"w" * 8192, line(1)[:-1]]


def test_tail_lines_of_a_log_larger_than_the_block_drops_the_cut_first_line(tmp_path: Path):
    log = tmp_path / "logins.log"
    log.write_bytes(b"".join(line(number) for number in range(3000)))  # about 180 kB
    assert tail_lines(log, 2) == [line(2998)[:-1], line(2999)[:-1]]
    assert tail_lines(log, 2, block=len(line(2999)) + 5) == [line(2999)[:-1]]


def test_tail_lines_of_a_missing_or_irregular_log_is_empty(tmp_path: Path):
    assert tail_lines(tmp_path / "missing", 5) == []
    os.mkfifo(str(tmp_path / "fifo"))
    assert tail_lines(tmp_path / "fifo", 5) == []
    assert tail_lines(tmp_path, 5) == []


# --- find_predecessor ----------------------------------------------------------------------------------------------

def test_find_predecessor_finds_the_renamed_log_by_its_inode_whatever_its_bytes(tmp_path: Path):
    log = tmp_path / "logins.log"
    log.write_bytes(line(1) + line(2))
    position = position_at_end(log)
    os.rename(str(log), str(tmp_path / "logins.log.1"))
    with open(str(tmp_path / "logins.log.1"), "r+b") as handle:
        handle.truncate(5)  # a rewrite after rotation: the inode still names it
    log.write_bytes(line(3))
    assert find_predecessor(log, position) == tmp_path / "logins.log.1"


def test_find_predecessor_finds_a_copy_whose_bytes_before_the_offset_match(tmp_path: Path):
    log = tmp_path / "logins.log"
    (tmp_path / "logins.log.0").write_bytes(line(8) * 4)  # sorts first: long enough, other bytes
    log.write_bytes(line(1) + line(2))
    position = position_at_end(log)
    shutil.copyfile(str(log), str(tmp_path / "logins.log.1"))  # exactly the offset long
    assert find_predecessor(log, position) == tmp_path / "logins.log.1"


def test_find_predecessor_ignores_a_copy_shorter_than_the_offset(tmp_path: Path):
    log = tmp_path / "logins.log"
    log.write_bytes(line(1) + line(2))
    position = position_at_end(log)
    (tmp_path / "logins.log.1").write_bytes((line(1) + line(2))[:-1])
    assert find_predecessor(log, position) is None


def test_find_predecessor_never_matches_content_for_a_position_at_the_start(tmp_path: Path):
    log = tmp_path / "logins.log"
    log.write_bytes(b"")
    position = position_at_end(log)  # offset 0: every file "matches" the empty bytes before it
    (tmp_path / "logins.log.1").write_bytes(line(1))
    assert find_predecessor(log, position) is None


def test_find_predecessor_looks_only_at_siblings_named_after_the_log_and_a_dot(tmp_path: Path):
    log = tmp_path / "logins.log"
    log.write_bytes(line(1) + line(2))
    position = position_at_end(log)
    shutil.copyfile(str(log), str(tmp_path / "other.log.1"))
    shutil.copyfile(str(log), str(tmp_path / "logins.logX"))
    assert find_predecessor(log, position) is None


def test_find_predecessor_skips_siblings_that_are_not_regular_files_and_goes_on(tmp_path: Path):
    log = tmp_path / "logins.log"
    log.write_bytes(line(1) + line(2))
    position = position_at_end(log)
    os.mkfifo(str(tmp_path / "logins.log.0"))
    os.symlink(str(log), str(tmp_path / "logins.log.1"))  # a link to the log itself: refused
    shutil.copyfile(str(log), str(tmp_path / "logins.log.2"))
    assert find_predecessor(log, position) == tmp_path / "logins.log.2"


def test_find_predecessor_of_a_missing_directory_is_none(tmp_path: Path):
    assert find_predecessor(tmp_path / "gone" / "logins.log", Position(1, 2, 3, "x")) is None


def test_find_predecessor_matches_a_copy_for_a_position_one_byte_into_the_log(tmp_path: Path):
    log = tmp_path / "logins.log"
    log.write_bytes(b"\n")  # an empty first line: the position is at offset 1
    position = position_at_end(log)
    assert position.offset == 1
    shutil.copyfile(str(log), str(tmp_path / "logins.log.1"))
    with open(str(log), "r+b") as handle:
        handle.truncate(0)
    assert find_predecessor(log, position) == tmp_path / "logins.log.1"
