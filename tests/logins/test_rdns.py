"""Reverse DNS with a hard timeout: the real system resolver for /etc/hosts and a nameless address; subclasses
that replace only the lookup itself (a resolver that never answers, one that counts) for the timeout, the
cache and the budget."""

import threading
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import pytest

from app.logins.rdns import ReverseResolver
from app.rules.trust import canonical_address as normalized_address
from helpers import require, run_fresh

SLACK = 0.3  # thread start and scheduling on a loaded CI machine


class CountingResolver(ReverseResolver):
    """The real resolver, recording each address it actually looks up."""

    def __init__(self, *arguments: float) -> None:
        super().__init__(*arguments)
        self.looked_up: List[str] = []

    def lookup(self, address: str) -> str:
        self.looked_up.append(address)
        return super().lookup(address)


class StalledResolver(ReverseResolver):
    """A resolver that answers the addresses in known at once and the others not until released (like
    gethostbyaddr facing a dead nameserver)."""

    def __init__(self, release: threading.Event, timeout: float, budget: float,
                 known: Optional[Dict[str, str]] = None) -> None:
        super().__init__(timeout, budget)
        self.release = release
        self.known = known or {}
        self.started: List[str] = []

    def lookup(self, address: str) -> str:
        self.started.append(address)
        if address in self.known:
            return self.known[address]
        self.release.wait(30)
        return "too-late.example.net"


class FailingResolver(ReverseResolver):
    def lookup(self, address: str) -> str:
        raise RuntimeError("resolver library bug")


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Lets stalled lookups finish when the test ends, so no thread outlives it for long."""
    event = threading.Event()
    yield event
    event.set()


def hosts_names_localhost() -> bool:
    try:
        lines = Path("/etc/hosts").read_bytes().splitlines()  # bytes: the file may hold any encoding
    except OSError:
        return False
    return any(line.split()[:1] == [b"127.0.0.1"] and b"localhost" in line for line in lines)


def test_loopback_resolves_to_localhost_from_etc_hosts() -> None:
    require(hosts_names_localhost(), "/etc/hosts does not map 127.0.0.1 to localhost")
    assert "localhost" in ReverseResolver().name("127.0.0.1")


def test_a_documentation_address_gives_no_name_within_the_timeout() -> None:
    resolver = ReverseResolver(timeout=0.5)
    started = time.monotonic()
    assert resolver.name("192.0.2.1") == ""
    assert time.monotonic() - started < 0.5 + SLACK


def test_a_resolver_that_never_answers_costs_only_the_timeout(release: threading.Event) -> None:
    resolver = StalledResolver(release, 0.2, 5.0)
    started = time.monotonic()
    assert resolver.name("203.0.113.7") == ""
    assert 0.2 <= time.monotonic() - started < 0.2 + SLACK


def test_each_address_is_looked_up_once_whatever_its_spelling() -> None:
    resolver = CountingResolver(1.0, 3.0)
    first = resolver.name("127.0.0.1")
    assert resolver.name("127.0.0.1") == first
    assert resolver.name("::ffff:127.0.0.1") == first
    assert resolver.looked_up == ["127.0.0.1"]


def test_a_timed_out_address_is_not_retried_in_the_same_run(release: threading.Event) -> None:
    resolver = StalledResolver(release, 0.1, 5.0)
    resolver.name("203.0.113.7")
    started = time.monotonic()
    assert resolver.name("203.0.113.7") == ""
    assert time.monotonic() - started < 0.05
    assert resolver.started == ["203.0.113.7"]


def test_the_budget_stops_lookups_so_many_new_addresses_cannot_stall_a_check(release: threading.Event) -> None:
    resolver = StalledResolver(release, 0.2, 0.5)
    started = time.monotonic()
    names = [resolver.name("198.51.100.{}".format(host)) for host in range(1, 1001)]
    assert names == [""] * 1000
    assert time.monotonic() - started < 0.5 + SLACK
    # 0.2 + 0.2 + the 0.1 left; a loaded machine spends the budget sooner, never later.
    assert 1 <= len(resolver.started) <= 3


def test_a_spent_budget_still_answers_from_the_cache(release: threading.Event) -> None:
    resolver = StalledResolver(release, 0.2, 0.25, {"192.0.2.1": "known.example.net"})
    assert resolver.name("192.0.2.1") == "known.example.net"
    assert resolver.name("198.51.100.1") == ""  # stalls 0.2 s
    assert resolver.name("198.51.100.2") == ""  # stalls the 0.05 s left (none left on a loaded machine)
    assert resolver.name("198.51.100.3") == ""  # budget spent: not looked up
    assert resolver.name("192.0.2.1") == "known.example.net"
    assert resolver.started[:2] == ["192.0.2.1", "198.51.100.1"]
    assert "198.51.100.3" not in resolver.started


@pytest.mark.parametrize("text", ["", "web1.example.com", "203.0.113", "not an address"])
def test_text_that_is_not_an_address_is_never_looked_up(text: str) -> None:
    resolver = CountingResolver(1.0, 3.0)
    assert resolver.name(text) == ""
    assert resolver.looked_up == []  # gethostbyaddr would resolve a host name forwards first


def test_a_lookup_that_raises_anything_gives_no_name() -> None:
    assert FailingResolver().name("203.0.113.7") == ""


@pytest.mark.parametrize("text, canonical", [
    ("203.0.113.7", "203.0.113.7"), ("::ffff:203.0.113.7", "203.0.113.7"), ("2001:DB8::0:1", "2001:db8::1"),
    ("fe80::1%eth0", "fe80::1"), (" 10.0.0.1 ", "10.0.0.1"), ("garbage", "")])
def test_addresses_are_compared_in_canonical_form(text: str, canonical: str) -> None:
    assert normalized_address(text) == canonical


def test_a_prefetch_names_loopback_from_etc_hosts_without_loading_threading() -> None:
    require(hosts_names_localhost(), "/etc/hosts does not map 127.0.0.1 to localhost")
    output = run_fresh(
        "import sys\n"
        "from app.logins.rdns import ReverseResolver\n"
        "resolver = ReverseResolver(timeout=5.0)\n"
        "resolver.prefetch(['127.0.0.1'])\n"
        "print(bool(resolver.name('127.0.0.1')), 'threading' in sys.modules)\n")
    assert output.splitlines() == ["True False"]
