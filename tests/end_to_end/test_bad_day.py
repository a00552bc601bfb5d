"""check on a bad day, with real parts: a full disk, an unwritable state directory, a FIFO or a device where the
log should be, a clock that ran ahead, kill -9 at random moments. Nothing is lost, nothing is sent twice
with a new Message-ID, and status tells the truth."""

import collections
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, List

import pytest

from app import cli
from app.store.store import RESERVE_PAGES, opened
from app.errors import LOG_NOT_REGULAR, ExitCode
from app.system.paths import Paths
from helpers import IN_CI, append_log, login_line, pyz_env, require, run_pyz, smtp_settings, write_config
from support.fulldisk import fill
from support.mailsink import MailSink
from support.stored import recorded
from support.users import SYSTEM_PYTHON, LocalUser, is_root

ONE_BY_ONE = {"digest_after": "1000", "max_per_hour": "10000"}


def connection(number: int) -> str:
    return "cport={} saddr=10.0.0.1 sport=22 tty=/dev/pts/0 hook=bash-profile".format(30000 + number)


def login(paths: Paths, number: int) -> None:
    append_log(paths, login_line(ip="198.51.{}.{}".format(number // 250, number % 250 + 1), extras=connection(number),
                                 when="2026-11-25 12:{:02d}:{:02d} +0000".format(number // 60 % 60, number % 60)))


def ips(sink: MailSink) -> List[str]:
    return [received.message["Subject"].split()[-1] for received in sink.messages]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs (root only; CI is root)."""
    require(is_root() and shutil.which("mount") is not None, "mounting a tmpfs needs root")
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mount_point)], check=True)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


# --- a full disk -------------------------------------------------------------------------------------------

def test_a_full_disk_sends_each_login_exactly_once_recorded_in_the_reserve(paths: Paths, pyz: Path, shiv_root: Path,
                                                                          sink: MailSink, small_disk: Path):
    environ = pyz_env(paths.home, shiv_root, XDG_STATE_HOME=str(small_disk))
    paths = Paths.from_environ(environ)
    write_config(paths, alert=ONE_BY_ONE, smtp=smtp_settings(sink))
    assert run_pyz(pyz, ["check"], environ).returncode == 0  # seeds, makes the reserve
    login(paths, 1)
    filler = fill(small_disk)
    for _ in range(5):
        assert run_pyz(pyz, ["check"], environ).returncode == 0
    assert ips(sink) == ["198.51.0.2"]
    for number in (2, 3, 4):  # the log's last page still has room: the hook's lines get in
        login(paths, number)
        for _ in range(3):
            assert run_pyz(pyz, ["check"], environ).returncode == 0
    assert ips(sink) == ["198.51.0.2", "198.51.0.3", "198.51.0.4", "198.51.0.5"]
    status = run_pyz(pyz, ["status"], environ)
    assert "0 login(s) pending" in status.stdout and "used its reserve" in status.stdout
    assert "Traceback" not in status.stdout + status.stderr

    filler.unlink()  # space again: the next run re-makes the reserve, still without a repeat
    assert run_pyz(pyz, ["check"], environ).returncode == 0
    assert len(sink.messages) == 4
    with opened(paths.store_file) as store:
        assert store.connection.execute("PRAGMA freelist_count").fetchone()[0] >= RESERVE_PAGES


def test_a_store_that_cannot_record_sends_nothing_then_each_login_once_when_it_can(
        paths: Paths, pyz: Path, shiv_root: Path, sink: MailSink, small_disk: Path):
    environ = pyz_env(paths.home, shiv_root, XDG_STATE_HOME=str(small_disk))
    paths = Paths.from_environ(environ)
    write_config(paths, alert=ONE_BY_ONE, smtp=smtp_settings(sink))
    assert run_pyz(pyz, ["check"], environ).returncode == 0
    login(paths, 1)
    # What ext4 does on errors=remount-ro: not even root can write there now.
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    try:
        for _ in range(3):
            result = run_pyz(pyz, ["check"], environ)
            assert result.returncode == ExitCode.USAGE
            assert result.stderr.startswith("ssh_alert: cannot write ")
            assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
        assert sink.messages == []  # what it could not record it does not send: no copy per check
        status = run_pyz(pyz, ["status"], environ)
        assert "1 login(s) pending" in status.stdout and "Traceback" not in status.stdout + status.stderr
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    assert run_pyz(pyz, ["check"], environ).returncode == 0
    assert run_pyz(pyz, ["check"], environ).returncode == 0
    assert ips(sink) == ["198.51.0.2"]


# --- an unwritable state directory (a second user: root writes through chmod) ----------------------------

def test_an_unwritable_state_directory_sends_each_login_exactly_once(pyz: Path, sink: MailSink, tmp_path: Path):
    require(is_root() and shutil.which("runuser") is not None and os.path.exists(SYSTEM_PYTHON),
            "a second user needs root, runuser and Debian's python3")
    with LocalUser() as user:
        paths = Paths.from_environ({"HOME": str(user.home)})
        write_config(paths, alert=ONE_BY_ONE, smtp=smtp_settings(sink))
        installed = user.home / "ssh_alert.pyz"
        shutil.copy2(str(pyz), str(installed))
        user.chown(user.home)
        check = [SYSTEM_PYTHON, str(installed), "check"]
        assert user.run(check).returncode == 0  # seeds
        login(paths, 1)
        user.chown(paths.state_dir)
        paths.state_dir.chmod(0o500)
        codes = [user.run(check).returncode for _ in range(5)]
        assert codes == [0] * 5
        assert ips(sink) == ["198.51.0.2"]
        paths.state_dir.chmod(0o700)


# --- hostile files where the log should be ---------------------------------------------------------------

@pytest.mark.parametrize("kind, make", [
    ("a FIFO", lambda path: os.mkfifo(str(path))),
    ("a symbolic link", lambda path: path.symlink_to("/dev/urandom")),
    ("a symbolic link", lambda path: path.symlink_to("/dev/zero")),
])
def test_a_log_that_is_not_a_regular_file_is_refused_in_one_line_without_hanging(
        kind: str, make, paths: Paths, pyz: Path, shiv_root: Path, sink: MailSink):
    environ = pyz_env(paths.home, shiv_root)
    write_config(paths, alert=ONE_BY_ONE, smtp=smtp_settings(sink))
    login(paths, 1)
    assert run_pyz(pyz, ["check"], environ).returncode == 0
    paths.login_log.unlink()
    make(paths.login_log)
    for command in (["check"], ["check", "--cron"]):
        result = run_pyz(pyz, command, environ, timeout=20)
        assert (result.returncode, result.stdout) == (ExitCode.USAGE, ""), result
        assert result.stderr == "ssh_alert: " + LOG_NOT_REGULAR.format(path=paths.login_log, kind=kind) + "\n"
    status = run_pyz(pyz, ["status"], environ, timeout=20)
    assert "Traceback" not in status.stdout + status.stderr
    assert sink.messages == []


# --- the clock ---------------------------------------------------------------------------------------------

def test_a_clock_that_ran_a_year_ahead_and_came_back_holds_nothing(paths: Paths, pyz: Path, shiv_root: Path,
                                                                    sink: MailSink):
    require(shutil.which("faketime") is not None, "faketime is not installed (apt-get install faketime)")
    environ = pyz_env(paths.home, shiv_root)
    write_config(paths, alert={"digest_after": "100", "max_per_hour": "3"}, smtp=smtp_settings(sink))
    assert run_pyz(pyz, ["check"], environ).returncode == 0
    for number in range(3):
        login(paths, number)
        ahead = subprocess.run(["faketime", "-f", "+365d", sys.executable, str(pyz), "check"], env=environ,
                               capture_output=True, text=True, timeout=60)
        assert ahead.returncode == 0, ahead
    assert len(sink.messages) == 3
    login(paths, 3)
    assert run_pyz(pyz, ["check"], environ).returncode == 0  # back to now: the year-ahead sends do not count
    assert ips(sink)[-1] == "198.51.0.4"


# --- kill -9 at random moments -------------------------------------------------------------------------------

def test_kill_9_at_random_moments_loses_nothing_and_every_duplicate_keeps_its_message_id(
        paths: Paths, pyz: Path, shiv_root: Path, sink: MailSink):
    environ = pyz_env(paths.home, shiv_root)
    write_config(paths, alert=ONE_BY_ONE, smtp=smtp_settings(sink))
    assert run_pyz(pyz, ["check"], environ).returncode == 0
    chooser = random.Random(8)
    per_run, kills = 15, 20 if not IN_CI else 40
    for round_number in range(kills):  # new logins before each run: every kill finds work
        for number in range(round_number * per_run, (round_number + 1) * per_run):
            login(paths, number)
        process = subprocess.Popen([sys.executable, str(pyz), "check"], env=environ, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        time.sleep(chooser.uniform(0.1, 0.3))
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert run_pyz(pyz, ["check"], environ).returncode == 0  # the rest, undisturbed (every killed one was waited for)
    expected = {"198.51.{}.{}".format(number // 250, number % 250 + 1) for number in range(kills * per_run)}
    assert set(ips(sink)) == expected  # nothing lost
    copies = collections.defaultdict(set)
    for received in sink.messages:
        copies[received.message["Subject"]].add(received.message["Message-ID"])
    assert all(len(ids) == 1 for ids in copies.values())  # a duplicate is recognisable: the same Message-ID
    assert len(recorded(paths)) == kills * per_run  # the history has each login once


# --- status tells the truth --------------------------------------------------------------------------------

def test_status_counts_pending_connections_not_log_lines(configured: Paths):
    from app.commands.status import run_status

    cli.main(["check"])  # seed
    for number in range(3):  # three connections, each seen by two hooks
        login(configured, number)
        login(configured, number)
    pending = [check for check in run_status(configured) if check.name == "pending"]
    assert [check.detail for check in pending] == ["3 login(s) pending"]


def test_a_crashed_check_is_fail_in_status_with_its_one_line_reason(configured: Paths, monkeypatch, capsys):
    from app.check import run
    from app.commands.status import FAIL, run_status

    cli.main(["check"])  # seed
    login(configured, 1)

    def crash(paths: Paths, scan_sessions: bool = False) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(run, "run_check", crash)
    monkeypatch.setattr("app.commands.check.run_check", crash, raising=False)
    assert cli.main(["check"]) == ExitCode.INTERNAL
    capsys.readouterr()
    errors = [check for check in run_status(configured) if check.name == "last error"]
    assert [check.status for check in errors] == [FAIL]
    assert "internal error (RuntimeError: boom)" in errors[0].detail


def test_a_held_warning_repeated_by_later_checks_is_logged_once(paths: Paths, sink: MailSink):
    from app.commands.check import run_check

    write_config(paths, alert={"digest_after": "100", "max_per_hour": "1"}, smtp=smtp_settings(sink))
    run_check(paths)
    for number in range(4):
        login(paths, number)
        run_check(paths)
    assert len(sink.messages) == 2  # one within the limit, the next at once as a digest; the rest wait a minute
    assert paths.oplog_file.read_text().count("held by max_per_hour") == 1


def test_history_json_of_a_busy_account_is_narrowed_in_the_store(configured: Paths, sink: MailSink, capsys):
    cli.main(["check"])
    for number in range(50):
        login(configured, number)
    cli.main(["check"])
    capsys.readouterr()
    assert cli.main(["history", "--ip", "198.51.0.7", "--json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert entry["ip"] == "198.51.0.7"


def test_a_python_without_sqlite3_is_told_so_in_one_line(configured: Paths, pyz: Path, shiv_root: Path,
                                                          tmp_path: Path):
    from app.errors import NO_SQLITE

    blocker = tmp_path / "no-sqlite"  # ahead of the standard library: neither the package nor its C module
    (blocker / "sqlite3").mkdir(parents=True)
    (blocker / "sqlite3" / "__init__.py").write_text("raise ImportError('No module named _sqlite3')\n")
    (blocker / "_sqlite3.py").write_text("raise ImportError('No module named _sqlite3')\n")
    environ = pyz_env(configured.home, shiv_root, PYTHONPATH=str(blocker))
    login(configured, 1)
    result = run_pyz(pyz, ["check"], environ)
    assert (result.returncode, result.stdout) == (ExitCode.USAGE, "")
    assert result.stderr == "ssh_alert: " + NO_SQLITE.format(python=sys.executable) + "\n"


def test_a_state_directory_another_user_can_write_is_refused_in_one_line_and_status_fails(
        configured: Paths, pyz: Path, shiv_root: Path, sink: MailSink):
    from app.errors import USE_STATE, UNSAFE_WRITABLE

    environ = pyz_env(configured.home, shiv_root)
    assert run_pyz(pyz, ["check"], environ).returncode == 0
    login(configured, 1)
    configured.state_dir.chmod(0o770)
    result = run_pyz(pyz, ["check"], environ)
    expected = UNSAFE_WRITABLE.format(path=configured.state_dir, who="group", mode=0o770, use=USE_STATE)
    assert (result.returncode, result.stdout, result.stderr) == (ExitCode.USAGE, "", "ssh_alert: " + expected + "\n")
    status = run_pyz(pyz, ["status"], environ)
    assert "FAIL  state" in status.stdout and expected in status.stdout
    assert sink.messages == []
    configured.state_dir.chmod(0o700)
    assert run_pyz(pyz, ["check"], environ).returncode == 0
    assert ips(sink) == ["198.51.0.2"]


def test_a_full_disk_pushes_each_login_exactly_once_too(paths: Paths, pyz: Path, shiv_root: Path, sink: MailSink,
                                                        small_disk: Path):
    from support.httpsworld import HttpsWorld

    environ = pyz_env(paths.home, shiv_root, XDG_STATE_HOME=str(small_disk))
    paths = Paths.from_environ(environ)
    with HttpsWorld() as receiver:
        ca_file = paths.home / "receiver-ca.pem"
        shutil.copy(receiver.ca_file, str(ca_file))
        write_config(paths, alert=dict(ONE_BY_ONE, channels="email, webhook"), smtp=smtp_settings(sink))
        with open(str(paths.config_file), "a") as handle:
            handle.write("[webhook]\nurl = {}/hook\nformat = plain\nca_file = {}\n".format(receiver.url, ca_file))
        assert run_pyz(pyz, ["check"], environ).returncode == 0
        login(paths, 1)
        fill(small_disk)
        for number in (2, 3, 4):
            for _ in range(3):
                assert run_pyz(pyz, ["check"], environ).returncode == 0
            login(paths, number)
        for _ in range(3):
            assert run_pyz(pyz, ["check"], environ).returncode == 0
        events = [json.loads(request.body) for request in receiver.requests]
    assert sorted(event["logins"][0]["ip"] for event in events) == ips(sink) == [
        "198.51.0.2", "198.51.0.3", "198.51.0.4", "198.51.0.5"]


def test_kill_9_at_random_moments_pushes_every_login_and_a_repeat_carries_its_event_id(
        paths: Paths, pyz: Path, shiv_root: Path, sink: MailSink):
    from support.httpsworld import HttpsWorld

    environ = pyz_env(paths.home, shiv_root)
    with HttpsWorld() as receiver:
        write_config(paths, alert=dict(ONE_BY_ONE, channels="email, webhook"), smtp=smtp_settings(sink))
        with open(str(paths.config_file), "a") as handle:
            handle.write("[webhook]\nurl = {}/hook\nformat = plain\nca_file = {}\n".format(receiver.url,
                                                                                      receiver.ca_file))
        assert run_pyz(pyz, ["check"], environ).returncode == 0
        chooser = random.Random(9)
        per_run, kills = 10, 12 if not IN_CI else 30
        for round_number in range(kills):
            for number in range(round_number * per_run, (round_number + 1) * per_run):
                login(paths, number)
            process = subprocess.Popen([sys.executable, str(pyz), "check"], env=environ, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
            time.sleep(chooser.uniform(0.1, 0.3))
            process.send_signal(signal.SIGKILL)
            process.wait()
        with opened(paths.store_file) as store, store.transaction():  # time passes: backoffs are over
            store.connection.execute("UPDATE channels SET not_before = NULL")
        assert run_pyz(pyz, ["check"], environ).returncode == 0  # in the foreground: its requests are recorded
        events = [json.loads(request.body) for request in receiver.requests]
    expected = {"198.51.{}.{}".format(number // 250, number % 250 + 1) for number in range(kills * per_run)}
    assert {event["logins"][0]["ip"] for event in events} == expected  # nothing lost
    by_login = collections.defaultdict(set)
    for event in events:
        by_login[event["logins"][0]["ip"]].add(event["id"])
    assert all(len(ids) == 1 for ids in by_login.values())  # a repeat is the same event: receivers drop it
