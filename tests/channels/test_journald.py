"""The journald channel: a real systemd-journald (in a private namespace, read back with journalctl -o json) where
the machine has one, else a socket server decoding the native protocol; in CI the real one is required."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from app.check.events import login_event
from app.store.history import EMAILED, HistoryEntry
from app.channels import journald
from app.channels.base import RETRY, SENT
from helpers import PYZ, append_log, login_line, pyz_env, require, smtp_settings, write_config
from support.journal import Journal, by_event, can_run_journald, journal_fixture, parse_native
from support.mailsink import MailSink

ALICE = HistoryEntry(time="", epoch=time.time(), user="alice", ip="203.0.113.7", rdns="", methods=("publickey",),
                     key="ssh-ed25519 SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s", key_comment="",
                     kind="command", outcome=EMAILED, new_ip=True, trusted=False, log_key="1:2:3", port="51234",
                     country="DE", asn=64500, org="Example Hosting GmbH")


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    if os.environ.get("CI") == "true":
        require(can_run_journald(), "systemd-journald and journalctl (Debian package systemd), as root")
    yield from journal_fixture(tmp_path)


def test_a_login_is_one_entry_with_its_fields_and_priority(journal: Journal) -> None:
    event = login_event(ALICE, "conn|1", "web1.example.com", urgent=True)
    assert journald.sender(journal.socket)(event).state == SENT
    (entry,) = journal.entries()
    assert entry["MESSAGE"] == "SSH login: alice@web1.example.com from 203.0.113.7"
    assert entry["PRIORITY"] == "4"
    assert {name: entry[name] for name in ("SSH_ALERT_EVENT_ID", "SSH_ALERT_USER", "SSH_ALERT_RHOST",
                                           "SSH_ALERT_PORT", "SSH_ALERT_KEY_FP", "SSH_ALERT_KIND",
                                           "SSH_ALERT_COUNTRY", "SSH_ALERT_ASN")} == {
        "SSH_ALERT_EVENT_ID": event["id"], "SSH_ALERT_USER": "alice", "SSH_ALERT_RHOST": "203.0.113.7",
        "SSH_ALERT_PORT": "51234", "SSH_ALERT_KEY_FP": "ssh-ed25519 SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s",
        "SSH_ALERT_KIND": "command", "SSH_ALERT_COUNTRY": "DE", "SSH_ALERT_ASN": "64500"}


def test_a_hostile_user_name_cannot_forge_a_field_or_a_trusted_one(journal: Journal) -> None:
    event = login_event(ALICE._replace(user="eve\nSSH_ALERT_USER=root\n_UID=0"), "conn|2", "web1")
    journald.sender(journal.socket)(event)
    (entry,) = journal.entries()
    assert entry["SSH_ALERT_USER"].startswith("eve") and "\n" not in entry["SSH_ALERT_USER"]
    assert entry.get("_UID") != "0" or os.geteuid() == 0  # _ fields are journald's own, never ours


def test_an_entry_too_large_for_one_datagram_goes_as_a_memfd(journal: Journal) -> None:
    payload = journald._field("MESSAGE", "large entry") + journald._field("SYSLOG_IDENTIFIER", "ssh_alert") + \
        b"".join(journald._field("SSH_ALERT_PART{}".format(index), "x" * 60000) for index in range(8))
    journald.send([payload], journal.socket)
    (entry,) = journal.entries()
    assert entry["MESSAGE"] == "large entry" and len(entry["SSH_ALERT_PART7"]) == 60000


def test_a_value_with_a_newline_uses_the_binary_form() -> None:
    payload = journald._field("MESSAGE", "two\nlines")
    assert payload.startswith(b"MESSAGE\n") and parse_native(payload) == {"MESSAGE": "two\nlines"}


def test_a_missing_socket_is_a_retry_not_an_error(tmp_path: Path) -> None:
    outcome = journald.sender(str(tmp_path / "nothing"))(login_event(ALICE, "conn|3", "web1"))
    assert outcome.state == RETRY and "cannot write to journald" in outcome.detail


def test_each_login_reaches_the_journal_once_by_event_id_across_kill_9(journal: Journal, tmp_path: Path,
                                                                      sink: MailSink) -> None:
    home = tmp_path / "home"
    home.mkdir()
    from app.system.paths import Paths

    paths = Paths.from_environ({"HOME": str(home)})
    write_config(paths, alert={"journald": "yes", "journald_socket": journal.socket}, smtp=smtp_settings(sink))
    environ = pyz_env(home, shiv_root=tmp_path / "shiv")
    check = [sys.executable, str(PYZ), "check"]
    subprocess.run(check, env=environ, capture_output=True, timeout=60)  # the first run starts at the log's end
    logins = 12
    for number in range(logins):
        when = time.strftime("%Y-%m-%d %H:%M:%S +0000", time.gmtime(time.time() - 100 + number))
        append_log(paths, login_line(ip="203.0.113.{}".format(number + 1), when=when,
                                     extras="cport={} saddr=10.0.0.1 sport=22 tty=none kind=command".format(
                                         41000 + number)))
    randomly = random.Random(23)
    for _ in range(6):  # runs killed at random instants, then one allowed to finish
        process = subprocess.Popen(check, env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(randomly.uniform(0.05, 0.6))
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert subprocess.run(check, env=environ, capture_output=True, timeout=60).returncode == 0
    counts = by_event(journal.entries())
    assert len(counts) == logins and None not in counts  # every login, each under one event id
    assert sum(counts.values()) - logins <= 6  # a kill between send and record repeats one entry, same id


def test_test_channel_journald_writes_one_entry(journal: Journal, tmp_path: Path, sink: MailSink) -> None:
    home = tmp_path / "home"
    home.mkdir()
    from app.system.paths import Paths

    paths = Paths.from_environ({"HOME": str(home)})
    write_config(paths, alert={"journald": "yes", "journald_socket": journal.socket}, smtp=smtp_settings(sink))
    result = subprocess.run([sys.executable, str(PYZ), "test", "--channel", "journald"],
                            env=pyz_env(home, shiv_root=tmp_path / "shiv"), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    (entry,) = journal.entries()
    assert entry["SSH_ALERT_TYPE"] == "test" and entry["MESSAGE"].startswith("ssh_alert test from")
