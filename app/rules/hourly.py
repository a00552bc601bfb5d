"""The hour window of the sending limits: which send times still count.

Shared by the decisions of the hourly limits (app.check.policy) and the store, which keeps only the send times
inside the window (app.store.store for email, app.store.eventstore for each push channel).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Sequence, Tuple

HOUR = 3600.0


def in_window(sent: float, now: float) -> bool:
    """True for a send within the hour before now. A send time after now (the clock ran ahead and came
    back) counts as expired: such a clock holds nothing back, and turning the clock back opens at most one
    more hour's allowance, since the sends made then are in the window again."""
    return 0 <= now - sent < HOUR


def recent_sends(sent_times: Sequence[float], now: float) -> Tuple[float, ...]:
    """The send times still inside the hour window (what the state keeps)."""
    return tuple(sent for sent in sent_times if in_window(sent, now))
