"""Fixtures of the push channel tests."""

from typing import Iterator

import pytest

from support.httpsworld import HttpsWorld, without_proxies


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[HttpsWorld]:
    """A real HTTPS server on loopback, with no proxy from the environment in the way."""
    without_proxies(monkeypatch)
    with HttpsWorld() as server:
        yield server
