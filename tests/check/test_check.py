"""check: the state diff delivers every appended login exactly once, in order, and loses nothing."""

import base64
import multiprocessing
import os
import sqlite3
import time
from pathlib import Path

import pytest

from app.commands.check import run_check
from app.store.schema import SCHEMA_VERSION
from app.store.store import Store, opened
from app.errors import NO_CONFIG, STORE_NOT_REGULAR, ExitCode, UserError
from app.system.paths import Paths
from helpers import append_log, login_line, smtp_settings, write_config
from support.mailsink import HangingServer, MailSink
from support.stored import failures, shift_send_times, unsent


def subjects(server: MailSink):
    """Subjects without the [NEW IP] tag (these tests are about order and exactly-once; test_policy covers tags)."""
    return [received.message["Subject"].replace("[NEW IP] ", "") for received in server.messages]


def test_check_without_config_refuses_with_setup_advice_and_touches_nothing(paths: Paths):
    append_log(paths, login_line())
    with pytest.raises(UserError) as caught:
        run_check(paths)
    assert caught.value.message == NO_CONFIG.format(path=paths.config_file)
    assert caught.value.exit_code == ExitCode.USAGE
    assert not paths.store_file.exists()


def test_check_first_run_seeds_without_alerting_and_logs_the_skipped_count(configured: Paths, sink: MailSink):
    append_log(configured, login_line(ip="198.51.100.1"), login_line(ip="198.51.100.2"))
    result = run_check(configured)
    assert result.seeded == 2
    assert sink.messages == []
    assert "2 earlier login(s)" in configured.oplog_file.read_text()


def test_check_alerts_each_new_login_once_in_order(configured: Paths, sink: MailSink):
    run_check(configured)
    append_log(configured, login_line(ip="198.51.100.1"), login_line(ip="198.51.100.2", user="bob"))
    assert run_check(configured).sent == 2
    assert subjects(sink) == ["SSH login: alice@web1.example.com from 198.51.100.1",
                              "SSH login: bob@web1.example.com from 198.51.100.2"]
    assert run_check(configured).sent == 0
    assert len(sink.messages) == 2


def test_check_with_nothing_new_prints_nothing_and_sends_nothing(configured: Paths, sink: MailSink, capsys):
    run_check(configured)
    run_check(configured)
    assert capsys.readouterr() == ("", "")
    assert sink.messages == []


def test_check_with_identical_duplicate_lines_alerts_each_once(configured: Paths, sink: MailSink):
    """The original script's lines name no connection: identical ones are separate logins."""
    run_check(configured)
    legacy = b"2026-11-25 11:55:03 +0000 203.0.113.7 alice publickey"
    append_log(configured, legacy, legacy, legacy)
    run_check(configured)
    run_check(configured)
    assert len(sink.messages) == 3


def test_check_with_truncated_log_alerts_new_lines_once(configured: Paths, sink: MailSink):
    append_log(configured, *[login_line(ip="192.0.2.{}".format(number)) for number in range(5)])
    run_check(configured)
    with open(str(configured.login_log), "wb") as handle:  # truncate in place (same inode)
        handle.write(login_line(ip="198.51.100.9") + b"\n")
    run_check(configured)
    run_check(configured)
    assert subjects(sink) == ["SSH login: alice@web1.example.com from 198.51.100.9"]


def test_check_with_log_rewritten_past_the_old_offset_still_alerts_every_new_line(configured: Paths,
                                                                                    sink: MailSink):
    append_log(configured, login_line(ip="192.0.2.1"))
    run_check(configured)
    with open(str(configured.login_log), "wb") as handle:  # same inode, now longer than before
        handle.write(b"".join(login_line(ip="198.51.100.{}".format(number)) + b"\n" for number in range(3)))
    run_check(configured)
    assert len(sink.messages) == 3


