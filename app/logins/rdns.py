"""Reverse DNS for alerts and the history, with a hard timeout per lookup and a total budget per run.

``socket.gethostbyaddr`` has no timeout of its own (a dead resolver can hold it for 30 s or more), so each
lookup runs in a daemon thread that the caller stops waiting for. A lookup that times out keeps its thread
until the resolver gives up; the budget bounds how many of those one run can start.
"""

from __future__ import annotations

import functools
import socket
import time

from app.rules.trust import canonical_address
from app.system.deadline import call_with_deadline, start_thread

TYPE_CHECKING = False
if TYPE_CHECKING:
    import _thread
    from typing import Dict, List, Sequence


class ReverseResolver:
    """Names for IP addresses: one lookup per address, each at most timeout seconds, all at most budget seconds.

    Once the budget is spent, name() answers "" without looking up (cached names are still returned), so a
    check that meets 1,000 new addresses cannot stall on a slow resolver.
    """

    def __init__(self, timeout: float = 1.0, budget: float = 3.0) -> None:
        self.timeout = timeout
        self.budget = budget
        self.spent = 0.0  # seconds waited on lookups so far
        self._cache: Dict[str, str] = {}

    def name(self, ip: str) -> str:
        """Return the host name for ip, or "" when it has none, is not an address, failed or timed out. Never raises."""
        address = canonical_address(ip)
        if not address:
            return ""
        if address in self._cache:
            return self._cache[address]
        remaining = self.budget - self.spent
        if remaining <= 0:
            return ""
        started = time.monotonic()
        result = self._lookup_with_deadline(address, min(self.timeout, remaining))
        self.spent += time.monotonic() - started
        self._cache[address] = result
        return result

    def prefetch(self, ips: Sequence[str], limit: int = 32) -> None:
        """Look up to limit of ips (first ones first) at once, within one timeout; then stop looking up.

        A digest of 1,000 logins from 1,000 addresses costs one timeout at most, not 1,000 lookups: the
        addresses past limit, and any name() asked later, get "" unless already known.
        """
        wanted: List[str] = []
        for ip in ips:
            address = canonical_address(ip)
            if address and address not in self._cache and address not in wanted:
                wanted.append(address)
        wanted = wanted[:limit]
        answers: Dict[str, str] = {}

        def target(address: str) -> None:
            try:
                answers[address] = self.lookup(address)
            except BaseException:  # noqa: BLE001 - any failure means "no name"; nothing may print
                pass

        finished: List[_thread.LockType] = []
        for address in wanted:
            try:
                finished.append(start_thread(functools.partial(target, address)))
            except RuntimeError:
                break
        deadline = time.monotonic() + min(self.timeout, max(0.0, self.budget - self.spent))
        for lock in finished:
            lock.acquire(timeout=max(0.0, deadline - time.monotonic()))
        for address in wanted:
            self._cache[address] = answers.get(address, "") or ""
        self.spent = self.budget

    def lookup(self, address: str) -> str:
        """Ask the system resolver (/etc/hosts, then DNS) for address's name. Raises OSError when there is none."""
        ascii_address: str = address.encode("ascii")  # type: ignore[assignment]  # as str: the idna codec loads (1 ms)
        return socket.gethostbyaddr(ascii_address)[0]  # typeshed says str; CPython takes bytes too

    def _lookup_with_deadline(self, address: str, seconds: float) -> str:
        """Return lookup(address), or "" on failure, when no thread can start, or after seconds."""
        try:
            return call_with_deadline(lambda: self.lookup(address), seconds, "rdns") or ""
        except Exception:  # noqa: BLE001 - any failure means "no name"; the resolver owes us nothing
            return ""
