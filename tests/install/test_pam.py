"""The system-wide mode's pure parts: the /etc/pam.d/sshd block, `sshd -T`, install/uninstall plans, the seen file."""

import json
import os
from pathlib import Path

import pytest

from app.logins.systemseen import parse_seen, system_seen, trim_seen
from app.commands.system_install import (BACKUP, CRON_MARKER, SystemFacts, cron_line, plan_install, plan_uninstall,
                                         with_system_cron, without_system_cron)
from app.errors import UserError
from app.install.pam import (BEGIN, END, has_block, render_block, render_script, usepam, with_pam_block,
                             without_pam_block)
from app.system.paths import SYSTEM_HOOK, SYSTEM_PYZ, Paths

DEBIAN_TAIL = ("@include common-session\n"
               "session    required     pam_limits.so\n"
               "session    required     pam_env.so # [1]\n"
               "session    required     pam_env.so user_readenv=1 envfile=/etc/default/locale\n"
               "@include common-password\n")
BLOCK = render_block(str(SYSTEM_HOOK))


def test_block_goes_before_the_first_pam_env_session_line():
    edit = with_pam_block(DEBIAN_TAIL, BLOCK)
    assert edit.action == "insert block before pam_env"
    assert edit.text.index(BLOCK) == DEBIAN_TAIL.index("session    required     pam_env.so # [1]")
    assert "session optional pam_exec.so quiet seteuid type=open_session {}\n".format(SYSTEM_HOOK) in BLOCK


def test_a_commented_pam_env_line_does_not_count():
    text = "# session required pam_env.so\nsession required pam_limits.so"
    edit = with_pam_block(text, BLOCK)
    assert (edit.action, edit.newline_added) == ("append block", True)
    assert without_pam_block(edit.text, edit.newline_added) == text


@pytest.mark.parametrize("text", [DEBIAN_TAIL, "", "session required pam_limits.so", "a\r\nb\r\n"])
def test_removing_the_block_gives_the_file_back_byte_for_byte(text: str):
    edit = with_pam_block(text, BLOCK)
    assert has_block(edit.text)
    assert without_pam_block(edit.text, edit.newline_added) == text


def test_installing_twice_changes_nothing_and_a_stale_block_is_replaced_in_place():
    once = with_pam_block(DEBIAN_TAIL, BLOCK).text
    assert with_pam_block(once, BLOCK).action == "unchanged"
    stale = once.replace("quiet seteuid", "quiet")
    assert with_pam_block(stale, BLOCK).text == once


def test_a_block_without_its_end_is_refused():
    with pytest.raises(ValueError):
        with_pam_block(BEGIN + "\nsession optional pam_exec.so x\n" + DEBIAN_TAIL, BLOCK)
    assert not has_block(BEGIN + "\n")
    assert has_block(BEGIN + "\n" + END + "\n")


@pytest.mark.parametrize("output, expected", [("port 22\nusepam yes\n", True), ("usepam no\n", False),
                                              ("port 22\n", None), ("UsePAM Yes\n", True)])
def test_usepam_is_read_from_sshd_t(output: str, expected):
    assert usepam(output) is expected


def test_hook_script_is_posix_sh_and_names_absolute_paths(tmp_path: Path):
    script = render_script("/usr/bin/python3", "/usr/local/lib/ssh-alert/ssh_alert.pyz", "/var/lib/ssh-alert",
                           "/run/ssh-alert", "/usr/local/lib/ssh-alert/shiv")
    path = tmp_path / "hook"
    path.write_text(script)
    assert os.system("sh -n {}".format(path)) == 0
    assert "sa_py=/usr/bin/python3 " in script and " -I -S " in script
    assert "stdout" not in script.split("\n{", 1)[1].split("exit 0")[0].replace("/dev/null", "")


