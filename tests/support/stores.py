"""The store fixture of tests whose code finds the store where the account keeps it (paths.store_file), not in
tmp_path as conftest's: a module imports it by name (``from support.stores import store``) to use it instead."""

from typing import Iterator

import pytest

from app.store.store import Store
from app.system.paths import Paths


@pytest.fixture
def store(paths: Paths) -> Iterator[Store]:
    """A real store at paths.store_file, closed after the test."""
    paths.state_dir.mkdir(parents=True, exist_ok=True)
    opened = Store.open(paths.store_file)
    try:
        yield opened
    finally:
        opened.close()
