"""A lost store is an event, not a first run: a notice through every channel, and the logins since the last
position it can still know are alerted (the run mark in the lock file, else the last 24 hours by epoch)."""

import json
import os
import shutil
import time
from typing import Iterator

import pytest

from app.check import reset, unrecorded
from app.logins import runmark
from app.logins.loginline import parse_line
from app.logins.runmark import AHEAD
from app.store.store import opened
from app.commands.check import run_check
from app.system.paths import Paths
from helpers import append_log, login_line, smtp_settings, write_config
from support.httpsworld import HttpsWorld, without_proxies
from support.mailsink import MailSink


def line_at(epoch: float, ip: str, port: int) -> bytes:
    """A hook's line for a login at epoch (built from now: no fixed dates)."""
    when = time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(epoch))
    return login_line(ip=ip, when=when, extras="cport={} saddr=10.0.0.1 sport=22 tty=/dev/pts/0 hook=bash-profile "
                                               "epoch={:.0f}".format(port, epoch))


def subjects(sink: MailSink):
    return [received.message["Subject"] for received in sink.messages]


def remove_store(paths: Paths) -> None:
    """What an intruder's `rm store.db*` does."""
    for path in paths.state_dir.glob("store.db*"):
        path.unlink()


def test_a_true_first_run_seeds_silently_with_a_hand_written_config(configured: Paths, sink: MailSink):
    append_log(configured, line_at(time.time() - 60, "198.51.100.1", 40001))
    assert run_check(configured).seeded == 1
    assert sink.messages == []


def test_rm_of_the_store_between_two_logins_sends_a_reset_notice_and_alerts_the_second_login(configured: Paths,
                                                                                            sink: MailSink):
    now = time.time()
    append_log(configured, line_at(now - 7200, "192.0.2.1", 40001))
    run_check(configured)  # seeds
    append_log(configured, line_at(now - 120, "198.51.100.1", 40002))
    run_check(configured)
    assert len(sink.messages) == 1
    remove_store(configured)
    append_log(configured, line_at(now - 5, "198.51.100.2", 40003))
    result = run_check(configured)
    assert result.seeded is None
    sent = subjects(sink)[1:]
    assert len(sent) == 2
    assert reset.RESET_SUBJECT.format(how=reset.MISSING) in sent[0]
    assert sent[1].endswith("198.51.100.2")  # the login since the kept position; the earlier ones not again
    body = sink.messages[1].message.get_content()
    assert str(configured.lock_file) in body and "last position" in body
    run_check(configured)
    assert len(sink.messages) == 3  # once


def test_a_store_lost_with_its_lock_file_alerts_the_lines_of_the_last_day(configured: Paths, sink: MailSink):
    now = time.time()
    append_log(configured, line_at(now - 3 * 86400, "192.0.2.1", 40001))
    run_check(configured)
    append_log(configured, line_at(now - 2 * 86400, "192.0.2.2", 40002))
    run_check(configured)  # "sent: ..." in the operations log: a sign of earlier runs
    append_log(configured, line_at(now - 3600, "198.51.100.3", 40003), line_at(now - 60, "198.51.100.4", 40004))
    remove_store(configured)
    configured.lock_file.unlink()
    run_check(configured)
    sent = subjects(sink)[1:]
    assert reset.RESET_SUBJECT.format(how=reset.MISSING) in sent[0]
    assert [subject.split()[-1] for subject in sent[1:]] == ["198.51.100.3", "198.51.100.4"]
    assert "last 24 hours" in sink.messages[1].message.get_content()


def test_an_empty_store_file_after_earlier_runs_is_a_reset(configured: Paths, sink: MailSink):
    append_log(configured, line_at(time.time() - 60, "192.0.2.1", 40001))
    run_check(configured)
    remove_store(configured)
    configured.store_file.write_bytes(b"")
    append_log(configured, line_at(time.time(), "198.51.100.5", 40002))
    run_check(configured)
    assert reset.RESET_SUBJECT.format(how=reset.EMPTY) in subjects(sink)[0]
    assert subjects(sink)[1].endswith("198.51.100.5")


def test_an_unusable_store_is_moved_aside_and_the_logins_since_the_kept_position_are_alerted(configured: Paths,
                                                                                            sink: MailSink):
    append_log(configured, line_at(time.time() - 60, "192.0.2.1", 40001))
    run_check(configured)
    append_log(configured, line_at(time.time(), "198.51.100.6", 40002))
    configured.store_file.write_bytes(b"{not a database" * 100)
    run_check(configured)
    assert reset.RESET_SUBJECT.format(how=reset.UNUSABLE) in subjects(sink)[0]
    assert "moved to" in sink.messages[0].message.get_content()
    assert subjects(sink)[1].endswith("198.51.100.6")
    assert list(configured.state_dir.glob("store.db.unusable-*"))