def test_check_with_rotated_log_finishes_the_old_file_then_alerts_the_new_one(configured: Paths, sink: MailSink):
    append_log(configured, login_line(ip="192.0.2.1"))
    run_check(configured)
    append_log(configured, login_line(ip="198.51.100.1"))  # written before rotation, not yet alerted
    os.rename(str(configured.login_log), str(configured.login_log) + ".1")
    append_log(configured, login_line(ip="198.51.100.2"))
    run_check(configured)
    assert [subject.split()[-1] for subject in subjects(sink)] == ["198.51.100.1", "198.51.100.2"]


def test_check_with_corrupt_store_sends_one_reset_notice_without_replaying_what_was_alerted(configured: Paths,
                                                                                            sink: MailSink):
    append_log(configured, login_line(ip="192.0.2.1"), login_line(ip="192.0.2.2"))
    run_check(configured)
    configured.store_file.write_bytes(b"{not a database" * 100)
    run_check(configured)
    (notice,) = sink.messages
    assert "state was reset: the store was unusable" in notice.message["Subject"]
    body = notice.message.get_content()
    assert str(configured.store_file) in body and "moved to" in body
    assert list(configured.state_dir.glob("store.db.unusable-*"))  # kept for a look, never read again
    run_check(configured)
    assert len(sink.messages) == 1  # the lines alerted before (the lock file's run mark) are not replayed
    append_log(configured, login_line(ip="198.51.100.7"))
    run_check(configured)
    assert subjects(sink)[-1].endswith("198.51.100.7")


def test_check_with_corrupt_store_and_failing_delivery_keeps_the_notice_pending_then_sends_it_once(paths: Paths):
    with HangingServer() as hanging:
        write_config(paths, smtp=smtp_settings(hanging, timeout="1"))
        append_log(paths, login_line(when=time.strftime("%Y-%m-%d %H:%M:%S +0000", time.gmtime(time.time() - 60))))
        paths.state_dir.mkdir(parents=True, exist_ok=True)
        paths.store_file.write_bytes(b"garbage" * 1000)
        with pytest.raises(UserError) as caught:
            run_check(paths)
    assert caught.value.exit_code == ExitCode.DELIVERY_FAILED
    assert [row.kind for row in unsent(paths)] == ["notice"]  # the next check sends the notice
    with MailSink("plain") as sink:
        write_config(paths, smtp=smtp_settings(sink))
        run_check(paths)
        run_check(paths)
        # the notice once, then the login of the last 24 hours (no position survived)
        assert ["state was reset" in received.message["Subject"] for received in sink.messages] == [True, False]


def test_check_with_malformed_lines_alerts_them_with_the_raw_text_shown_safely(configured: Paths, sink: MailSink):
    run_check(configured)
    append_log(configured, b"", b"only three fields", b"\xff\xfe\x1b[2J\x00 binary", b"x" * 1_000_000)
    run_check(configured)
    messages = sink.messages
    assert len(messages) == 4
    for received in messages:
        assert "unrecognised" in received.message["Subject"]
        body = received.message.get_content()
        assert "\x1b" not in body and "\x00" not in body
        assert max(len(line) for line in received.raw.split(b"\r\n")) < 998
    assert "\\x1b[2J\\x00 binary" in messages[2].message.get_content()


def test_check_with_server_that_never_answers_times_out_keeps_alerts_and_a_later_check_delivers(paths: Paths):
    with HangingServer() as hanging:
        write_config(paths, smtp=smtp_settings(hanging, timeout="1"))
        run_check(paths)
        append_log(paths, login_line(ip="198.51.100.1"), login_line(ip="198.51.100.2"))
        started = time.monotonic()
        with pytest.raises(UserError) as caught:
            run_check(paths)
        assert time.monotonic() - started < 5
    assert caught.value.exit_code == ExitCode.DELIVERY_FAILED
    assert "no answer from" in caught.value.message and "2 alert(s) stay pending" in caught.value.message
    (failure,) = failures(paths)
    assert failure[0] == "check" and "no answer" in failure[2]
    with MailSink("plain") as sink:
        write_config(paths, smtp=smtp_settings(sink))
        assert run_check(paths).sent == 2
        assert [subject.split()[-1] for subject in subjects(sink)] == ["198.51.100.1", "198.51.100.2"]
    assert failures(paths) == []


