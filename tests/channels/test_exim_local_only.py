"""Debian's default exim4 (local delivery only) as /usr/sbin/sendmail: setup, test, status and check each say so.

The machine's real exim4 in its default configuration (CI installs it); nothing is mocked. A message exim
accepts and then fails leaves a frozen bounce in its queue: each test removes what it queued.
"""

import json
import os
import re
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import Iterator, List

import pytest

from app.channels.eximqueue import parse_queue, relation
from app.cli import main
from app.settings.mta import EXIM_CONF, bouncing_recipients
from app.system.paths import Paths
from helpers import append_log, login_line, require, write_config

SENDMAIL = "/usr/sbin/sendmail"
REMOTE = "owner@example.com"


def local_only_exim() -> None:
    require(os.path.realpath(SENDMAIL).endswith("exim4") and EXIM_CONF.exists() and
            bouncing_recipients(SENDMAIL, [REMOTE]) == (REMOTE,),
            "Debian's exim4 in its default local-only configuration as " + SENDMAIL)


def queue_ids() -> List[str]:
    listing = subprocess.run(["exim", "-bp"], capture_output=True, text=True)
    return [queued.queue_id for queued in parse_queue(listing.stdout)]


@pytest.fixture
def exim_queue() -> Iterator[None]:
    """Removes every message the test left in exim's queue (and only those)."""
    local_only_exim()
    require(os.geteuid() == 0, "exim's queue is readable by root (queue_list_requires_admin)")
    before = set(queue_ids())
    yield
    time.sleep(0.5)
    for queue_id in set(queue_ids()) - before:
        subprocess.run(["exim", "-Mrm", queue_id], capture_output=True)


def sendmail_config(paths: Paths, to: str = REMOTE) -> None:
    write_config(paths, alert={"method": "sendmail", "sendmail_path": SENDMAIL, "to": to})


def run(capsys: pytest.CaptureFixture, *argv: str):  # type: ignore[no-untyped-def]
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_test_refuses_to_hand_a_remote_recipient_to_a_local_only_exim_and_says_what_to_do(
        paths: Paths, capsys: pytest.CaptureFixture, exim_queue: None):
    sendmail_config(paths)
    code, out, err = run(capsys, "test")
    assert code == 1 and out == ""
    (line,) = err.splitlines()
    assert "local delivery only" in line and "method = smtp" in line and "dpkg-reconfigure exim4-config" in line
    assert "freezes in exim's queue" in line


def test_status_shows_a_local_only_exim_as_a_failed_delivery_line(paths: Paths, capsys: pytest.CaptureFixture):
    local_only_exim()
    sendmail_config(paths)
    code, out, _ = run(capsys, "status", "--json")
    checks = {check["name"]: check for check in json.loads(out)["checks"]}
    assert checks["delivery"]["status"] == "fail" and "dpkg-reconfigure exim4-config" in checks["delivery"]["detail"]
    assert code == 1


def test_check_keeps_the_alert_pending_and_fails_naming_the_local_only_exim(
        paths: Paths, capsys: pytest.CaptureFixture, exim_queue: None):
    sendmail_config(paths)
    assert run(capsys, "check")[0] == 0  # seeds
    append_log(paths, login_line())
    code, _, err = run(capsys, "check")
    assert code == 1 and "local delivery only" in err and "stay pending" in err


def test_setup_with_a_local_only_exim_saves_nothing_unless_save_anyway(
        paths: Paths, capsys: pytest.CaptureFixture, exim_queue: None):
    flags = ["setup", "--non-interactive", "--no-dns-check", "--to", REMOTE, "--from", "ssh-alert@example.com",
             "--method", "sendmail"]
    code, out, err = run(capsys, *flags)
    assert code == 1 and out == "" and "local delivery only" in err and "--save-anyway" in err
    assert not paths.config_file.exists()
    code, out, err = run(capsys, *flags, "--save-anyway")
    assert paths.config_file.exists() and "saved although the connection test failed" in out
    assert "Test alert sent" not in out


def test_test_sees_exim_bounce_and_freeze_a_message_it_accepted(
        paths: Paths, capsys: pytest.CaptureFixture, exim_queue: None):
    # A local domain (so the config check passes) with a user that does not exist: exim accepts, then bounces
    # to the non-local from address, and freezes that bounce.
    sendmail_config(paths, to="nobody-{}@{}".format(uuid.uuid4().hex[:8], socket.gethostname()))
    code, out, err = run(capsys, "test")
    assert code == 1 and out == ""
    assert "accepted the message, then exim bounced it and froze the bounce" in err
    queue_id = re.search(r"exim -Mvh (\S+)", err).group(1)  # type: ignore[union-attr]
    assert queue_id in queue_ids()


def test_relation_tells_our_message_from_its_bounce():
    headers = "040  References: <abc@web1>\n035I Message-Id: <E1x@vm>\n"
    assert relation(headers, "<abc@web1>") == "bounce"
    assert relation("035I Message-Id: <abc@web1>\n", "<abc@web1>") == "own"
    assert relation(headers, "<other@web1>") == ""
    assert parse_queue(" 0m  1.5K 1xaPlv-0001Tt-2p <> *** frozen ***\n          a@b\n\n"
                       " 5m  2K 1xaPlw-0001Tt-2q <x@y>\n") == [("1xaPlv-0001Tt-2p", True), ("1xaPlw-0001Tt-2q", False)]


def test_a_pyz_user_sees_the_same_line(paths: Paths, pyz: Path, home: Path, shiv_root: Path):
    from helpers import pyz_env, run_pyz

    local_only_exim()
    sendmail_config(paths)
    result = run_pyz(pyz, ["test"], pyz_env(home, shiv_root))
    assert result.returncode == 1 and "local delivery only" in result.stderr and "Traceback" not in result.stderr
