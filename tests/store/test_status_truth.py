"""status and exit codes tell the truth: a failed check is FAIL (even when the store could not record it) until a
later check succeeds, only then "since resolved"; status exits non-zero exactly when it prints FAIL; check exits 1
and pending counts the events a failing channel still waits for."""

import json
import os
import time
from typing import List, Tuple

import pytest

from app import cli
from app.store.store import opened
from app.store.outcome import OUTCOME_BYTES, Outcome, note_outcome, outcome_path, read_outcome, run_lines
from app.commands.check import run_check
from app.errors import ExitCode, UserError
from app.system.paths import Paths
from helpers import append_log, smtp_settings, write_config
from support.mailsink import MailSink


def status(capsys) -> Tuple[int, List[str]]:  # type: ignore[no-untyped-def]
    capsys.readouterr()
    code = cli.main(["status"])
    return code, capsys.readouterr().out.splitlines()


def last_error(lines: List[str]) -> List[str]:
    return [line for line in lines if line.split()[1:3] == ["last", "error"]]


def exits_non_zero_exactly_when_it_prints_fail(code: int, lines: List[str]) -> bool:
    return (code != 0) == any(line.startswith("FAIL") for line in lines)


def test_a_check_the_store_could_not_record_is_fail_until_a_later_check_succeeds(
        paths: Paths, sink: MailSink, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(paths.home))
    write_config(paths, smtp=smtp_settings(sink))
    append_log(paths)
    run_check(paths)  # seeded
    paths.login_log.unlink()
    os.mkfifo(str(paths.login_log))  # every check now fails before it can record anything in the store
    assert cli.main(["check"]) == ExitCode.USAGE
    code, lines = status(capsys)
    (line,) = last_error(lines)
    assert line.startswith("FAIL") and "FIFO" in line and "since resolved" not in line
    assert code == ExitCode.NOT_DONE and exits_non_zero_exactly_when_it_prints_fail(code, lines)
    assert cli.main(["status", "--json"]) == ExitCode.NOT_DONE
    assert json.loads(capsys.readouterr().out)["healthy"] is False

    paths.login_log.unlink()
    append_log(paths)  # fixed, but no check ran since: not "resolved" yet
    code, lines = status(capsys)
    assert last_error(lines)[0].startswith("FAIL") and code == ExitCode.NOT_DONE

    assert cli.main(["check"]) == ExitCode.OK
    code, lines = status(capsys)
    (line,) = last_error(lines)
    assert line.startswith("OK") and line.endswith("(since resolved)") and "FIFO" in line
    assert exits_non_zero_exactly_when_it_prints_fail(code, lines)


def test_an_error_logged_with_no_later_success_is_never_called_resolved() -> None:
    now = time.time()
    logged = (time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(now)), "delivery failed: boom")
    assert run_lines([], None, logged) == [("warn", "{}: delivery failed: boom (no check has succeeded since)".format(
        logged[0]))]
    assert run_lines([("check", now - 600, None, None)], None, logged)[0][0] == "warn"
    assert run_lines([], Outcome(now + 5, None, ""), logged)[0][0] == "ok"


def test_the_newest_outcome_of_the_store_and_the_file_wins_one_line_per_kind() -> None:
    now = time.time()
    store_failed = [("check", None, now - 100, "no answer from the server")]
    assert [status for status, _ in run_lines(store_failed, Outcome(now - 50, now - 100, "x"), None)] == []
    assert [status for status, _ in run_lines(store_failed, Outcome(None, now - 99, "crash"), None)] == ["fail"]
    (line,) = run_lines(store_failed, Outcome(None, now - 99, "crash"), None)
    assert "crash" in line[1]
    assert run_lines([("watch", None, now, "boom")], Outcome(now + 1, None, ""), None)[0][0] == "fail"


def test_the_outcome_file_is_0600_rewritten_in_place_and_a_quiet_success_writes_nothing(paths: Paths) -> None:
    paths.state_dir.mkdir(parents=True, mode=0o700)
    note_outcome(paths.state_dir, "delivery failed: x" * 100, now=100.0)
    path = outcome_path(paths.state_dir)
    assert path.stat().st_size == OUTCOME_BYTES and path.stat().st_mode & 0o777 == 0o600
    inode = path.stat().st_ino
    assert read_outcome(paths.state_dir).failed == 100.0
    note_outcome(paths.state_dir, None, now=200.0)
    assert read_outcome(paths.state_dir) == Outcome(200.0, 100.0, ("delivery failed: x" * 100)[:400])
    before = path.read_bytes()
    note_outcome(paths.state_dir, None, now=300.0)  # still fine: not written again
    assert path.read_bytes() == before and path.stat().st_ino == inode


def test_a_fifo_where_the_outcome_file_should_be_never_blocks(paths: Paths) -> None:
    paths.state_dir.mkdir(parents=True, mode=0o700)
    os.mkfifo(str(outcome_path(paths.state_dir)))
    note_outcome(paths.state_dir, "x")
    assert read_outcome(paths.state_dir) is None


def test_check_exits_1_when_a_channel_failed_and_pending_counts_what_it_waits_for(
        paths: Paths, sink: MailSink, monkeypatch, capsys):
    from support.httpsworld import HttpsWorld, without_proxies

    without_proxies(monkeypatch)
    monkeypatch.setenv("HOME", str(paths.home))
    with HttpsWorld() as ntfy:
        write_config(paths, alert={"channels": "email, ntfy"}, smtp=smtp_settings(sink))
        with open(str(paths.config_file), "a") as handle:
            handle.write("[ntfy]\nurl = {}/alerts\nca_file = {}\n".format(ntfy.url, ntfy.ca_file))
        run_check(paths)
        ntfy.respond(503, b'{"code":50001,"http":503,"error":"down"}')
        for number in range(3):
            append_log(paths, "{} 203.0.113.{} alice publickey cport={} saddr=10.0.0.1 sport=22 tty=/dev/pts/0".format(
                time.strftime("%Y-%m-%d %H:%M:%S +0000", time.gmtime()), number, 40000 + number).encode())
            with pytest.raises(UserError) as raised:
                run_check(paths)
            assert raised.value.exit_code == ExitCode.NOT_DONE  # ntfy failed in this run
            assert "{} alert(s) stay pending".format(number + 1) in raised.value.message
            with opened(paths.store_file) as store, store.transaction():
                store.connection.execute("UPDATE channels SET not_before = NULL")  # its backoff is over
        assert len(sink.messages) == 3  # email got every login at once
        code, lines = status(capsys)
        pending = [line for line in lines if line.split()[1:2] == ["pending"]]
        assert pending and "3 login(s) pending" in pending[0]
        assert code == ExitCode.NOT_DONE and exits_non_zero_exactly_when_it_prints_fail(code, lines)
