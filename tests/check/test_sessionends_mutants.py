"""Connection ends seen by the cron run (app.check.sessionends), pinned at their edges: which process has ended,
which login it ends (the match window, the earliest open login with a user, one per process), what is kept for the
next run, all in one transaction; and the logout notice's exact subject, body, identity and urgency."""

import json
import time
from typing import Any, List, Sequence, Tuple

import pytest

from app.check.context import RunParts, oplog
from app.check.render import Envelope
from app.check.sessionends import LIVE, LOGOUT_SUBJECT, alert_logouts, ended_keys, logout_text, record_ends
from app.logins.sessions import MATCH_AFTER, MATCH_BEFORE, SshProcess
from app.settings.config import Config, load_config
from app.store import history
from app.store.store import Store
from app.system.paths import Paths
from helpers import write_config

HOST = "web1.example.com"


@pytest.fixture
def start() -> float:
    """A whole second an hour ago: the start of the connections (whole, so sums of it stay exact)."""
    return float(int(time.time()) - 3600)


def login(epoch: float, number: int, user: str = "alice", ended: float = 0.0) -> history.HistoryEntry:
    return history.HistoryEntry(time="login {}".format(number), epoch=epoch, user=user,
                                ip="203.0.113.{}".format(number), rdns="", methods=("publickey",), key="",
                                key_comment="", kind="interactive", outcome=history.EMAILED, new_ip=False,
                                trusted=False, log_key="1:1:{}".format(number), ended=ended)


def process(pid: int, started: float) -> SshProcess:
    return SshProcess(pid, started, "sshd: alice@pts/0", "{}:{}".format(pid, int(started) * 100))


def record(store: Store, *entries: history.HistoryEntry) -> None:
    with store.transaction():
        store.add_history([history.row(entry) for entry in entries])


def seen(store: Store, *processes: SshProcess) -> None:
    """The last cron run saw processes."""
    with store.transaction():
        store.put(LIVE, {item.key: item.started for item in processes})


def ends(store: Store) -> List[Tuple[str, float]]:
    """(log_key, ended) of every recorded login, in the order check recorded them."""
    return [(entry.log_key, entry.ended) for entry in history.read(store)]


# --- ended_keys ----------------------------------------------------------------------------------------------------

def test_the_processes_the_last_run_saw_that_are_gone_have_ended_sorted_by_key(start: float) -> None:
    gone_late, gone_early, running = process(9, start), process(3, start + 5), process(5, start)
    previous = {gone_late.key: start, running.key: start, gone_early.key: start + 5}
    assert ended_keys(previous, [running]) == sorted([gone_late.key, gone_early.key])
    assert ended_keys(previous, [running, gone_late, gone_early]) == []
    assert ended_keys({}, [running]) == []
    assert ended_keys(previous, []) == sorted(previous)


def test_a_process_is_known_by_its_key_not_by_its_pid_a_reused_pid_is_a_new_process(start: float) -> None:
    before, reused = process(7, start), process(7, start + 30)
    assert ended_keys({before.key: start}, [reused]) == [before.key]


# --- record_ends: which login a gone process ends --------------------------------------------------------------------

def test_the_state_is_kept_under_its_own_meta_key_so_the_next_release_reads_it(store: Store, start: float) -> None:
    assert LIVE == "live_sessions"
    running = process(10, start)
    record_ends(store, [running], now=start + 100)
    assert store.get("live_sessions") == {running.key: start}


def test_a_first_run_records_what_is_live_and_ends_nothing(store: Store, start: float) -> None:
    record(store, login(start, 1))
    assert record_ends(store, [process(10, start)], now=start + 100) == []
    assert ends(store) == [("1:1:1", 0.0)]


def test_what_is_live_now_replaces_what_the_last_run_saw(store: Store, start: float) -> None:
    old, kept, new = process(10, start), process(11, start + 1), process(12, start + 2.5)
    seen(store, old, kept)
    record_ends(store, [kept, new], now=start + 100)
    assert store.get(LIVE) == {kept.key: start + 1, new.key: start + 2.5}
    record_ends(store, [], now=start + 200)
    assert store.get(LIVE) == {}


def test_a_login_up_to_match_before_seconds_before_the_process_started_is_its_login(store: Store,
                                                                                   start: float) -> None:
    record(store, login(start - MATCH_BEFORE, 1))
    seen(store, process(10, start))
    ended = record_ends(store, [], now=start + 600)
    assert [(entry.log_key, entry.ended) for entry in ended] == [("1:1:1", start + 600)]
    assert ends(store) == [("1:1:1", start + 600)]


def test_a_login_earlier_than_match_before_seconds_is_not_its_login(store: Store, start: float) -> None:
    record(store, login(start - MATCH_BEFORE - 0.5, 1))
    seen(store, process(10, start))
    assert record_ends(store, [], now=start + 600) == []
    assert ends(store) == [("1:1:1", 0.0)]


