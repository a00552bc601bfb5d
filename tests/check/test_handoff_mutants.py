"""The hook's hand-off at its edges (app.check.handoff): the fork that lets the login go on after at most the wait or
at the child's word, the release told once, and the small files the shell hook reads without Python (the wait,
the record_command flag, the waited list), which are never written into a directory another user could change."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.check import handoff
from app.check.handoff import DEFAULT_WAIT, MAX_WAIT, WAITED_KEPT, WAITED_TRIM_BYTES, HandOff

ROOT = Path(__file__).resolve().parents[2]


# --- the wait ------------------------------------------------------------------------------------------------------

def test_the_wait_is_three_seconds_by_default_and_at_most_thirty() -> None:
    assert (DEFAULT_WAIT, MAX_WAIT) == (3.0, 30.0)
    assert handoff.parse_wait("30.5") == 30.0 and handoff.parse_wait("29.5") == 29.5
    assert handoff.parse_wait("inf") == 30.0 and handoff.parse_wait("-inf") == 0.0


# --- the release ----------------------------------------------------------------------------------------------------

def test_a_connection_is_compared_with_its_blanks_collapsed() -> None:
    read_end, write_end = os.pipe()
    released = HandOff("  198.51.100.1\t40000  10.0.0.1 22 ", write_end)
    assert released.connection == "198.51.100.1 40000 10.0.0.1 22"
    released.progress(["198.51.100.1 40000 10.0.0.1 22"])
    assert os.read(read_end, 8) == b"1"
    os.close(read_end)


def test_the_release_writes_one_byte_once_and_closes_the_pipe() -> None:
    read_end, write_end = os.pipe()
    released = HandOff("198.51.100.1 40000 10.0.0.1 22", write_end)
    released.settle()
    released.settle()
    assert os.read(read_end, 8) == b"1" and os.read(read_end, 8) == b""  # one byte, then end of file: closed
    os.close(read_end)


def test_a_release_after_the_hook_stopped_waiting_is_quiet_and_still_closes() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the hook's wait ended
    released = HandOff("198.51.100.1 40000 10.0.0.1 22", write_end)
    released.settle()
    assert released.descriptor is None
    with pytest.raises(OSError):
        os.fstat(write_end)


def test_without_a_waiting_hook_nothing_is_released() -> None:
    assert handoff.NO_HANDOFF.lock is None and handoff.NO_HANDOFF.descriptor is None
    handoff.NO_HANDOFF.progress([""])
    handoff.NO_HANDOFF.settle()


# --- the fork -------------------------------------------------------------------------------------------------------

FORK = """
import os, sys, time
sys.path.insert(0, {root!r})
from app.check.handoff import fork_for_hook
report = {report!r}
released = fork_for_hook(float(sys.argv[1]), "198.51.100.1 40000 10.0.0.1 22")
with open(report, "w") as handle:  # only the child gets here: the parent exits in fork_for_hook
    handle.write("{{}} {{}}".format(os.getsid(0) == os.getpid(), os.getpid()))
if sys.argv[2] == "release":
    released.progress(["198.51.100.1 40000 10.0.0.1 22"])
