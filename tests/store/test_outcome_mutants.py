"""The last check's outcome file (app.store.outcome), pinned where `make mutation` found it unpinned: its name, mode
and fixed size, rewritten in place and never through a symbolic link or into a directory that is not ours; the
reason's cut; when a success is written (after a failure, when the file is missing, when the operational log moved)
and when a quiet run only reads; what a corrupt, short or missing file reads as; and the exact lines status shows
when run_lines merges it with the store's runs table. Times are built from "now"."""

import json
import os
import stat
import time
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import pytest

from app.store.outcome import (NOT_RESOLVED, OUTCOME_BYTES, REASON_CHARS, RESOLVED, RUN_FAILED, Outcome, note_outcome,
                               outcome_path, read_outcome, run_lines)
from app.store.rows import Run
from app.store.store import Store

NOW = time.time()
SHOWN = "%Y-%m-%d %H:%M:%S %z"  # how status shows a time
LOGGED = "%Y-%m-%dT%H:%M:%S%z"  # how the operational log writes one


@pytest.fixture
def state(tmp_path: Path) -> Path:
    directory = tmp_path / "state"
    directory.mkdir(mode=0o700)
    return directory


@pytest.fixture
def store(state: Path) -> Iterator[Store]:
    opened = Store.open(state / "store.db")
    yield opened
    opened.close()


def raw(state: Path) -> bytes:
    return outcome_path(state).read_bytes()


def record(state: Path) -> object:
    return json.loads(raw(state).decode("ascii"))


def write_raw(state: Path, data: bytes) -> None:
    path = outcome_path(state)
    path.write_bytes(data)
    os.chmod(str(path), 0o600)


def shown(epoch: float) -> str:
    return time.strftime(SHOWN, time.localtime(epoch))


def logged_text(epoch: float) -> str:
    return time.strftime(LOGGED, time.localtime(epoch))


# --- the file ---------------------------------------------------------------------------------------------


def test_the_outcome_file_is_check_outcome_in_the_state_directory(state: Path) -> None:
    assert outcome_path(state) == state / "check.outcome"
    note_outcome(state, "boom", now=NOW)
    assert sorted(os.listdir(str(state))) == ["check.outcome"]


def test_a_failure_is_a_json_record_padded_with_spaces_to_512_bytes_mode_0600(state: Path) -> None:
    previous = os.umask(0)  # the mode comes from the open call itself, not from a umask that happens to hide bits
    try:
        note_outcome(state, "delivery failed: connection refused", now=NOW)
    finally:
        os.umask(previous)
    data = raw(state)
    assert len(data) == OUTCOME_BYTES == 512
    text = data.rstrip(b" ")
    assert data == text + b" " * (512 - len(text))
    assert json.loads(text.decode("ascii")) == {"ok": None, "failed": NOW, "reason": "delivery failed: connection refused"}
    assert stat.S_IMODE(outcome_path(state).stat().st_mode) == 0o600


def test_a_success_when_the_file_is_missing_records_when_with_no_failure(state: Path) -> None:
    note_outcome(state, None, now=NOW)
    assert record(state) == {"ok": NOW, "failed": None, "reason": ""}
    assert read_outcome(state) == Outcome(NOW, None, "")


def test_the_time_is_now_when_none_is_given(state: Path) -> None:
    before = time.time()
    note_outcome(state, "boom")
    after = time.time()
    outcome = read_outcome(state)
    assert outcome is not None and outcome.ok is None and outcome.failed is not None
    assert before <= outcome.failed <= after
    note_outcome(state, None)
    outcome = read_outcome(state)
    assert outcome is not None and outcome.ok is not None and after <= outcome.ok <= time.time()


def test_a_success_after_a_failure_keeps_the_failure_and_its_reason(state: Path) -> None:
    note_outcome(state, "boom", now=NOW - 60)
    note_outcome(state, None, now=NOW)
    assert record(state) == {"ok": NOW, "failed": NOW - 60, "reason": "boom"}


def test_a_failure_after_a_success_keeps_the_success(state: Path) -> None:
    note_outcome(state, None, now=NOW - 60)
    note_outcome(state, "boom", now=NOW)
    assert record(state) == {"ok": NOW - 60, "failed": NOW, "reason": "boom"}


def test_the_file_is_rewritten_in_place_at_its_start(state: Path) -> None:
    note_outcome(state, "x" * REASON_CHARS, now=NOW - 60)
    inode = outcome_path(state).stat().st_ino
    note_outcome(state, "short", now=NOW)
    assert outcome_path(state).stat().st_ino == inode and len(raw(state)) == 512
    assert raw(state).startswith(b"{") and read_outcome(state) == Outcome(None, NOW, "short")


