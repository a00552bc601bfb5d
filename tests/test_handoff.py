"""The hook's bounded wait: the wait the hook passes is read leniently, the delivered list, and status."""

import os
from pathlib import Path

import pytest

from app.alerting.handoff import DELIVERED_KEPT, MAX_WAIT, HandOff, parse_wait, sync_hook_wait
from app.commands.status import HOOK_WAIT_OFF, HOOK_WAIT_ON, OK, WARN, run_status
from app.paths import Paths
from conftest import write_config


@pytest.mark.parametrize("text, seconds", [("3", 3.0), ("0", 0.0), ("1.5", 1.5), ("999", MAX_WAIT), ("-2", 0.0),
                                            ("three", 3.0), ("", 3.0), ("nan", 3.0), ("$(id)", 3.0)])
def test_the_wait_the_hook_passes_never_fails_and_stays_bounded(text: str, seconds: float):
    assert parse_wait(text) == seconds


def test_a_settled_connection_is_listed_once_and_the_list_stays_short(tmp_path: Path):
    delivered = tmp_path / "delivered"
    for number in range(DELIVERED_KEPT + 10):
        read_end, write_end = os.pipe()
        handoff = HandOff("198.51.100.1 {} 10.0.0.1 22".format(number % (DELIVERED_KEPT + 5)), write_end, delivered)
        handoff.progress(["other", handoff.connection])
        assert os.read(read_end, 1) == b"1"
        os.close(read_end)
    lines = delivered.read_text().splitlines()
    assert len(lines) == DELIVERED_KEPT and len(set(lines)) == len(lines)
    assert oct(delivered.stat().st_mode & 0o777) == "0o600"


def test_a_held_connection_releases_the_hook_without_being_listed(tmp_path: Path):
    read_end, write_end = os.pipe()
    handoff = HandOff("198.51.100.1 1 10.0.0.1 22", write_end, tmp_path / "delivered")
    handoff.progress([handoff.connection], delivered=False)
    assert os.read(read_end, 1) == b"1" and not (tmp_path / "delivered").exists()
    handoff.settle()  # again: nothing happens


@pytest.mark.parametrize("hook_wait, status, text", [("3", OK, HOOK_WAIT_ON.format(seconds=3)),
                                                     ("0", WARN, HOOK_WAIT_OFF)])
def test_status_shows_the_hook_wait_and_what_it_means(paths: Paths, hook_wait: str, status: str, text: str):
    write_config(paths, alert={"hook_wait": hook_wait}, smtp={"host": "127.0.0.1", "port": "25", "security": "none"})
    sync_hook_wait(paths.hook_wait_file, float(hook_wait))
    (check,) = [check for check in run_status(paths) if check.name == "hook wait"]
    assert (check.status, check.detail) == (status, text)
