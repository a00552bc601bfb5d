"""One real minute of a real cron daemon, for a throwaway account: install's line runs `check --cron`, which
records its run, starts the heartbeat count and its watch; then the same run, driven directly, alerts a hook block an intruder removed."""

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Iterator, Optional

import pytest

from app.check.health import HEARTBEAT_LAST, WATCH
from app.store.store import opened
from app.install.crontab import daemon_running
from app.system.paths import Paths
from helpers import install_pyz, require, smtp_settings, write_config
from support.mailsink import MailSink
from support.processes import wait_until_ended
from support.users import SYSTEM_PYTHON, LocalUser, is_root

CRON = shutil.which("cron") or "/usr/sbin/cron"


def crontab_text(user: str) -> Optional[str]:
    finished = subprocess.run(["crontab", "-l", "-u", user], capture_output=True, text=True, timeout=10)
    return finished.stdout if finished.returncode == 0 else None


@pytest.fixture
def cron_daemon() -> Iterator[None]:
    """A cron daemon (started here unless one runs). The test installs as a throwaway user, so no crontab of
    the machine's own accounts (root's included) is ever touched."""
    require(os.access(CRON, os.X_OK) and shutil.which("crontab") is not None and is_root(),
            "apt-get install cron (and run as root)")
    started = None if daemon_running() else subprocess.Popen([CRON, "-f"], stdout=subprocess.DEVNULL,
                                                             stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        if started is not None:
            started.send_signal(signal.SIGTERM)
            started.wait(timeout=10)


@pytest.fixture
def cron_user(cron_daemon: None) -> Iterator[LocalUser]:
    """A throwaway account whose crontab the test may fill; its crontab goes with it."""
    with LocalUser("sacron") as user:
        try:
            yield user
        finally:
            subprocess.run(["crontab", "-r", "-u", user.name], capture_output=True, timeout=10)


def test_a_real_cron_minute_runs_the_watch_then_a_removed_hook_block_is_alerted_once(
        cron_user: LocalUser, pyz: Path, sink: MailSink) -> None:
    home = cron_user.home
    paths = Paths.from_environ({"HOME": str(home)})
    write_config(paths, smtp=smtp_settings(sink))
    install_pyz(home, pyz)
    cron_user.chown(home)
    installed_pyz = str(home / "bin" / "ssh_alert.pyz")
    installed = cron_user.run([SYSTEM_PYTHON, installed_pyz, "install", "--yes"])
    assert installed.returncode == 0, installed.stderr + installed.stdout
    assert cron_user.run([SYSTEM_PYTHON, installed_pyz, "check"]).returncode == 0  # seed
    deadline = time.monotonic() + 130  # cron re-reads a changed crontab at a minute boundary: allow two
    while time.monotonic() < deadline:
        with opened(paths.store_file) as store:
            if store.get("last_cron") is not None and store.get(WATCH) is not None:
                break
        time.sleep(1)
    with opened(paths.store_file) as store:
        assert store.get("last_cron") is not None, "cron did not run the line: " + str(crontab_text(cron_user.name))
        assert store.get(WATCH) is not None and store.get(HEARTBEAT_LAST) is not None
    subprocess.run(["crontab", "-r", "-u", cron_user.name], capture_output=True, timeout=10)  # the rest is driven
    wait_until_ended(installed_pyz)  # a cron run still going has ended: what it sent is in the sink
    assert sink.messages == []
    rc = home / ".ssh" / "rc"
    rc.write_text(rc.read_text().split("# >>> ssh_alert login hook")[0])
    for _ in range(2):
        assert cron_user.run([SYSTEM_PYTHON, installed_pyz, "check", "--cron"]).returncode == 0
    subjects = [received.message["Subject"] for received in sink.messages]
    assert any("removed from ~/.ssh/rc" in subject for subject in subjects), subjects
    assert sum("removed from ~/.ssh/rc" in subject for subject in subjects) == 1
