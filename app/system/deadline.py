"""The one "run with a deadline" helper: a call that may hang (keyring, resolver) in a thread of its own.

Built on _thread rather than threading: the login path then neither imports threading nor waits for each
Thread.start handshake (together about 1.5 ms of every login that looks up a name).
"""

from __future__ import annotations

import _thread

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, List, TypeVar

    Result = TypeVar("Result")


class DeadlinePassed(Exception):
    """The call had not returned within its seconds; its thread is left to finish (or not) on its own."""


def start_thread(function: Callable[[], None]) -> _thread.LockType:
    """Run function in a new thread, which the interpreter does not wait for at exit (a daemon thread).

    function must not raise: the thread would print the traceback. Returns a lock that is released when
    function has returned: ``lock.acquire(timeout=seconds)`` waits for that. Raises RuntimeError when no thread
    can start.
    """
    finished = _thread.allocate_lock()
    finished.acquire()

    def target() -> None:
        try:
            function()
        finally:
            finished.release()

    _thread.start_new_thread(target, ())
    return finished


def call_with_deadline(function: Callable[[], Result], seconds: float, name: str) -> Result:
    """Return function() run in a thread of its own, or re-raise what it raised.

    Raises DeadlinePassed (naming name) when it has not returned within seconds, and RuntimeError when no thread
    can start.
    """
    values: List[Result] = []
    errors: List[BaseException] = []

    def target() -> None:
        try:
            values.append(function())
        except BaseException as error:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(error)

    if not start_thread(target).acquire(timeout=max(0.0, seconds)):
        raise DeadlinePassed("{} did not return within {:g} s".format(name, seconds))
    if errors:
        raise errors[0]
    return values[0]