def test_a_login_up_to_match_after_seconds_after_the_process_started_is_its_login(store: Store,
                                                                                 start: float) -> None:
    record(store, login(start + MATCH_AFTER, 1))
    seen(store, process(10, start))
    assert [entry.log_key for entry in record_ends(store, [], now=start + 600)] == ["1:1:1"]
    assert ends(store) == [("1:1:1", start + 600)]


def test_a_login_later_than_match_after_seconds_is_not_its_login(store: Store, start: float) -> None:
    record(store, login(start + MATCH_AFTER + 0.5, 1))
    seen(store, process(10, start))
    assert record_ends(store, [], now=start + 600) == []
    assert ends(store) == [("1:1:1", 0.0)]


def test_the_window_is_counted_from_the_processs_own_start_as_the_last_run_saw_it(store: Store,
                                                                                 start: float) -> None:
    """The start kept in the store, not the login's: a process that started an hour later ends none of these."""
    record(store, login(start, 1))
    with store.transaction():
        store.put(LIVE, {"10:1": start + 3600})
    assert record_ends(store, [], now=start + 7200) == []
    assert ends(store) == [("1:1:1", 0.0)]


def test_a_gone_process_ends_only_the_earliest_open_login_of_its_window(store: Store, start: float) -> None:
    record(store, login(start + 5, 2), login(start + 1, 1), login(start + 9, 3))
    seen(store, process(10, start))
    ended = record_ends(store, [], now=start + 600)
    assert [entry.log_key for entry in ended] == ["1:1:1"]
    assert ends(store) == [("1:1:2", 0.0), ("1:1:1", start + 600), ("1:1:3", 0.0)]


def test_a_login_that_already_ended_is_passed_over_for_the_next_open_one(store: Store, start: float) -> None:
    record(store, login(start, 1, ended=start + 30), login(start + 3, 2))
    seen(store, process(10, start))
    assert [entry.log_key for entry in record_ends(store, [], now=start + 600)] == ["1:1:2"]
    assert ends(store) == [("1:1:1", start + 30), ("1:1:2", start + 600)]


def test_a_row_without_a_user_is_no_login_and_is_passed_over(store: Store, start: float) -> None:
    record(store, login(start, 1, user=""), login(start + 3, 2))
    seen(store, process(10, start))
    assert [entry.log_key for entry in record_ends(store, [], now=start + 600)] == ["1:1:2"]
    assert ends(store) == [("1:1:1", 0.0), ("1:1:2", start + 600)]


def test_a_row_that_is_not_a_login_is_passed_over(store: Store, start: float) -> None:
    with store.transaction():
        store.add_history([("1:1:1", start, "203.0.113.1", "not json")])
    record(store, login(start + 3, 2))
    seen(store, process(10, start))
    assert [entry.log_key for entry in record_ends(store, [], now=start + 600)] == ["1:1:2"]


def test_two_gone_processes_end_two_logins_one_each(store: Store, start: float) -> None:
    record(store, login(start + 1, 1), login(start + 2, 2), login(start + 3, 3))
    first, second = process(10, start), process(11, start + 1)
    seen(store, first, second)
    ended = record_ends(store, [], now=start + 600)
    assert sorted(entry.log_key for entry in ended) == ["1:1:1", "1:1:2"]
    assert ends(store) == [("1:1:1", start + 600), ("1:1:2", start + 600), ("1:1:3", 0.0)]


def test_an_end_is_recorded_once_a_later_run_finds_nothing_more(store: Store, start: float) -> None:
    record(store, login(start, 1))
    seen(store, process(10, start))
    assert len(record_ends(store, [], now=start + 600)) == 1
    assert record_ends(store, [], now=start + 700) == []
    assert ends(store) == [("1:1:1", start + 600)]


def test_without_a_time_the_end_is_now(store: Store, start: float) -> None:
    record(store, login(start, 1))
    seen(store, process(10, start))
    before = time.time()
    (entry,) = record_ends(store, [])
    assert before <= entry.ended <= time.time()


def test_the_ended_login_is_stored_as_the_history_writes_every_login_keys_sorted(store: Store, start: float) -> None:
    record(store, login(start, 1))
    seen(store, process(10, start))
    (entry,) = record_ends(store, [], now=start + 600)
    assert entry == login(start, 1, ended=start + 600)
    assert list(store.history()) == [json.dumps(entry._asdict(), sort_keys=True)]