def test_a_reason_is_cut_at_400_characters(state: Path) -> None:
    reason = "".join(chr(ord("a") + number % 26) for number in range(REASON_CHARS + 50))
    note_outcome(state, reason, now=NOW)
    outcome = read_outcome(state)
    assert REASON_CHARS == 400 and outcome is not None and outcome.reason == reason[:400]
    note_outcome(state, reason[:400], now=NOW)
    assert read_outcome(state) == Outcome(None, NOW, reason[:400])


def test_a_reason_outside_ascii_is_recorded_escaped(state: Path) -> None:
    note_outcome(state, "no such file: /home/jürgen/.ssh/authorized_keys ✓", now=NOW)
    assert raw(state).isascii() and b"\\u00fc" in raw(state)
    assert read_outcome(state) == Outcome(None, NOW, "no such file: /home/jürgen/.ssh/authorized_keys ✓")


# --- when a success is written ----------------------------------------------------------------------------


def test_a_quiet_success_leaves_the_file_as_it_was(state: Path) -> None:
    note_outcome(state, None, now=NOW - 60)
    before = raw(state)
    note_outcome(state, None, now=NOW)
    assert raw(state) == before
    note_outcome(state, None, state / "missing.log", now=NOW)  # no operational log yet: nothing changed
    assert raw(state) == before


def test_a_success_after_a_resolved_failure_writes_nothing(state: Path) -> None:
    note_outcome(state, "boom", now=NOW - 120)
    note_outcome(state, None, now=NOW - 60)
    before = raw(state)
    note_outcome(state, None, now=NOW)
    assert raw(state) == before


def test_a_success_at_the_same_instant_as_the_failure_counts_as_resolved(state: Path) -> None:
    write_raw(state, json.dumps({"ok": NOW - 60, "failed": NOW - 60, "reason": "boom"}).encode().ljust(512))
    before = raw(state)
    note_outcome(state, None, now=NOW)
    assert raw(state) == before


def test_a_success_after_an_unresolved_failure_is_written(state: Path) -> None:
    write_raw(state, json.dumps({"ok": NOW - 61, "failed": NOW - 60, "reason": "boom"}).encode().ljust(512))
    note_outcome(state, None, now=NOW)
    assert read_outcome(state) == Outcome(NOW, NOW - 60, "boom")


def test_a_record_without_times_is_no_failure_so_a_success_writes_nothing(state: Path) -> None:
    write_raw(state, b'{"reason": "old"}'.ljust(512))
    before = raw(state)
    note_outcome(state, None, now=NOW)
    assert raw(state) == before


def test_a_success_after_a_failure_never_followed_by_one_is_written(state: Path) -> None:
    note_outcome(state, "boom", now=NOW - 60)
    note_outcome(state, None, now=NOW)
    assert read_outcome(state) == Outcome(NOW, NOW - 60, "boom")


def test_a_success_is_written_when_the_operational_log_changed_since_the_last_one(state: Path) -> None:
    log_file = state / "ssh_alert.log"
    log_file.write_text("error\n")
    note_outcome(state, None, now=NOW - 60)
    os.utime(str(log_file), (NOW - 120, NOW - 120))  # older than the last success: quiet
    before = raw(state)
    note_outcome(state, None, log_file, now=NOW - 30)
    assert raw(state) == before
    os.utime(str(log_file), (NOW - 60, NOW - 60))  # in the second of the last success: written
    note_outcome(state, None, log_file, now=NOW)
    assert read_outcome(state) == Outcome(NOW, None, "")


def test_a_success_over_a_record_never_ok_compares_the_log_with_the_epoch(state: Path) -> None:
    write_raw(state, b'{"ok": null, "failed": null, "reason": ""}'.ljust(512))
    log_file = state / "ssh_alert.log"
    log_file.write_text("error\n")
    os.utime(str(log_file), (0.5, 0.5))  # a clock that started at the epoch (no RTC yet) still counts
    note_outcome(state, None, log_file, now=NOW)
    assert read_outcome(state) == Outcome(NOW, None, "")


def test_a_failure_is_always_written(state: Path) -> None:
    note_outcome(state, "boom", now=NOW - 60)
    note_outcome(state, "boom", now=NOW)
    assert read_outcome(state) == Outcome(None, NOW, "boom")


# --- where it is never written ------------------------------------------------------------------------------