def test_hook_script_records_the_user_hooks_line_format(tmp_path: Path):
    """Run the script as pam_exec would (PAM_* and sshd's variables); its line parses like the user hook's."""
    from app.logins.loginline import parse_line

    state, seen = tmp_path / "state", tmp_path / "seen"  # the state directory is made when missing
    script = tmp_path / "hook"
    script.write_text(render_script("/nonexistent/python3", str(tmp_path / "missing.pyz"), str(state), str(seen),
                                    str(tmp_path / "shiv")))
    environ = {"PAM_SERVICE": "sshd", "PAM_TYPE": "open_session", "PAM_USER": "alice", "PAM_RHOST": "203.0.113.7",
               "SSH_CONNECTION": "203.0.113.7 51234 10.0.0.1 22", "SSH_AUTH_INFO_0": "publickey ssh-ed25519 AAAAC3Nz\n"}
    assert os.spawnve(os.P_WAIT, "/bin/sh", ["sh", str(script)], environ) == 0
    (line,) = (state / "logins.log").read_bytes().splitlines()
    record = parse_line(line)
    assert (record.ip, record.user, record.methods) == ("203.0.113.7", "alice", ("publickey",))
    assert record.connection[1:] == ("51234", "10.0.0.1", "22")
    assert (record.extra("hook"), record.extra("keytype"), record.extra("key")) == ("pam", "ssh-ed25519", "AAAAC3Nz")
    assert (seen / "alice").read_text().split()[:4] == ["203.0.113.7", "51234", "10.0.0.1", "22"]
    assert (seen / "alice").stat().st_mode & 0o777 == 0o644
    assert state.stat().st_mode & 0o777 == 0o700 and (state / "logins.log").stat().st_mode & 0o777 == 0o600


def test_hook_script_ignores_an_ssh_connection_that_names_another_address_and_other_services(tmp_path: Path):
    from app.logins.loginline import parse_line

    state = tmp_path / "state"
    state.mkdir()
    script = tmp_path / "hook"
    script.write_text(render_script("/nonexistent/python3", "/nonexistent.pyz", str(state), str(tmp_path / "seen"),
                                    str(tmp_path / "shiv")))
    base = {"PAM_SERVICE": "sshd", "PAM_TYPE": "open_session", "PAM_USER": "bob", "PAM_RHOST": "198.51.100.9"}
    os.spawnve(os.P_WAIT, "/bin/sh", ["sh", str(script)], dict(base, SSH_CONNECTION="10.9.9.9 1 10.0.0.1 22"))
    os.spawnve(os.P_WAIT, "/bin/sh", ["sh", str(script)], dict(base, PAM_SERVICE="su"))
    os.spawnve(os.P_WAIT, "/bin/sh", ["sh", str(script)], dict(base, PAM_USER="bad user;rm"))
    lines = [parse_line(line) for line in (state / "logins.log").read_bytes().splitlines()]
    assert [(record.ip, record.user, record.extra("cport")) for record in lines] == [
        ("198.51.100.9", "bob", ""), ("198.51.100.9", "invalid-name", "")]
    assert not (tmp_path / "seen").exists()  # no trustworthy connection: nothing listed



def test_hook_script_takes_another_service_only_when_its_pam_line_names_it(tmp_path: Path):
    state = tmp_path / "state"
    state.mkdir()
    script = tmp_path / "hook"
    script.write_text(render_script("/nonexistent/python3", "/nonexistent.pyz", str(state), str(tmp_path / "seen"),
                                    str(tmp_path / "shiv")))
    environ = {"PAM_SERVICE": "su", "PAM_TYPE": "open_session", "PAM_USER": "root"}
    os.spawnve(os.P_WAIT, "/bin/sh", ["sh", str(script)], environ)
    assert not (state / "logins.log").exists()
    os.spawnve(os.P_WAIT, "/bin/sh", ["sh", str(script), "su"], environ)
    os.spawnve(os.P_WAIT, "/bin/sh", ["sh", str(script), "su"], dict(environ, PAM_TYPE="close_session"))
    (line,) = (state / "logins.log").read_text().splitlines()
    assert line.split()[3:5] == ["unknown", "root"]


def test_install_plan_keeps_the_original_and_uninstall_gives_it_back(tmp_path: Path):
    paths = Paths(tmp_path, tmp_path / "etc", tmp_path / "state", tmp_path / "etc", system=True)
    original = DEBIAN_TAIL.encode()
    steps, record = plan_install(paths, SystemFacts(b"pyz", None, "/usr/bin/python3", original, None, None, "", None))
    described = [step.describe for step in steps if step.describe]
    assert any(str(SYSTEM_PYZ) in line for line in described)
    (pam_step,) = [step for step in steps if step.action == "pam"]
    (backup,) = [step for step in steps if step.path == paths.state_dir / BACKUP]
    assert backup.data == original
    (cron,) = [step for step in steps if step.action == "crontab"]
    assert cron.data.decode().rstrip("\n").endswith(CRON_MARKER)
    steps, notes = plan_uninstall(paths, pam_step.data, record, cron.data.decode(), purge=False)
    (restore,) = [step for step in steps if step.action == "pam"]
    assert restore.data == original and notes == []
    (uncron,) = [step for step in steps if step.action == "crontab"]
    assert uncron.data == b""