time.sleep(float(sys.argv[3]))
"""


def forked(tmp_path: Path, wait: float, action: str, child_lives: float) -> float:
    """Run fork_for_hook in a fresh process: how long its parent (the hook's process) took to exit 0."""
    report = tmp_path / "child"
    script = tmp_path / "fork.py"
    script.write_text(FORK.format(root=str(ROOT), report=str(report)))
    errors = tmp_path / "stderr"
    with open(str(errors), "wb") as stderr:
        started = time.monotonic()
        parent = subprocess.Popen([sys.executable, str(script), str(wait), action, str(child_lives)],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)
        returncode = parent.wait(timeout=60)
        took = time.monotonic() - started
    deadline = time.monotonic() + 20
    while not (report.exists() and report.read_text()):
        assert time.monotonic() < deadline, "the child never ran: " + errors.read_text()
        time.sleep(0.01)
    leader, child = report.read_text().split()
    try:
        os.kill(int(child), signal.SIGKILL)
    except ProcessLookupError:
        pass  # it ended
    assert (returncode, errors.read_bytes()) == (0, b"")
    assert leader == "True"  # the child left the session: closing it does not signal the check
    return took


def test_the_hook_goes_on_at_the_childs_word_long_before_its_wait(tmp_path: Path) -> None:
    assert forked(tmp_path, 25.0, "release", 30.0) < 20.0


def test_the_hook_goes_on_after_its_wait_while_the_child_keeps_running(tmp_path: Path) -> None:
    took = forked(tmp_path, 1.0, "hold", 30.0)
    assert 1.0 <= took < 20.0


def test_the_hook_goes_on_when_the_child_ends_without_a_word(tmp_path: Path) -> None:
    assert forked(tmp_path, 25.0, "hold", 0.0) < 20.0


def test_with_a_wait_of_zero_the_hook_goes_on_at_once(tmp_path: Path) -> None:
    assert forked(tmp_path, 0.0, "hold", 30.0) < 20.0


# --- the files the shell hook reads ----------------------------------------------------------------------------------

def test_the_wait_file_holds_the_seconds_as_the_shell_reads_them_and_is_rewritten_only_on_change(
        tmp_path: Path) -> None:
    wait_file = tmp_path / "hook_wait"
    handoff.sync_hook_wait(wait_file, 2.5)
    assert wait_file.read_text() == "2.5\n" and wait_file.stat().st_mode & 0o777 == 0o600
    before = wait_file.stat().st_ino
    handoff.sync_hook_wait(wait_file, 2.5)
    assert wait_file.stat().st_ino == before  # unchanged: not written again
    handoff.sync_hook_wait(wait_file, 3.0)
    assert wait_file.read_text() == "3\n"


def test_a_fifo_where_the_wait_file_should_be_is_replaced_without_being_read(tmp_path: Path) -> None:
    wait_file = tmp_path / "hook_wait"
    os.mkfifo(str(wait_file))
    handoff.sync_hook_wait(wait_file, 3.0)
    assert wait_file.read_text() == "3\n"


def test_no_file_is_written_into_a_directory_others_can_write(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    handoff.sync_hook_wait(shared / "hook_wait", 3.0)
    handoff.sync_record_command(shared / "record_command", True)
    assert list(shared.iterdir()) == []


def test_the_record_command_flag_follows_the_setting(tmp_path: Path) -> None:
    flag = tmp_path / "record_command"
    handoff.sync_record_command(flag, True)
    assert flag.read_bytes() == b"yes\n" and flag.stat().st_mode & 0o777 == 0o600
    before = flag.stat().st_ino
    handoff.sync_record_command(flag, True)
    assert flag.stat().st_ino == before
    handoff.sync_record_command(flag, False)
    assert not os.path.lexists(str(flag))
    handoff.sync_record_command(flag, False)  # already off: nothing to do
    assert not os.path.lexists(str(flag))


def test_a_flag_that_is_a_dangling_link_counts_as_present(tmp_path: Path) -> None:
    flag = tmp_path / "record_command"
    flag.symlink_to(tmp_path / "nowhere")
    handoff.sync_record_command(flag, False)
    assert not os.path.lexists(str(flag))


def test_the_waited_file_is_left_alone_up_to_its_size_and_trimmed_beyond(tmp_path: Path) -> None:
    waited = tmp_path / "waited"
    line = "198.51.100.1 40000 10.0.0.1 22 1795640700\n"
    text = (line * (WAITED_TRIM_BYTES // len(line) + 1))[:WAITED_TRIM_BYTES]
    waited.write_text(text)
    handoff.trim_waited(waited)
    assert waited.read_text() == text  # exactly the size: left alone
    waited.write_text("".join("198.51.100.1 {} 10.0.0.1 22 1795640700\n".format(number) for number in range(500)))
    handoff.trim_waited(waited)
    lines = waited.read_text().splitlines()
    assert lines == ["198.51.100.1 {} 10.0.0.1 22 1795640700".format(number) for number in range(500 - WAITED_KEPT,
                                                                                                    500)]
    assert waited.stat().st_mode & 0o777 == 0o600 and sorted(path.name for path in tmp_path.iterdir()) == ["waited"]


def test_a_waited_file_of_a_few_long_lines_keeps_only_whole_ones(tmp_path: Path) -> None:
    waited = tmp_path / "waited"
    waited.write_bytes(b"a" * WAITED_TRIM_BYTES + b"\n" + b"b" * 100 + b"\n" + b"c" * 100 + b"\n")
    handoff.trim_waited(waited)
    assert waited.read_bytes() == b"b" * 100 + b"\n" + b"c" * 100 + b"\n"  # the cut line is dropped


def test_a_missing_waited_file_is_no_error(tmp_path: Path) -> None:
    handoff.trim_waited(tmp_path / "waited")
    assert not (tmp_path / "waited").exists()


def test_the_waited_file_is_trimmed_past_16_kib_to_its_last_64_connections(tmp_path: Path) -> None:
    waited = tmp_path / "waited"
    lines = ["{:<97} {}".format("198.51.100.1 {} 10.0.0.1 22".format(number), number % 10) for number in range(300)]
    text = "".join(line + "\n" for line in lines)  # 100-byte lines: half of 16 KiB holds 81 of them
    waited.write_text(text[:16384])
    handoff.trim_waited(waited)
    assert len(waited.read_bytes()) == 16384  # 16 KiB exactly: left alone
    waited.write_text(text[:16500])  # 165 lines, just past 16 KiB: the last 64 are kept
    handoff.trim_waited(waited)
    assert waited.read_text().splitlines() == lines[101:165]
    waited.write_text(text)
    handoff.trim_waited(waited)
    assert waited.read_text().splitlines() == lines[-64:]


def test_a_link_planted_where_the_trim_writes_its_copy_is_not_followed(tmp_path: Path) -> None:
    waited, target = tmp_path / "waited", tmp_path / "elsewhere"
    waited.write_text("".join("198.51.100.1 {} 10.0.0.1 22 1795640700\n".format(number) for number in range(500)))
    target.write_text("not the hook's\n")
    os.symlink(str(target), "{}.{}.tmp".format(waited, os.getpid()))
    before = waited.read_text()
    handoff.trim_waited(waited)
    assert target.read_text() == "not the hook's\n" and waited.read_text() == before and not waited.is_symlink()
