"""Connections no hook saw: the account's own sshd processes, from /proc (a fake tree here; real sshd in e2e)."""

import os
from pathlib import Path

from app.logins.sessions import GRACE_SECONDS, SshProcess, boot_time, own_sshd_processes, start_ticks, unrecorded


def fake_process(proc: Path, pid: int, comm: str, title: str, ticks: int) -> None:
    base = proc / str(pid)
    base.mkdir(parents=True)
    (base / "comm").write_text(comm + "\n")
    (base / "cmdline").write_bytes(title.encode() + b"\0")
    (base / "stat").write_text("{} ({}) S 1 {} 0 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 {} 0 0\n".format(
        pid, comm, pid, ticks))


def test_start_ticks_reads_field_22_even_when_the_name_has_spaces_and_parentheses():
    assert start_ticks("42 (odd) name)) S 1 42 0 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 123456 0 0") == 123456
    assert start_ticks("garbage") is None


def test_boot_time_reads_btime():
    assert boot_time("cpu 1 2 3\nbtime 1700000000\nprocesses 5\n") == 1700000000.0
    assert boot_time("cpu 1 2 3\n") is None


def test_own_sshd_processes_lists_only_this_accounts_sshd_connections(tmp_path: Path):
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "stat").write_text("btime 1700000000\n")
    ticks_per_second = os.sysconf("SC_CLK_TCK")
    fake_process(proc, 100, "sshd", "sshd: alice", 50 * ticks_per_second)
    fake_process(proc, 101, "sshd-session", "sshd-session: alice@notty", 60 * ticks_per_second)
    fake_process(proc, 102, "bash", "-bash", 70 * ticks_per_second)
    fake_process(proc, 103, "sshd", "sshd: bob@pts/1", 80 * ticks_per_second)  # same uid in this fake tree
    processes = own_sshd_processes("alice", proc=str(proc))
    assert [(process.pid, process.started, process.has_session) for process in processes] == [
        (100, 1700000050.0, False), (101, 1700000060.0, True)]


def test_own_sshd_processes_without_linux_proc_is_empty(tmp_path: Path):
    assert own_sshd_processes("alice", proc=str(tmp_path / "missing")) == []


def test_unrecorded_skips_young_recorded_and_already_alerted_processes():
    now = 10_000.0
    tunnel = SshProcess(1, now - 3000, "sshd: alice", "1:1")
    recorded = SshProcess(2, now - 600, "sshd: alice@pts/0", "2:2")
    young = SshProcess(3, now - GRACE_SECONDS / 2, "sshd: alice", "3:3")
    alerted = SshProcess(4, now - 600, "sshd: alice", "4:4")
    result = unrecorded([tunnel, recorded, young, alerted], recorded=[now - 599], already_alerted=["4:4"], now=now)
    assert result == [tunnel]


def test_unrecorded_lets_one_recorded_login_account_for_one_process_only():
    now = 10_000.0
    session = SshProcess(1, now - 600, "sshd: alice@pts/0", "1:1")
    tunnel = SshProcess(2, now - 599, "sshd: alice", "2:2")  # opened a second after the login
    assert unrecorded([session, tunnel], recorded=[now - 600], already_alerted=[], now=now) == [tunnel]


def test_a_login_naming_its_connection_accounts_only_for_that_connections_process_whenever_it_started():
    now = 10_000.0
    tunnel = SshProcess(11, now - 13, "sshd-session: alice", "11:1", ppid=10)
    login = SshProcess(21, now - 8, "sshd-session: alice@notty", "21:1", ppid=20)
    old_session = SshProcess(31, now - 5000, "sshd-session: alice@pts/0", "31:1", ppid=30)
    found = unrecorded([tunnel, login, old_session], recorded=[], already_alerted=[], now=now, spids=["20", "30"])
    assert found == [tunnel]  # the login 5 s after the tunnel no longer hides it


def test_parent_pid_reads_field_four_even_with_blanks_in_the_name():
    from app.logins.sessions import parent_pid

    assert parent_pid("123 (sshd-session: a b) S 77 123 123 0 -1") == 77
    assert parent_pid("garbage") == 0
