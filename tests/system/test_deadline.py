"""The one "run with a deadline" helper the keyring and the resolver share."""

import threading
import time

import pytest

from app.system.deadline import DeadlinePassed, call_with_deadline


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
