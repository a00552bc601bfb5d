"""The cron watch compares the pyz with the sha256 install recorded from the very first run on: a swap made
before the first cron run is reported, not taken as the baseline."""

import json
from pathlib import Path
from typing import Iterator

import pytest

from app.watch.integrity import Readings
from app.watch.watch import watch
from app.system.paths import Paths
from support.tamper import Installed, as_reader, install_like, shared_home

NOW = 1700000000.0


@pytest.fixture
def home() -> Iterator[Path]:
    with shared_home() as home:
        yield home


def readings(installed: Installed) -> Readings:
    """What a cron run reads of an install like installed: no login yet, no sshd settings."""
    return Readings(installed.crontab_text, installed.pyz, installed.pyz_hash, [], "")


def test_a_pyz_swapped_before_the_first_cron_run_is_reported_by_the_first_run(paths: Paths) -> None:
    installed = install_like(paths)
    installed.pyz.write_bytes(b"import os  # a stub that pings heartbeat_url\n")
    snapshot, findings = as_reader(lambda: watch(paths, None, readings(installed), NOW))
    assert [finding.kind for finding in findings] == ["pyz-replaced"] and findings[0].urgent
    assert installed.pyz_hash in findings[0].text
    again = json.loads(json.dumps(snapshot))
    assert as_reader(lambda: watch(paths, again, readings(installed), NOW + 60))[1] == []


def test_the_first_run_with_the_recorded_pyz_reports_nothing(paths: Paths) -> None:
    installed = install_like(paths)
    assert as_reader(lambda: watch(paths, None, readings(installed), NOW))[1] == []