def test_a_recipient_refused_for_good_does_not_silence_the_others_and_is_not_retried(paths: Paths):
    from app.commands.status import FAIL, run_status

    with MailSink("plain", refuse={"second@example.com"}) as sink:
        write_config(paths, alert={"to": "owner@example.com, second@example.com"}, smtp=smtp_settings(sink))
        run_check(paths)
        append_log(paths, login_line(ip="198.51.100.1"))
        assert run_check(paths).sent >= 1
        append_log(paths, login_line(ip="198.51.100.2"))
        run_check(paths)
        run_check(paths)  # nothing pending: nothing sent again (the sink records a message before its reply)
        alerts = [received for received in sink.messages if "SSH login" in received.message["Subject"]]
        notices = [received for received in sink.messages if "refused" in received.message["Subject"]]
        assert [received.envelope_to for received in alerts] == [["owner@example.com"]] * 2  # one copy each
        assert len(notices) == 1 and "second@example.com" in notices[0].message.get_content()
        (check,) = [check for check in run_status(paths) if check.name == "recipient"]
        assert check.status == FAIL and "second@example.com" in check.detail
        write_config(paths, alert={"to": "owner@example.com"}, smtp=smtp_settings(sink))
        assert [check for check in run_status(paths) if check.name == "recipient"] == []  # fixed: no FAIL


def _check_in_child(paths: Paths) -> int:
    try:
        run_check(paths)
    except UserError as error:
        return int(error.exit_code)
    return 0


def test_concurrent_checks_deliver_each_login_exactly_once(configured: Paths, sink: MailSink):
    run_check(configured)
    append_log(configured, *[login_line(ip="198.51.100.{}".format(number)) for number in range(20)])
    with multiprocessing.get_context("fork").Pool(8) as pool:
        exit_codes = pool.map(_check_in_child, [configured] * 8)
    assert exit_codes == [0] * 8
    assert sorted(subjects(sink)) == sorted("SSH login: alice@web1.example.com from 198.51.100.{}".format(number)
                                            for number in range(20))


def test_check_with_an_unreadable_state_of_the_previous_release_sends_notice_and_reseeds(configured: Paths,
                                                                                          sink: MailSink):
    append_log(configured, login_line())
    configured.state_file.symlink_to(configured.state_file.name)  # a symlink loop: unreadable even for root
    result = run_check(configured)
    assert result.notices == 1
    assert "cannot read it" in sink.messages[0].message.get_content()


def test_check_refuses_a_symlink_where_its_store_should_be_in_one_line_and_keeps_alerts_pending(
        configured: Paths, sink: MailSink, tmp_path: Path):
    append_log(configured, login_line())
    run_check(configured)
    configured.store_file.unlink()
    configured.store_file.symlink_to(tmp_path / "elsewhere.db")
    append_log(configured, login_line(ip="198.51.100.9"))
    with pytest.raises(UserError) as caught:
        run_check(configured)
    assert caught.value.exit_code == ExitCode.USAGE
    assert caught.value.message == STORE_NOT_REGULAR.format(path=configured.store_file, kind="a symbolic link")
    assert sink.messages == [] and not (tmp_path / "elsewhere.db").exists()


def test_check_store_is_private_sqlite_with_a_schema_version(configured: Paths):
    append_log(configured, login_line())
    run_check(configured)
    assert oct(configured.store_file.stat().st_mode & 0o777) == "0o600"
    assert configured.store_file.read_bytes()[:16] == b"SQLite format 3\x00"
    connection = sqlite3.connect(str(configured.store_file))
    assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    connection.close()


