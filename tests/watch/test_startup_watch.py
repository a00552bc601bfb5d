"""Every startup file the hook lives in is watched for commands put above its block: ~/.profile,
~/.bash_profile and ~/.bash_login as well as ~/.ssh/rc and ~/.bashrc."""

import json
from pathlib import Path
from typing import Iterator

import pytest

from app.watch.integrity import Readings
from app.watch.watch import watch
from app.system.paths import Paths
from support.tamper import as_reader, install_like, shared_home

NOW = 1700000000.0


@pytest.fixture
def home() -> Iterator[Path]:
    with shared_home() as home:
        yield home


def cron_run(paths: Paths, installed, previous, now: float):
    stored = json.loads(json.dumps(previous)) if previous is not None else None
    return as_reader(lambda: watch(paths, stored, Readings(installed.crontab_text, installed.pyz, installed.pyz_hash, [], ""), now))


@pytest.mark.parametrize("login_file", [".profile", ".bash_profile", ".bash_login"])
def test_exit_0_put_above_the_block_in_a_login_file_is_reported_urgently(paths: Paths, login_file: str) -> None:
    (paths.home / login_file).write_text("export LANG=C.UTF-8\n")
    installed = install_like(paths)
    first, findings = cron_run(paths, installed, None, NOW)
    assert findings == []
    path = paths.home / login_file
    path.write_text("exit 0\n" + path.read_text())
    _, findings = cron_run(paths, installed, first, NOW + 60)
    (finding,) = findings
    assert finding.kind == "hook-preceded" and finding.urgent and "~/" + login_file in finding.title
    assert "exit 0" in finding.text


def test_an_ordinary_line_above_the_block_in_the_profile_is_told_without_urgency(paths: Paths) -> None:
    (paths.home / ".profile").write_text("export LANG=C.UTF-8\n")
    installed = install_like(paths)
    first, _ = cron_run(paths, installed, None, NOW)
    path = paths.home / ".profile"
    path.write_text("export PATH=$HOME/.local/bin:$PATH\n" + path.read_text())
    _, findings = cron_run(paths, installed, first, NOW + 60)
    (finding,) = findings
    assert finding.kind == "hook-preceded" and not finding.urgent
