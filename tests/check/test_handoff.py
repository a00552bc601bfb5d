"""The hook's bounded wait: the wait the hook passes is read leniently, the delivered list, and status."""

import os
from pathlib import Path

import pytest

from app.check.handoff import MAX_WAIT, WAITED_KEPT, HandOff, parse_wait, sync_hook_wait, trim_waited
from app.commands.status import HOOK_WAIT_OFF, HOOK_WAIT_ON, OK, WARN, run_status
from app.system.paths import Paths
from helpers import write_config


@pytest.mark.parametrize("text, seconds", [("3", 3.0), ("0", 0.0), ("1.5", 1.5), ("999", MAX_WAIT), ("-2", 0.0),
                                            ("three", 3.0), ("", 3.0), ("nan", 3.0), ("$(id)", 3.0)])
def test_the_wait_the_hook_passes_never_fails_and_stays_bounded(text: str, seconds: float):
    assert parse_wait(text) == seconds


def test_the_hook_is_released_once_its_own_connection_is_settled(tmp_path: Path):
    read_end, write_end = os.pipe()
    handoff = HandOff("198.51.100.1  1 10.0.0.1 22", write_end)
    handoff.progress(["198.51.100.2 1 10.0.0.1 22"])
    assert handoff.descriptor is not None  # another connection: still waiting
    handoff.progress(["198.51.100.1 1 10.0.0.1 22"])
    assert os.read(read_end, 1) == b"1" and handoff.descriptor is None
    handoff.settle()  # again: nothing happens


def test_the_waited_file_is_trimmed_to_its_newest_lines_once_it_grows(tmp_path: Path):
    waited = tmp_path / "waited"
    waited.write_text("".join("198.51.100.1 {} 10.0.0.1 22 1795640700\n".format(number) for number in range(2000)))
    trim_waited(waited)
    lines = waited.read_text().splitlines()
    assert len(lines) == WAITED_KEPT and lines[-1] == "198.51.100.1 1999 10.0.0.1 22 1795640700"
    trim_waited(waited)  # small now: left as it is
    assert waited.read_text().splitlines() == lines


@pytest.mark.parametrize("hook_wait, status, text", [("3", OK, HOOK_WAIT_ON.format(seconds=3)),
                                                     ("0", WARN, HOOK_WAIT_OFF)])
def test_status_shows_the_hook_wait_and_what_it_means(paths: Paths, hook_wait: str, status: str, text: str):
    write_config(paths, alert={"hook_wait": hook_wait}, smtp={"host": "127.0.0.1", "port": "25", "security": "none"})
    sync_hook_wait(paths.hook_wait_file, float(hook_wait))
    (check,) = [check for check in run_status(paths) if check.name == "hook wait"]
    assert (check.status, check.detail) == (status, text)
