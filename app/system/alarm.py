"""A blocking call in the main thread interrupted after a time (SIGALRM): a lock wait, an SMTP session.

For calls that may hang in a thread of their own (keyring, resolver), see app.system.deadline.
"""

from __future__ import annotations

import contextlib
import signal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Iterator


@contextlib.contextmanager
def alarm(seconds: float, error: Callable[[], BaseException]) -> Iterator[None]:
    """Raise error() inside the block when it runs longer than seconds. Outside the main thread, where
    signals cannot be handled, the block runs without the limit (its own timeouts still apply)."""
    def expire(signum: int, frame: object) -> None:
        raise error()

    try:
        previous = signal.signal(signal.SIGALRM, expire)
    except ValueError:
        yield
        return
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