def test_a_symbolic_link_at_the_outcome_path_is_never_followed(state: Path, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_bytes(b"precious\n")
    outcome_path(state).symlink_to(target)
    note_outcome(state, "boom", now=NOW)
    note_outcome(state, None, now=NOW)
    assert target.read_bytes() == b"precious\n" and outcome_path(state).is_symlink()
    target.write_bytes(json.dumps({"ok": NOW, "failed": None, "reason": ""}).encode())
    assert read_outcome(state) is None


def test_a_directory_or_fifo_at_the_outcome_path_reads_as_none_and_is_left_alone(state: Path) -> None:
    outcome_path(state).mkdir()
    note_outcome(state, "boom", now=NOW)
    assert read_outcome(state) is None and outcome_path(state).is_dir()
    outcome_path(state).rmdir()
    os.mkfifo(str(outcome_path(state)))
    note_outcome(state, None, now=NOW)
    assert read_outcome(state) is None and stat.S_ISFIFO(os.lstat(str(outcome_path(state))).st_mode)


@pytest.mark.parametrize("mode", [0o720, 0o702, 0o777])
def test_a_state_directory_others_may_write_gets_no_file(state: Path, mode: int) -> None:
    os.chmod(str(state), mode)
    note_outcome(state, "boom", now=NOW)
    note_outcome(state, None, now=NOW)
    assert not os.path.lexists(str(outcome_path(state)))


@pytest.mark.parametrize("mode", [0o711, 0o755, 0o701])
def test_a_state_directory_others_may_only_search_or_read_gets_the_file(state: Path, mode: int) -> None:
    os.chmod(str(state), mode)
    note_outcome(state, "boom", now=NOW)
    assert read_outcome(state) == Outcome(None, NOW, "boom")


def test_a_state_directory_another_user_owns_gets_no_file(state: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give the directory away")  # the suite runs as root (GUIDE: Machine)
    os.chown(str(state), 65534, 65534)
    note_outcome(state, "boom", now=NOW)
    assert not os.path.lexists(str(outcome_path(state)))


def test_a_state_directory_reached_through_a_symbolic_link_gets_no_file(state: Path, tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(state)
    note_outcome(link, "boom", now=NOW)
    assert not os.path.lexists(str(outcome_path(state)))


def test_a_state_path_that_is_a_file_or_missing_is_no_error(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_bytes(b"")
    os.chmod(str(plain), 0o600)
    note_outcome(plain, "boom", now=NOW)
    note_outcome(tmp_path / "missing", "boom", now=NOW)
    assert plain.read_bytes() == b"" and not (tmp_path / "missing").exists()


# --- reading ------------------------------------------------------------------------------------------------


def test_a_missing_file_reads_as_none(state: Path) -> None:
    assert read_outcome(state) is None


@pytest.mark.parametrize("data", [b"", b" " * 512, b"\0" * 512, b"null", b"[1, 2]", b'"text"', b"{\"ok\": 1",
                                  b'{"ok": 1.0}XX', b"\xff\xfe" * 10])
def test_a_corrupt_or_short_file_reads_as_none(state: Path, data: bytes) -> None:
    write_raw(state, data)
    assert read_outcome(state) is None


def test_padding_with_spaces_nuls_or_a_newline_is_not_part_of_the_record(state: Path) -> None:
    write_raw(state, b'\n{"ok": 5, "failed": 7.5, "reason": "r"}\n' + b"\0" * 100)
    assert read_outcome(state) == Outcome(5.0, 7.5, "r")
    assert isinstance(read_outcome(state).ok, float)  # type: ignore[union-attr]


def test_times_that_are_not_numbers_read_as_none(state: Path) -> None:
    write_raw(state, b'{"ok": true, "failed": "12", "reason": 3}')
    assert read_outcome(state) == Outcome(None, None, "3")
    write_raw(state, b'{"ok": false, "failed": null, "reason": null}')
    assert read_outcome(state) == Outcome(None, None, "")
    write_raw(state, b'{"ok": 0, "failed": 1}')
    assert read_outcome(state) == Outcome(0.0, 1.0, "")


def test_bytes_that_are_not_utf8_in_the_reason_are_replaced(state: Path) -> None:
    write_raw(state, b'{"ok": 1, "failed": 2, "reason": "bad \xff byte"}')
    assert read_outcome(state) == Outcome(1.0, 2.0, "bad \ufffd byte")


def test_only_the_first_512_bytes_are_read(state: Path) -> None:
    text = json.dumps({"ok": 1, "failed": 2, "reason": "r"}).encode()
    write_raw(state, text.ljust(512) + b"trailing garbage")
    assert read_outcome(state) == Outcome(1.0, 2.0, "r")
    write_raw(state, b" " * 512 + text)
    assert read_outcome(state) is None


# --- what status shows: run_lines -----------------------------------------------------------------------------


def test_the_texts_status_shows_are_these() -> None:
    assert RUN_FAILED == "{when}: {kind} failed: {reason}"
    assert RESOLVED == "{when}: {message} (since resolved)"
    assert NOT_RESOLVED == "{when}: {message} (no check has succeeded since)"


def test_nothing_recorded_shows_nothing() -> None:
    assert run_lines([], None, None) == []
    assert run_lines([("check", NOW, None, None)], Outcome(NOW, None, ""), None) == []


def test_a_check_that_failed_in_the_store_shows_fail_with_its_time_and_reason(store: Store) -> None:
    store.record_run("check", "no answer from the server", now=NOW - 60)
    assert run_lines(store.runs(), None, None) == [
        ("fail", "{}: check failed: no answer from the server".format(shown(NOW - 60)))]
    assert run_lines(store.runs(), None, None) == [
        ("fail", RUN_FAILED.format(when=shown(NOW - 60), kind="check", reason="no answer from the server"))]


def test_a_failure_the_store_has_without_a_reason_shows_a_question_mark() -> None:
    assert run_lines([("watch", None, NOW - 60, None)], None, None) == [
        ("fail", "{}: watch failed: ?".format(shown(NOW - 60)))]
    assert run_lines([], Outcome(None, NOW - 30, ""), None) == [("fail", "{}: check failed: ?".format(shown(NOW - 30)))]


def test_a_check_failure_only_in_the_file_shows_fail(store: Store) -> None:
    store.record_run("check", None, now=NOW - 120)
    assert run_lines(store.runs(), Outcome(None, NOW - 60, "disk full"), None) == [
        ("fail", "{}: check failed: disk full".format(shown(NOW - 60)))]


def test_a_later_check_success_in_the_store_or_the_file_resolves_a_check_failure(store: Store) -> None:
    store.record_run("check", None, now=NOW)
    assert run_lines(store.runs(), Outcome(None, NOW - 60, "disk full"), None) == []
    assert run_lines([], Outcome(NOW, NOW - 60, "disk full"), None) == []
    assert run_lines([], Outcome(NOW - 60, NOW - 60, "disk full"), None) == []  # the same instant: resolved


def test_a_success_of_another_kind_resolves_no_check_failure(store: Store) -> None:
    store.record_run("watch", None, now=NOW)
    store.record_run("check", None, now=NOW - 300)
    store.record_run("check", "boom", now=NOW - 60)
    assert run_lines(store.runs(), None, None) == [("fail", "{}: check failed: boom".format(shown(NOW - 60)))]


def test_a_failure_of_another_kind_stays_whatever_checks_succeeded() -> None:
    runs: List[Run] = [("watch", None, NOW - 60, "sshd_config changed"), ("check", NOW, None, None)]
    assert run_lines(runs, Outcome(NOW, None, ""), None) == [
        ("fail", "{}: watch failed: sshd_config changed".format(shown(NOW - 60)))]


def test_one_line_per_kind_with_its_newest_failure_oldest_kind_first() -> None:
    runs: List[Run] = [("check", None, NOW - 100, "b-older"), ("watch", None, NOW - 80, "a-middle")]
    outcome = Outcome(None, NOW - 50, "c-newest")
    assert run_lines(runs, outcome, None) == [
        ("fail", "{}: watch failed: a-middle".format(shown(NOW - 80))),
        ("fail", "{}: check failed: c-newest".format(shown(NOW - 50)))]
    runs = [("check", None, NOW - 40, "a-newest"), ("watch", None, NOW - 80, "z-other")]
    assert run_lines(runs, Outcome(None, NOW - 100, "b-older"), None) == [
        ("fail", "{}: watch failed: z-other".format(shown(NOW - 80))),
        ("fail", "{}: check failed: a-newest".format(shown(NOW - 40)))]


def test_a_store_check_row_without_a_success_still_lets_the_file_resolve() -> None:
    runs: List[Run] = [("check", None, NOW - 60, "boom"), ("watch", None, None, None)]
    assert run_lines(runs, Outcome(NOW, None, ""), None) == []
    assert run_lines(runs, Outcome(None, None, ""), None) == [("fail", "{}: check failed: boom".format(shown(NOW - 60)))]


def test_a_failure_line_hides_the_logged_error() -> None:
    logged = (logged_text(NOW - 10), "delivery failed: boom")
    assert run_lines([], Outcome(None, NOW - 60, "x"), logged) == [("fail", "{}: check failed: x".format(shown(NOW - 60)))]


def test_a_logged_error_before_the_last_check_success_is_resolved() -> None:
    when = logged_text(NOW - 60)
    expected = [("ok", "{}: delivery failed: boom (since resolved)".format(when))]
    assert run_lines([("check", NOW, None, None)], None, (when, "delivery failed: boom")) == expected
    assert run_lines([], Outcome(NOW, None, ""), (when, "delivery failed: boom")) == expected
    assert expected == [("ok", RESOLVED.format(when=when, message="delivery failed: boom"))]


def test_a_logged_error_in_the_second_of_the_last_success_is_resolved() -> None:
    second = float(int(NOW))
    when = logged_text(second)
    assert run_lines([("check", second, None, None)], None, (when, "boom")) == [
        ("ok", "{}: boom (since resolved)".format(when))]


def test_a_logged_error_after_the_last_success_or_with_none_is_not_resolved() -> None:
    when = logged_text(NOW)
    expected = [("warn", "{}: boom (no check has succeeded since)".format(when))]
    assert run_lines([("check", NOW - 60, None, None)], None, (when, "boom")) == expected
    assert run_lines([], None, (when, "boom")) == expected
    assert run_lines([("watch", NOW + 60, None, None)], Outcome(None, None, ""), (when, "boom")) == expected
    assert expected == [("warn", NOT_RESOLVED.format(when=when, message="boom"))]


def test_a_logged_error_whose_time_cannot_be_read_is_never_resolved() -> None:
    for when in ("yesterday", time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(NOW - 60))):
        assert run_lines([("check", NOW, None, None)], None, (when, "boom")) == [
            ("warn", "{}: boom (no check has succeeded since)".format(when))]


def merged(runs: List[Run], outcome: Optional[Outcome]) -> List[Tuple[str, str]]:
    return run_lines(runs, outcome, None)


def test_the_store_and_the_file_merge_through_a_real_store(store: Store, state: Path) -> None:
    store.record_run("check", "no answer", now=NOW - 120)
    note_outcome(state, "disk full", now=NOW - 60)  # the store could not record this one
    assert merged(store.runs(), read_outcome(state)) == [("fail", "{}: check failed: disk full".format(shown(NOW - 60)))]
    note_outcome(state, None, now=NOW)  # a later check succeeded, but the store still could not record it
    assert merged(store.runs(), read_outcome(state)) == []


# --- a clock at the epoch (a board without a real-time clock boots in 1970, then jumps) --------------------------


def test_a_failure_recorded_in_the_first_second_of_the_epoch_is_still_a_failure(state: Path) -> None:
    note_outcome(state, "no network yet", now=0.5)
    assert run_lines([], read_outcome(state), None) == [("fail", "{}: check failed: no network yet".format(shown(0.5)))]
    note_outcome(state, None, now=NOW)  # the clock jumped; the next check succeeded: written, and so resolved
    assert read_outcome(state) == Outcome(NOW, 0.5, "no network yet")
    assert run_lines([], read_outcome(state), None) == []


# --- a reason whose JSON is longer than the file -------------------------------------------------------------


def fits(ok: Optional[float], failed: float, reason: str) -> bool:
    record = {"ok": ok, "failed": failed, "reason": reason}
    return len(json.dumps(record, ensure_ascii=True).encode("ascii")) <= OUTCOME_BYTES


@pytest.mark.parametrize("reason", ["/home/юрий/.ssh/authorized_keys: " * 20, '"quoted" \\path\\ ' * 40,
                                    "\x01" * REASON_CHARS, "🔑" * REASON_CHARS, "é" + '"' * REASON_CHARS])
def test_a_reason_whose_escaped_json_is_longer_than_the_file_is_shortened_never_cut_mid_record(
        state: Path, reason: str) -> None:
    note_outcome(state, reason, now=NOW)
    outcome = read_outcome(state)
    assert outcome is not None and outcome.failed == NOW and outcome.ok is None  # status still says FAIL
    assert reason.startswith(outcome.reason) and len(outcome.reason) < REASON_CHARS
    assert fits(None, NOW, outcome.reason) and not fits(None, NOW, reason[:len(outcome.reason) + 1])
    assert len(raw(state)) == OUTCOME_BYTES
    note_outcome(state, None, now=NOW + 1)  # the success adds its time: the reason gives way again
    outcome = read_outcome(state)
    assert outcome is not None and outcome.ok == NOW + 1 and outcome.failed == NOW and reason.startswith(outcome.reason)
    assert fits(NOW + 1, NOW, outcome.reason) and not fits(NOW + 1, NOW, reason[:len(outcome.reason) + 1])
