"""Knowing whether cron runs: check --cron records its runs, status fails when they stop, install warns
when no cron daemon is running."""

from pathlib import Path

from app.install import crontab
from app.commands.install import NO_CRON_DAEMON, plan_install
from app.commands.result import FAIL, OK
from app.commands.status_install import CRON_STALE_SECONDS, cron_run_check
from app.commands.check import run_check
from app.store.store import opened
from app.system.paths import Paths
from support.mailsink import MailSink
from test_install import facts

LINE = "* * * * * /usr/bin/python3 -S ~/bin/ssh_alert.pyz check --cron"
NOW = 1_800_000_000.0


def test_a_recent_cron_run_is_ok_and_a_stale_one_fails_naming_the_daemon():
    assert cron_run_check(LINE, NOW - 50, NOW - 86400, NOW).status == OK
    stale = cron_run_check(LINE, NOW - CRON_STALE_SECONDS - 60, NOW - 86400, NOW)
    assert stale.status == FAIL and "min ago" in stale.detail and "cron daemon" in stale.detail


def test_no_cron_run_yet_is_ok_just_after_install_and_fails_later():
    assert cron_run_check(LINE, None, NOW - 60, NOW).status == OK
    late = cron_run_check(LINE, None, NOW - 3600, NOW)
    assert late.status == FAIL and "since install" in late.detail


def test_a_clock_that_jumped_back_past_the_last_run_is_not_ok():
    assert cron_run_check(LINE, NOW + 3600, NOW - 86400, NOW).status == FAIL


def test_check_cron_records_its_run_in_the_store(configured: Paths, sink: MailSink):
    run_check(configured)  # seed
    run_check(configured, scan_sessions=True)
    with opened(configured.store_file, read_only=True) as store:
        assert store.get("last_cron") is not None


def test_a_cron_daemon_is_found_by_its_process_name(tmp_path: Path):
    for pid, name in (("1", "systemd"), ("42", "cron"), ("self", "x")):
        (tmp_path / pid).mkdir()
        (tmp_path / pid / "comm").write_text(name + "\n")
    assert crontab.daemon_running(str(tmp_path))
    (tmp_path / "42" / "comm").write_text("bash\n")
    assert not crontab.daemon_running(str(tmp_path))


def test_install_warns_when_no_cron_daemon_runs(tmp_path: Path):
    plan = plan_install(facts(tmp_path, {})._replace(cron_daemon=False), None, cron=True)
    assert NO_CRON_DAEMON in plan.notes
    plan = plan_install(facts(tmp_path, {}), None, cron=True)
    assert NO_CRON_DAEMON not in plan.notes
