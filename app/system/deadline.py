"""The one "run with a deadline" helper: a call that may hang (keyring, resolver) in a daemon thread."""

import threading
from typing import Callable, List, TypeVar

Result = TypeVar("Result")


class DeadlinePassed(Exception):
    """The call had not returned within its seconds; its thread is left to finish (or not) on its own."""


def call_with_deadline(function: Callable[[], Result], seconds: float, name: str) -> Result:
    """Return function() run in a daemon thread named name, or re-raise what it raised.

    Raises DeadlinePassed when it has not returned within seconds, and RuntimeError when no thread can start.
    """
    values: List[Result] = []
    errors: List[BaseException] = []

    def target() -> None:
        try:
            values.append(function())
        except BaseException as error:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(error)

    worker = threading.Thread(target=target, name=name, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise DeadlinePassed("{} did not return within {:g} s".format(name, seconds))
    if errors:
        raise errors[0]
    return values[0]
