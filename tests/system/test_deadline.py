"""The one "run with a deadline" helper the keyring and the resolver share."""

import threading
import time

import pytest

from app.system.deadline import DeadlinePassed, call_with_deadline, start_thread
from helpers import run_fresh


def test_a_call_that_returns_in_time_gives_its_value() -> None:
    assert call_with_deadline(lambda: 42, 5.0, "quick") == 42


def test_a_call_that_raises_re_raises_in_the_callers_thread() -> None:
    def fail() -> None:
        raise LookupError("no such name")

    with pytest.raises(LookupError, match="no such name"):
        call_with_deadline(fail, 5.0, "failing")


def test_a_call_that_hangs_raises_deadline_passed_after_the_seconds_without_waiting_for_it() -> None:
    release = threading.Event()
    started = time.monotonic()
    with pytest.raises(DeadlinePassed, match="hanging did not return within 0.2 s"):
        call_with_deadline(release.wait, 0.2, "hanging")
    assert time.monotonic() - started < 2.0
    release.set()


def test_a_timeout_error_raised_by_the_call_is_not_taken_for_the_deadline() -> None:
    def socket_timeout() -> None:
        raise TimeoutError("timed out")

    with pytest.raises(TimeoutError):
        call_with_deadline(socket_timeout, 5.0, "resolver")


def test_start_thread_releases_its_lock_once_the_function_has_returned() -> None:
    release = threading.Event()
    finished = start_thread(release.wait)
    assert not finished.acquire(timeout=0.05)
    release.set()
    assert finished.acquire(timeout=5.0)


def test_a_call_still_hanging_at_exit_does_not_hold_the_process_and_the_login_path_loads_no_threading() -> None:
    started = time.monotonic()
    output = run_fresh(
        "import sys, time\n"
        "from app.system.deadline import DeadlinePassed, call_with_deadline\n"
        "try:\n"
        "    call_with_deadline(lambda: time.sleep(60), 0.1, 'resolver')\n"
        "except DeadlinePassed as passed:\n"
        "    print(passed)\n"
        "print('threading' in sys.modules)\n")
    assert output.splitlines() == ["resolver did not return within 0.1 s", "False"]
    assert time.monotonic() - started < 30  # not the call's 60 s
