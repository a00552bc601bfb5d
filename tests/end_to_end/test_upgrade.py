"""Upgrading from release 0.1.0 (its real pyz, kept in tests/fixtures): its state, sources and history are
imported into the store on the first run, so no alert is lost or repeated across the upgrade."""

import time
from pathlib import Path
from typing import List

from app.store import history
from app.system.paths import Paths
from helpers import ROOT, append_log, login_line, pyz_env, run_pyz, smtp_settings, stamp, write_config
from support.mailsink import MailSink
from support.stored import recorded, seen

RELEASE_PYZ = ROOT / "tests" / "fixtures" / "ssh_alert-0.1.0.pyz"


def connection(number: int) -> str:
    return "cport={} saddr=10.0.0.1 sport=22 tty=/dev/pts/0 hook=bash-profile".format(40000 + number)


def subjects(sink: MailSink) -> List[str]:
    return [received.message["Subject"] for received in sink.messages]


def test_the_first_run_after_the_upgrade_alerts_only_what_the_old_release_left_pending(
        paths: Paths, pyz: Path, tmp_path: Path):
    environ = pyz_env(paths.home, tmp_path / "shiv")
    base = time.time()
    with MailSink("plain") as sink:
        write_config(paths, alert={"digest_after": "100"}, smtp=smtp_settings(sink))
        append_log(paths, login_line(ip="192.0.2.1", extras=connection(0)))
        assert run_pyz(RELEASE_PYZ, ["check"], environ).returncode == 0  # the old release seeds
        append_log(paths, login_line(ip="203.0.113.7", when=stamp(3000, now=base), extras=connection(1)),
                   login_line(ip="198.51.100.4", when=stamp(2940, now=base), extras=connection(2)))
        assert run_pyz(RELEASE_PYZ, ["check"], environ).returncode == 0
        assert len(sink.wait_for(2)) == 2
        assert paths.state_file.exists() and paths.history_file.exists() and paths.sources_file.exists()
        # Pending at the upgrade: a new login from a known address, and a second hook's line for a
        # connection the old release already alerted.
        append_log(paths, login_line(ip="203.0.113.7", when=stamp(900, now=base), extras=connection(3)),
                   login_line(ip="198.51.100.4", when=stamp(2939, now=base), extras=connection(2)))

        upgraded = run_pyz(pyz, ["check"], environ)
        assert (upgraded.returncode, upgraded.stdout, upgraded.stderr) == (0, "", "")
        assert sink.wait_for(3)[2:] and len(sink.messages) == 3
        assert subjects(sink)[2] == "SSH login: alice@web1.example.com from 203.0.113.7"  # known: no [NEW IP]
        assert run_pyz(pyz, ["check"], environ).returncode == 0
    assert len(sink.messages) == 3
    assert [(entry.ip, entry.outcome) for entry in recorded(paths)] == [
        ("203.0.113.7", history.EMAILED), ("198.51.100.4", history.EMAILED), ("203.0.113.7", history.EMAILED)]
    assert seen(paths, "alice", "203.0.113.7").logins == 2
    assert not paths.state_file.exists() and Path(str(paths.state_file) + ".imported").exists()
    assert "imported state.json" in paths.oplog_file.read_text()
