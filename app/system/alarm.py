"""A blocking call in the main thread interrupted after a time (SIGALRM): a lock wait, an SMTP session.

For calls that may hang in a thread of their own (keyring, resolver), see app.system.deadline.
"""

from __future__ import annotations

import contextlib

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal as _signal  # the same functions and constants (_signal has no stubs)
    from typing import Callable, Iterator
else:  # signal.py wraps these in enum classes, about 1 ms of every login to build
    import _signal


@contextlib.contextmanager
def alarm(seconds: float, error: Callable[[], BaseException]) -> Iterator[None]:
    """Raise error() inside the block when it runs longer than seconds. Outside the main thread, where
    signals cannot be handled, the block runs without the limit (its own timeouts still apply)."""
    def expire(signum: int, frame: object) -> None:
        raise error()

    try:
        previous = _signal.signal(_signal.SIGALRM, expire)
    except ValueError:
        yield
        return
    _signal.setitimer(_signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        _signal.setitimer(_signal.ITIMER_REAL, 0)
        _signal.signal(_signal.SIGALRM, previous)