def test_check_alert_names_the_key_comment_from_authorized_keys(configured: Paths, sink: MailSink):
    blob = base64.b64encode(b"\0\0\0\x0bssh-ed25519\0\0\0\x20" + bytes(range(32))).decode()
    (configured.home / ".ssh").mkdir()
    (configured.home / ".ssh" / "authorized_keys").write_text("ssh-ed25519 {} alice@laptop\n".format(blob))
    run_check(configured)
    append_log(configured, login_line(extras="cport=1 keytype=ssh-ed25519 key=" + blob))
    run_check(configured)
    body = sink.messages[0].message.get_content()
    assert '"alice@laptop" in authorized_keys' in body and "SHA256:" in body


def test_check_after_copytruncate_rotation_alerts_the_lines_only_the_copy_holds(configured: Paths, sink: MailSink):
    append_log(configured, login_line(ip="192.0.2.1"))
    run_check(configured)
    append_log(configured, login_line(ip="198.51.100.1"))  # pending when logrotate copies the file
    rotated = Path(str(configured.login_log) + ".1")
    rotated.write_bytes(configured.login_log.read_bytes())
    with open(str(configured.login_log), "r+b") as handle:
        handle.truncate(0)
    append_log(configured, login_line(ip="198.51.100.2"))
    run_check(configured)
    run_check(configured)
    assert [subject.split()[-1] for subject in subjects(sink)] == ["198.51.100.1", "198.51.100.2"]


def test_check_ignores_an_unrelated_backup_beside_a_new_log(configured: Paths, sink: MailSink):
    run_check(configured)  # seeded before any log existed
    Path(str(configured.login_log) + ".bak").parent.mkdir(parents=True, exist_ok=True)
    Path(str(configured.login_log) + ".bak").write_bytes(login_line(ip="192.0.2.99") + b"\n")
    append_log(configured, login_line(ip="198.51.100.3"))
    run_check(configured)
    assert [subject.split()[-1] for subject in subjects(sink)] == ["198.51.100.3"]


def test_check_alerts_one_connection_seen_by_several_hooks_once(configured: Paths, sink: MailSink):
    run_check(configured)
    append_log(configured, *[login_line(when="2026-11-25 11:55:0{} +0000".format(second),
                                        extras="cport=51234 saddr=10.0.0.1 sport=22 tty=/dev/pts/0 hook=" + hook)
                             for second, hook in ((3, "ssh-rc"), (3, "bash-profile"), (4, "bashrc"))])
    run_check(configured)
    assert len(sink.messages) == 1
    assert "~/.ssh/rc" in sink.messages[0].message.get_content()


def test_check_alerts_a_reused_client_port_hours_later_as_a_new_login(configured: Paths, sink: MailSink):
    run_check(configured)
    append_log(configured, login_line(when="2026-11-25 11:55:03 +0000"))
    run_check(configured)
    append_log(configured, login_line(when="2026-11-25 15:10:00 +0000"))
    run_check(configured)
    assert len(sink.messages) == 2


def test_check_merges_what_each_hook_of_one_connection_knew_into_its_one_alert(configured: Paths, sink: MailSink):
    run_check(configured)
    append_log(configured,
               login_line(extras="cport=51234 saddr=10.0.0.1 sport=22 tty=none hook=ssh-rc"),
               login_line(extras="cport=51234 saddr=10.0.0.1 sport=22 tty=none hook=bashrc kind=transfer"))
    run_check(configured)
    (received,) = sink.messages
    body = received.message.get_content()
    assert "file transfer" in body and "~/.ssh/rc, ~/.bashrc" in body


def test_two_hooks_of_one_connection_with_a_tz_offset_of_a_day_or_more_alert_once(configured: Paths,
                                                                                     sink: MailSink):
    run_check(configured)
    extras = "cport=51234 saddr=10.0.0.1 sport=22 tty=none hook={} epoch=1795607703"
    # glibc prints +2400 for TZ=XXX-25, which %z cannot parse: the epoch field names the login instead.
    append_log(configured, login_line(when="2026-11-26 11:55:03 +2400", extras=extras.format("ssh-rc")),
               login_line(when="2026-11-26 11:55:04 +2400", extras=extras.format("bashrc") + " kind=command"))
    run_check(configured)
    assert len(sink.messages) == 1