def test_install_plan_refuses_a_broken_block(tmp_path: Path):
    paths = Paths(tmp_path, tmp_path, tmp_path, tmp_path, system=True)
    with pytest.raises(UserError):
        plan_install(paths, SystemFacts(b"pyz", None, "/usr/bin/python3", (BEGIN + "\n").encode(), None, None, None,
                                         None))


def test_system_cron_line_leaves_roots_own_lines_alone():
    line = cron_line("/usr/bin/python3")
    mine = "0 3 * * * backup # ssh_alert\n"
    text = with_system_cron(mine, line)
    assert text == mine + line + "\n"
    assert with_system_cron(text, line) == text
    assert without_system_cron(text) == mine


def test_seen_lines_become_connection_keys():
    assert parse_seen(b"203.0.113.7 51234 10.0.0.1 22 4242 1700000000\ngarbage\n1 2 3 4 - 17\n") == (
        ("203.0.113.7 51234 10.0.0.1 22 4242", 1700000000.0), ("1 2 3 4", 17.0))


def test_seen_file_counts_only_when_root_alone_can_write_it(tmp_path: Path):
    directory = tmp_path / "seen"
    directory.mkdir(mode=0o755)
    (directory / "alice").write_bytes(b"203.0.113.7 51234 10.0.0.1 22 4242 1700000000\n")
    if os.geteuid() == 0:
        assert system_seen("alice", directory)
    os.chmod(str(directory / "alice"), 0o666)
    assert system_seen("alice", directory) == ()
    os.chmod(str(directory / "alice"), 0o644)
    os.chown(str(directory / "alice"), 12345, 12345) if os.geteuid() == 0 else None
    assert system_seen("alice", directory) == ()
    assert system_seen("../alice", directory) == () and system_seen(".x", directory) == ()


def test_trim_keeps_the_newest_lines(tmp_path: Path):
    (tmp_path / "alice").write_bytes(b"".join(b"1.2.3.4 %d 10.0.0.1 22 7 17\n" % number for number in range(5000)))
    trim_seen(tmp_path)
    lines = (tmp_path / "alice").read_bytes().splitlines()
    assert len(lines) == 256 and lines[-1] == b"1.2.3.4 4999 10.0.0.1 22 7 17"
    assert (tmp_path / "alice").stat().st_mode & 0o777 == 0o644


def test_a_connection_ends_once_its_process_is_gone_and_only_when_a_run_saw_it_or_it_is_new():
    from app.check.pamends import ended_connections

    open_now = {"1.2.3.4 5 6.7.8.9 22 100"}

    def alive(connection: str, epoch: float) -> bool:
        return connection in open_now

    recent = (("1.2.3.4 5 6.7.8.9 22 100", 1000.0), ("1.2.3.4 6 6.7.8.9 22 101", 1001.0),
              ("1.2.3.4 7 6.7.8.9 22 102", 990.0))
    # first run: only what is open now is known; nothing old is given an end it cannot know
    ended, still = ended_connections({}, recent, alive, 1010.0)
    assert (ended, still) == ([], {"1.2.3.4 5 6.7.8.9 22 100": 1000.0})
    # next run: the open one closed, and one recorded after the last run came and went
    open_now.clear()
    recent += (("1.2.3.4 8 6.7.8.9 22 103", 1030.0),)
    ended, still = ended_connections({"connections": still, "at": 1010.0}, recent, alive, 1070.0)
    assert ended == [("1.2.3.4 5 6.7.8.9 22 100", 1000.0), ("1.2.3.4 8 6.7.8.9 22 103", 1030.0)] and still == {}


