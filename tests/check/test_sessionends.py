"""Connection ends seen by the cron run: the history gets each login's duration once; notify_logout alerts once."""

from pathlib import Path

from app.store import history
from app.check.sessionends import LIVE, ended_keys, record_ends
from app.logins.sessions import SshProcess
from app.store.store import Store

START = 1_795_600_000.0


def entry(epoch: float, number: int) -> history.HistoryEntry:
    return history.HistoryEntry(time="t", epoch=epoch, user="alice", ip="203.0.113.{}".format(number), rdns="",
                                methods=("publickey",), key="", key_comment="", kind="interactive",
                                outcome=history.EMAILED, new_ip=False, trusted=False, log_key="1:1:{}".format(number))


def process(pid: int, started: float) -> SshProcess:
    return SshProcess(pid, started, "sshd: alice@pts/0", "{}:{}".format(pid, int(started)))


def test_a_process_gone_since_the_last_run_has_ended() -> None:
    gone, running = process(1, START), process(2, START)
    assert ended_keys({gone.key: START, running.key: START}, [running]) == [gone.key]


def test_the_end_of_a_connection_is_recorded_once_on_its_login(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "store.db")
    with store.transaction():
        store.add_history([history.row(entry(START + 1, 1)), history.row(entry(START + 100, 2))])
    first, second = process(10, START), process(11, START + 99)
    assert record_ends(store, [first, second], now=START + 200) == []
    ended = record_ends(store, [second], now=START + 3900)
    assert [(item.ip, history.duration(item)) for item in ended] == [("203.0.113.1", "1h 04m")]
    assert record_ends(store, [second], now=START + 4000) == []
    assert [history.duration(item) for item in history.read(store)] == ["1h 04m", ""]
    assert set(store.get(LIVE)) == {second.key}
    store.close()


def test_durations_read_as_a_person_would() -> None:
    assert history.duration(entry(START, 1)._replace(ended=START + 45)) == "45s"
    assert history.duration(entry(START, 1)._replace(ended=START + 600)) == "10m"
    assert history.duration(entry(START, 1)) == ""
    assert history.duration(entry(START, 1)._replace(ended=START - 5)) == ""  # a clock that jumped back