def test_history_older_than_history_days_is_dropped_by_the_daily_prune(paths: Paths, sink: MailSink):
    from support.stored import recorded

    write_config(paths, alert={"history_days": "30"}, smtp=smtp_settings(sink))
    run_check(paths)
    old = time.strftime("%Y-%m-%d %H:%M:%S +0000", time.gmtime(time.time() - 40 * 86400))
    append_log(paths, login_line(ip="198.51.100.1", when=old, extras="cport=1 epoch={:.0f}".format(
        time.time() - 40 * 86400)), login_line(ip="198.51.100.2", extras="cport=2"))
    run_check(paths)  # the first run prunes (never pruned before): the 40-day-old login goes
    assert [entry.ip for entry in recorded(paths)] == ["198.51.100.2"]
    assert len(sink.messages) == 2  # it was alerted all the same


def test_a_login_a_day_after_the_last_alert_commits_once_before_its_send_and_once_after(
        configured: Paths, sink: MailSink, monkeypatch: pytest.MonkeyPatch):
    """The hourly window's expired send times and the day-old EHLO name are renewed in the alert's own commit:
    each commit costs fsyncs while the login waits."""
    run_check(configured)
    append_log(configured, login_line(ip="198.51.100.1"))
    assert run_check(configured).sent == 1
    shift_send_times(configured, -86400)
    with opened(configured.store_file) as store, store.transaction():
        store.put("ehlo", dict(store.get("ehlo"), at=time.time() - 86400))
    commits = []  # how many messages the server had accepted when each transaction began
    open_store = Store.open.__func__

    def traced(cls, path, read_only=False):
        store = open_store(cls, path, read_only)
        store.connection.set_trace_callback(
            lambda statement: commits.append(len(sink.messages)) if statement == "BEGIN IMMEDIATE" else None)
        return store

    monkeypatch.setattr(Store, "open", classmethod(traced))
    sink.clear()
    append_log(configured, login_line(ip="198.51.100.2"))
    assert run_check(configured).sent == 1
    assert commits == [0, 1]
    with opened(configured.store_file) as store:
        assert len(store.connection.execute("SELECT time FROM sends").fetchall()) == 1  # the old one forgotten
        assert time.time() - store.get("ehlo")["at"] < 600  # renewed


@pytest.mark.parametrize("digest", [False, True])
def test_the_waiting_hook_goes_on_once_the_server_accepted_its_alert_before_the_sent_commit(
        configured: Paths, sink: MailSink, monkeypatch: pytest.MonkeyPatch, digest: bool):
    import select

    from app.check.handoff import HandOff

    if digest:
        write_config(configured, alert={"digest_after": "1"}, smtp=smtp_settings(sink))
    run_check(configured)
    read_end, write_end = os.pipe()
    released = []  # at each transaction's start: (messages accepted, whether the hook was told to go on)
    open_store = Store.open.__func__

    def traced(cls, path, read_only=False):
        store = open_store(cls, path, read_only)
        store.connection.set_trace_callback(lambda statement: released.append(
            (len(sink.messages), bool(select.select([read_end], [], [], 0)[0]))) if statement == "BEGIN IMMEDIATE"
            else None)
        return store

    monkeypatch.setattr(Store, "open", classmethod(traced))
    append_log(configured, *[login_line(ip="198.51.100.{}".format(number), extras="cport=5123{} saddr=10.0.0.1 "
                                        "sport=22 tty=none hook=rc".format(number)) for number in (1, 2)])
    handoff = HandOff("198.51.100.2 51232 10.0.0.1 22", write_end)
    try:
        run_check(configured, handoff=handoff)
    finally:
        handoff.settle()
        os.close(read_end)
    ours = 1 if digest else 2  # the message with this hook's login: the digest, or the second alert
    assert [told for accepted, told in released if accepted < ours] == [False] * (1 if digest else 3)  # posts, sent
    assert [told for accepted, told in released if accepted == ours][:1] == [True]  # before its "sent" commit