def test_ends_and_what_is_live_are_recorded_together_or_not_at_all(store: Store, start: float,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A run that fails before it records what is live (a full disk) leaves no end recorded: the next run sees
    the same gone process and records its end then, once."""
    record(store, login(start, 1))
    gone = process(10, start)
    seen(store, gone)

    def full_disk(key: str, value: Any) -> None:
        raise OSError("No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(store, "put", full_disk)
        with pytest.raises(OSError):
            record_ends(store, [], now=start + 600)
    assert ends(store) == [("1:1:1", 0.0)]
    assert store.get(LIVE) == {gone.key: start}
    assert [entry.log_key for entry in record_ends(store, [], now=start + 700)] == ["1:1:1"]
    assert ends(store) == [("1:1:1", start + 700)]


# --- the logout notice -------------------------------------------------------------------------------------------

def test_the_logout_subject_names_user_host_address_and_duration() -> None:
    assert LOGOUT_SUBJECT.format(user="alice", host=HOST, ip="203.0.113.1", lasted="1h 04m") == \
        "SSH logout: alice@web1.example.com from 203.0.113.1 after 1h 04m"


def test_the_logout_body_says_who_left_which_host_from_where_when_and_after_how_long(start: float) -> None:
    entry = login(start, 1)._replace(time="2024-01-01 10:00:00 +0100", ended=start + 3840)
    assert logout_text(entry, HOST) == (
        "alice logged out of web1.example.com.\n\n"
        "From:      203.0.113.1\n"
        "Logged in: 2024-01-01 10:00:00 +0100\n"
        "Lasted:    1h 04m\n\n"
        "Its login was alerted when the connection started; this message says only that it ended "
        "(notify_logout = yes in [alert]).")


def test_the_logout_body_says_the_duration_is_not_known_when_it_is_not(start: float) -> None:
    assert "\nLasted:    not known\n\n" in logout_text(login(start, 1), HOST)
    assert "\nLasted:    not known\n\n" in logout_text(login(start, 1, ended=start - 5), HOST)  # clock went back


def config(paths: Paths, **alert: str) -> Config:
    write_config(paths, alert=alert, smtp={"host": "127.0.0.1", "port": "2525", "security": "none"})
    return load_config(paths.config_file)


def run_parts(paths: Paths, store: Store, notify_logout: str) -> RunParts:
    settings = config(paths, notify_logout=notify_logout)
    return RunParts(paths, store, settings, Envelope(settings.sender, settings.recipients, HOST), oplog(paths))


@pytest.fixture
def posted(monkeypatch: pytest.MonkeyPatch) -> List[Any]:
    """Every Notice posted, each still posted for real (to the store's outbox and events)."""
    import app.check.notices

    notices: List[Any] = []
    real = app.check.notices.post_notices

    def post_notices(parts: RunParts, batch: Sequence[Any], *rest: Any) -> List[str]:
        notices.extend(batch)
        return real(parts, batch, *rest)

    monkeypatch.setattr(app.check.notices, "post_notices", post_notices)
    return notices


def stored_events(store: Store) -> List[Any]:
    return [json.loads(row[0]) for row in store.connection.execute("SELECT body FROM events ORDER BY id")]


def test_without_notify_logout_ends_are_recorded_and_nothing_is_posted(paths: Paths, store: Store, start: float,
                                                                      posted: List[Any]) -> None:
    record(store, login(start, 1))
    seen(store, process(10, start))
    assert alert_logouts(run_parts(paths, store, "no"), []) == 0
    assert posted == [] and stored_events(store) == []
    (entry,) = history.read(store)
    assert entry.ended >= start + 3600 - 1


def test_notify_logout_posts_one_quiet_notice_per_ended_login(paths: Paths, store: Store, start: float,
                                                             posted: List[Any]) -> None:
    record(store, login(start, 1), login(start + 120, 2), login(start + 300, 3))
    running = process(12, start + 300)
    seen(store, process(10, start), process(11, start + 120), running)
    assert alert_logouts(run_parts(paths, store, "yes"), [running]) == 2
    assert [(notice.identity, notice.urgent) for notice in posted] == [("logout|1:1:1", False),
                                                                          ("logout|1:1:2", False)]
    first = posted[0]
    lasted = history.duration(next(history.read(store)))
    assert lasted.startswith("1h ")
    assert first.subject == "SSH logout: alice@web1.example.com from 203.0.113.1 after " + lasted
    assert first.text == logout_text(next(history.read(store)), HOST)
    assert "\nLasted:    " + lasted + "\n" in first.text
    events = stored_events(store)
    assert [(event["title"], event["urgent"]) for event in events] == [
        ("ssh_alert on web1.example.com: " + notice.subject, False) for notice in posted]
    assert alert_logouts(run_parts(paths, store, "yes"), [running]) == 0
    assert len(posted) == 2


def test_a_logout_whose_clock_went_back_is_posted_with_a_question_mark(paths: Paths, store: Store, start: float,
                                                                      posted: List[Any]) -> None:
    """The clock went back after the login: the end comes before it, its duration is not known."""
    now = time.time()
    record(store, login(now + 40, 1))
    seen(store, process(10, now))
    assert alert_logouts(run_parts(paths, store, "yes"), []) == 1
    (notice,) = posted
    assert notice.subject == "SSH logout: alice@web1.example.com from 203.0.113.1 after ?"
    assert "\nLasted:    not known\n\n" in notice.text
    assert notice.identity == "logout|1:1:1" and notice.urgent is False