def test_the_run_mark_keeps_the_position_outside_the_store_and_writes_only_when_it_moves(configured: Paths,
                                                                                       sink: MailSink):
    append_log(configured, line_at(time.time(), "192.0.2.1", 40001))
    run_check(configured)
    mark = runmark.read_file(configured.lock_file)
    with opened(configured.store_file) as store:
        assert runmark.position(mark) == store.position()
    assert mark["seeded"] is True and mark["time"] <= time.time()
    assert configured.lock_file.stat().st_size == runmark.LOCK_BYTES
    run_check(configured)
    assert runmark.read_file(configured.lock_file) == mark  # a quiet run leaves it as it was
    append_log(configured, line_at(time.time(), "198.51.100.1", 40002))
    run_check(configured)
    assert runmark.position(runmark.read_file(configured.lock_file)).offset > runmark.position(mark).offset


def test_an_install_record_from_before_the_first_seed_is_no_sign_of_an_earlier_run(configured: Paths,
                                                                                   sink: MailSink):
    from app.install.installplan import RECORD_FORMAT, record_path

    configured.state_dir.mkdir(parents=True, exist_ok=True)
    record_path(configured).write_text(json.dumps({"format": RECORD_FORMAT, "seeded": False}))
    append_log(configured, line_at(time.time(), "192.0.2.1", 40001))
    assert run_check(configured).seeded == 1
    record_path(configured).write_text(json.dumps({"format": RECORD_FORMAT}))  # an install after a seed
    remove_store(configured)
    configured.lock_file.unlink()
    assert run_check(configured).seeded is None
    assert reset.RESET_SUBJECT.format(how=reset.MISSING) in subjects(sink)[0]


@pytest.fixture
def ntfy(monkeypatch: pytest.MonkeyPatch) -> Iterator[HttpsWorld]:
    without_proxies(monkeypatch)
    world = HttpsWorld(api="ntfy")
    try:
        yield world
    finally:
        world.close()


def test_the_reset_notice_goes_through_every_channel(paths: Paths, sink: MailSink, ntfy: HttpsWorld):
    write_config(paths, alert={"channels": "email, ntfy"}, smtp=smtp_settings(sink))
    shutil.copy(ntfy.ca_file, str(paths.home / "ntfy-ca.pem"))
    with open(str(paths.config_file), "a") as handle:
        handle.write("[ntfy]\nurl = {}/alerts\nca_file = {}\n".format(ntfy.url, paths.home / "ntfy-ca.pem"))
    append_log(paths, line_at(time.time() - 60, "192.0.2.1", 40001))
    run_check(paths)
    remove_store(paths)
    append_log(paths, line_at(time.time(), "198.51.100.7", 40002))
    run_check(paths)
    bodies = [request.body.decode("utf-8", "replace") + json.dumps(dict(request.headers))
              for request in ntfy.wait_for(2)]
    assert any("state was reset" in body for body in bodies)
    assert any("198.51.100.7" in body for body in bodies)
    assert "state was reset" in subjects(sink)[0]


def test_the_watch_says_its_baseline_was_reset(configured: Paths, sink: MailSink):
    ssh = configured.home / ".ssh"
    ssh.mkdir(mode=0o700)
    blob = "AAAAC3NzaC1lZDI1NTE5AAAAIGJ7ZcXnTj0yq9b3vQ3xL9dY2cO8nZk0m1pW4sR5tU6v"
    (ssh / "authorized_keys").write_text("ssh-ed25519 {} added@meanwhile\n".format(blob))
    append_log(configured, line_at(time.time() - 60, "192.0.2.1", 40001))
    run_check(configured, scan_sessions=True)
    remove_store(configured)
    run_check(configured, scan_sessions=True)
    found = [received.message for received in sink.messages if reset.BASELINE_SUBJECT in received.message["Subject"]]
    assert len(found) == 1 and "added@meanwhile" in found[0].get_content()
    run_check(configured, scan_sessions=True)
    assert len([1 for received in sink.messages if reset.BASELINE_SUBJECT in received.message["Subject"]]) == 1


