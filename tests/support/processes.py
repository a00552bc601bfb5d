"""Waiting for processes to end: a test proves that nothing more happens (no late duplicate, no second alert) by
waiting until everything that could still make it happen has exited, not by sleeping a while."""

import os
import select
import time
from typing import List, Optional


def _uid(pid: str) -> Optional[int]:
    with open("/proc/{}/status".format(pid), "rb") as status:
        for line in status:
            if line.startswith(b"Uid:"):
                return int(line.split()[1])
    return None


def running(needle: str, uid: Optional[int] = None) -> List[int]:
    """Pids of the live processes (not zombies) whose command line contains needle, run by uid when given."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open("/proc/{}/cmdline".format(pid), "rb") as handle:
                command = handle.read().replace(b"\0", b" ").decode("utf-8", "replace")
            if needle in command and (uid is None or _uid(pid) == uid):
                found.append(int(pid))
        except (OSError, ValueError):
            pass  # it ended meanwhile
    return found


def wait_until_ended(needle: str, uid: Optional[int] = None, timeout: float = 60.0) -> None:
    """Return once no process whose command line contains needle (run by uid, when given) is running: each one
    found is waited for through a pidfd, which becomes readable when it exits. Raises AssertionError at timeout."""
    deadline = time.monotonic() + timeout
    while True:
        pids = running(needle, uid)
        if not pids:
            return
        for pid in pids:
            try:
                descriptor = os.pidfd_open(pid)
            except ProcessLookupError:
                continue
            try:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([descriptor], [], [], left)[0]:
                    raise AssertionError("still running after {:g} s: {}".format(timeout, ", ".join(
                        str(pid) for pid in running(needle, uid))))
            finally:
                os.close(descriptor)