def test_a_reused_pid_is_not_the_connection(tmp_path: Path):
    from app.check.pamends import is_open

    (tmp_path / "stat").write_text("cpu 1\nbtime 1000\n")
    (tmp_path / "4242").mkdir()
    fields = ["4242", "(sshd)"] + ["0"] * 19 + [str(200 * os.sysconf("SC_CLK_TCK"))]  # started at 1200
    (tmp_path / "4242" / "stat").write_text(" ".join(fields))
    assert is_open("1.2.3.4 5 6.7.8.9 22 4242", 1300.0, str(tmp_path))
    assert not is_open("1.2.3.4 5 6.7.8.9 22 4242", 1100.0, str(tmp_path))
    assert not is_open("1.2.3.4 5 6.7.8.9 22 4243", 1300.0, str(tmp_path))
    assert not is_open("1.2.3.4 5 6.7.8.9 22", 1300.0, str(tmp_path))


def test_where_systemd_runs_install_adds_a_timer_instead_of_the_cron_line_and_uninstall_removes_it(tmp_path: Path):
    from app.install import timer

    paths = Paths(tmp_path, tmp_path / "etc", tmp_path / "state", tmp_path / "etc", system=True)
    steps, _ = plan_install(paths, SystemFacts(b"pyz", None, "/usr/bin/python3", DEBIAN_TAIL.encode(), None, None, "",
                                               None, systemd=True))
    assert not [step for step in steps if step.action == "crontab"]
    units = {step.path.name: step.data.decode() for step in steps if step.path.parent == timer.UNIT_DIR}
    assert "ExecStart=/usr/bin/python3 -I -S {} check --system --cron".format(SYSTEM_PYZ) in units[timer.SERVICE]
    assert "OnUnitActiveSec=1min" in units[timer.TIMER]
    assert [(step.data, step.path.name) for step in steps if step.action == "systemctl"] == [
        (b"daemon-reload", ""), (b"enable --now", timer.TIMER)]
    again, _ = plan_install(paths, SystemFacts(b"pyz", b"pyz", "/usr/bin/python3", DEBIAN_TAIL.encode(), None, None, "",
                                               None, systemd=True,
                                               units_now=(units[timer.SERVICE].encode(), units[timer.TIMER].encode())))
    assert not [step for step in again if step.action == "systemctl"]
    unit_paths = (timer.UNIT_DIR / timer.TIMER, timer.UNIT_DIR / timer.SERVICE)
    steps, _ = plan_uninstall(paths, None, None, None, purge=False, units=unit_paths)
    assert [step.data for step in steps if step.action == "systemctl"] == [b"disable --now", b"daemon-reload"]
    assert {step.path for step in steps if step.action == "remove"} >= set(unit_paths)


def test_a_connection_the_last_run_ended_is_not_taken_for_a_new_one_though_it_was_recorded_just_before_that_run():
    from app.check.pamends import ended_connections

    recent = (("1.2.3.4 5 6.7.8.9 22 100", 1009.0),)
    previous = {"connections": {}, "at": 1010.0, "ended": ["1.2.3.4 5 6.7.8.9 22 100"]}
    assert ended_connections(previous, recent, lambda connection, epoch: False, 1070.0) == ([], {})
    assert ended_connections(dict(previous, ended=[]), recent, lambda connection, epoch: False, 1070.0) == (
        [("1.2.3.4 5 6.7.8.9 22 100", 1009.0)], {})


def test_connections_of_one_second_from_one_address_each_end_their_own_login_once(tmp_path: Path):
    from app.check.pamends import ended_entries
    from app.store import history
    from app.store.store import Store

    def login(port: str, log_key: str) -> history.HistoryEntry:
        return history.HistoryEntry(time="t", epoch=1000.0, user="alice", ip="1.2.3.4", rdns="", methods=("publickey",),
                                    key="", key_comment="", kind="", outcome="emailed", new_ip=False, trusted=False,
                                    log_key=log_key, port=port)

    store = Store.open(tmp_path / "store.db")
    try:
        with store.transaction():
            store.add_history([history.row(login("5", "k5")), history.row(login("6", "k6")), history.row(login("7", "k7"))])
        ended = [("1.2.3.4 7 6.7.8.9 22 102", 1000.0), ("1.2.3.4 5 6.7.8.9 22 100", 1000.0)]
        found = ended_entries(store, ended)
        assert [entry.port for _, entry in found] == ["7", "5"] and len({row for row, _ in found}) == 2
        for row, entry in found:
            store.replace_history_entry(row, json.dumps(entry._replace(ended=1060.0)._asdict(), sort_keys=True))
        assert ended_entries(store, ended) == []  # ended once: a later run finds nothing more to tell
    finally:
        store.close()