def test_the_baseline_notice_leaves_the_sshd_settings_the_watch_read_in_the_store(configured: Paths, sink: MailSink):
    from app.check.health import SSHD_TEXT
    from app.watch.watch import sshd_text

    append_log(configured, line_at(time.time() - 60, "192.0.2.1", 40001))
    run_check(configured, scan_sessions=True)
    remove_store(configured)
    run_check(configured, scan_sessions=True)  # reads sshd's settings afresh and posts the baseline notice
    with opened(configured.store_file) as store:
        kept = store.get(SSHD_TEXT)
    assert "baseline" not in str(kept)  # the notice's text once took the settings' place
    assert kept == sshd_text()


# --- the run mark and the hook's environment (pure parts) ------------------------------------------------------

def test_a_run_mark_never_outgrows_its_bytes_and_drops_the_oldest_connections_first():
    mark = {"position": [1, 2, 3, "a" * 32], AHEAD: [1, 2, 9, "b" * 32],
            "unrecorded": [["198.51.100.{} {} 10.0.0.1 22 {}".format(number, 40000 + number, 99999), 1e9 + number]
                           for number in range(40)]}
    data = runmark.encode(mark)
    assert len(data) == runmark.RUN_MARK_BYTES
    back = runmark.parse(data)
    assert runmark.furthest(back) == runmark.position(mark, AHEAD)
    assert runmark.unrecorded(back)[-1][0].startswith("198.51.100.39 ")
    assert runmark.parse(b"\xff garbage") == {} and runmark.position({"position": "x"}) is None
    with pytest.raises(ValueError):
        runmark.encode({"position": "x" * 1000})  # never written cut


def test_the_line_built_from_the_environment_is_the_hooks_line_with_its_identity(tmp_path):
    auth = tmp_path / "auth"
    auth.write_text("publickey ssh-ed25519 AAAAkey\nkeyboard-interactive\n")
    now = time.time()
    built = unrecorded.environment_line({"SSH_CONNECTION": "203.0.113.9 52222 10.0.0.1 22", "SSH_ALERT_SPID": "4242",
                                         "SSH_USER_AUTH": str(auth), "USER": "alice", "SSH_TTY": "/dev/pts/1"}, now)
    record = parse_line(built)
    assert record.parsed and record.connection_key == "203.0.113.9 52222 10.0.0.1 22 4242"
    assert record.epoch == float(int(now)) and record.methods == ("publickey", "keyboard-interactive")
    assert record.extra("key") == "AAAAkey" and record.extra("tty") == "/dev/pts/1"
    assert unrecorded.environment_line({"SSH_CONNECTION": "203.0.113.9 52222 10.0.0.1 22"}, now) is None  # not a hook's
    assert unrecorded.environment_line({"SSH_CONNECTION": "1 2", "SSH_ALERT_SPID": "1"}, now) is None


def test_a_fifo_as_ssh_user_auth_does_not_block_the_line_from_the_environment(tmp_path):
    fifo = tmp_path / "auth"
    os.mkfifo(str(fifo))
    built = unrecorded.environment_line({"SSH_CONNECTION": "203.0.113.9 52222 10.0.0.1 22", "SSH_ALERT_SPID": "1",
                                         "SSH_USER_AUTH": str(fifo)}, time.time())
    assert parse_line(built).methods == ()


def test_status_on_a_fresh_install_with_room_on_the_disk_does_not_warn_about_the_reserve(configured: Paths,
                                                                                        sink: MailSink):
    from app.commands.status import run_status

    run_check(configured)
    with opened(configured.store_file) as store, store.transaction():  # the reserve partly used, as by a login
        store.connection.execute("INSERT INTO reserve (filler) VALUES (zeroblob(40000))")
    assert [check for check in run_status(configured) if check.name == "disk"] == []


def test_an_operations_log_of_failed_checks_alone_is_no_sign_of_an_earlier_run(configured: Paths, sink: MailSink):
    """A check before setup fails on the missing config and logs it: that is not a run that alerted anything."""
    from app.system import oplog

    configured.state_dir.mkdir(parents=True, exist_ok=True)
    oplog.logger(configured.oplog_file).error("no configuration at ...; run: ssh_alert.pyz setup")
    append_log(configured, line_at(time.time(), "192.0.2.1", 40001))
    assert run_check(configured).seeded == 1
    assert sink.messages == []


def test_hook_blocks_without_an_install_record_are_a_sign_of_an_earlier_run(configured: Paths, sink: MailSink):
    from app.install.hooks import render_hook

    (configured.home / ".bashrc").write_text(render_hook())
    append_log(configured, line_at(time.time() - 60, "198.51.100.8", 40001))
    assert run_check(configured).seeded is None
    assert reset.RESET_SUBJECT.format(how=reset.MISSING) in subjects(sink)[0]
    assert subjects(sink)[1].endswith("198.51.100.8")  # the last 24 hours
