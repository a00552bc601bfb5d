"""Loaded by every Python the tests start under `make test-future` (its directory is on PYTHONPATH there).

Debian 12's libfaketime 0.9.10 makes clock_nanosleep(TIMER_ABSTIME) fail with EINVAL, and time.sleep uses it
from Python 3.11 on (shiv's bootstrap sleeps while it unpacks). select() sleeps as long through a call
libfaketime leaves alone. Outside libfaketime this changes nothing."""

import os
import select
import time

if os.environ.get("FAKETIME"):
    def _sleep(seconds: float) -> None:
        select.select([], [], [], seconds)

    time.sleep = _sleep
