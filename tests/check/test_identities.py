"""Identities, with a real SMTP server and a real store: every notice has a Message-ID and event id of its own (the
same config change made twice is two events), the prune counts from when an event was stored and never forgets one
a channel still waits for, and a login of unknown time is NULL in the history, kept and counted."""

import time
from typing import List

from app.channels.base import Outcome
from app.store import eventstore, history
from app.check.result import finish
from app.store.store import Store, opened
from app.commands.check import run_check
from app.system.paths import Paths
from helpers import append_log, smtp_settings, write_config
from support.mailsink import MailSink

DAY = 86400.0
A, B = "owner@example.com", "second@example.com"


def config_to(paths: Paths, sink: MailSink, *recipients: str) -> None:
    write_config(paths, alert={"to": ", ".join(recipients), "channels": "email"}, smtp=smtp_settings(sink))


def test_the_same_config_change_made_twice_is_two_notices_with_ids_of_their_own(paths: Paths, sink: MailSink):
    config_to(paths, sink, A)
    run_check(paths)
    run_check(paths, scan_sessions=True)  # the first cron run records the config, without a notice
    for recipients in ((A, B), (A,), (A, B)):
        config_to(paths, sink, *recipients)
        run_check(paths, scan_sessions=True)
        run_check(paths, scan_sessions=True)  # nothing changed since: no notice
    notices = [received for received in sink.messages if "settings changed" in received.message["Subject"]]
    assert len(notices) == 3
    ids = [str(received.message["Message-ID"]) for received in notices]
    assert len(set(ids)) == 3, ids
    with opened(paths.store_file) as store:
        event_ids = [row[0] for row in store.connection.execute("SELECT event_id FROM events WHERE kind = 'notice'")]
    assert len(event_ids) == len(set(event_ids))


def add_event(store: Store, name: str, login_epoch: float, stored: float) -> None:
    with store.transaction():
        eventstore.add_events(store, [({"id": name, "type": "login", "time": login_epoch}, True, "")], stored)


def stored_ids(store: Store) -> List[str]:
    return [row[0] for row in store.connection.execute("SELECT event_id FROM events ORDER BY id")]


def test_a_push_channel_failing_for_over_thirty_days_loses_no_event_to_the_prune(tmp_path) -> None:
    now = time.time()
    with opened(tmp_path / "store.db") as store:
        eventstore.channel_state(store, "ntfy")
        add_event(store, "evt_old_failing", now - 40 * DAY, now - 35 * DAY)  # ntfy has failed ever since
        add_event(store, "evt_done", now - 40 * DAY, now - 2 * DAY)
        add_event(store, "evt_late_line", now - 40 * DAY, now - 3600)  # an old login whose line arrived just now
        rows = dict(store.connection.execute("SELECT event_id, id FROM events"))
        eventstore.record_outcome(store, "ntfy", [rows["evt_done"], rows["evt_late_line"]], Outcome("sent"), now - 60)
        with store.transaction():
            store.put("pruned", now - 2 * DAY)
        finish(store, 30, ["ntfy"])
        assert stored_ids(store) == ["evt_old_failing", "evt_late_line"]
        eventstore.record_outcome(store, "ntfy", [rows["evt_old_failing"]], Outcome("sent"), now)  # ntfy works again
        with store.transaction():
            eventstore.prune(store, ["ntfy"], now + 2 * DAY)
        assert stored_ids(store) == []


def test_a_line_that_does_not_parse_is_stored_with_a_null_time_kept_by_the_prune_and_in_the_heartbeat(
        paths: Paths, sink: MailSink):
    write_config(paths, smtp=smtp_settings(sink))
    run_check(paths)
    before = time.time() - 1
    append_log(paths, b"\x1b]0;not a login line at all")
    run_check(paths)
    with opened(paths.store_file) as store:
        assert [row[0] for row in store.connection.execute("SELECT epoch FROM history")] == [None]
        with store.transaction():
            store.put("pruned", time.time() - 2 * DAY)  # the daily prune is due
        finish(store, 30, [])
        assert store.count_history() == 1  # not taken for a login of 1970
        (entry,) = history.read(store, since=before)  # the heartbeat reads the logins since its last
        assert entry.raw and not entry.epoch
        with store.transaction():
            store.prune_history(time.time() + 31 * DAY, 30)  # history_days after it was recorded, it goes
        assert store.count_history() == 0


def test_a_schema_3_store_migrates_its_zero_times_to_null_and_keeps_every_row(tmp_path) -> None:
    import sqlite3

    from app.store.schema import MIGRATIONS

    path = tmp_path / "store.db"
    connection = sqlite3.connect(str(path), isolation_level=None)
    for script in MIGRATIONS[:3]:
        for statement in script.split(";"):
            if statement.strip():
                connection.execute(statement)
    connection.execute("PRAGMA user_version = 3")
    connection.executemany("INSERT INTO history (log_key, epoch, address, entry) VALUES (?, ?, ?, ?)",
                           [("1:2:10", 0.0, "", "{}"), ("1:2:20", time.time() - 60, "203.0.113.7", "{}")])
    connection.close()
    with opened(path) as store:
        rows = list(store.connection.execute("SELECT log_key, epoch IS NULL, stored > 0 FROM history ORDER BY id"))
    assert rows == [("1:2:10", 1, 1), ("1:2:20", 0, 1)]


def test_the_heartbeat_counts_an_unparsed_line_and_history_still_shows_it(paths: Paths, sink: MailSink,
                                                                          capsys, monkeypatch) -> None:
    from app import cli
    from app.check.health import HEARTBEAT_LAST
    from app.watch.heartbeat import UNPARSED_LINES

    write_config(paths, alert={"heartbeat": "daily"}, smtp=smtp_settings(sink))
    run_check(paths)
    run_check(paths, scan_sessions=True)  # starts the heartbeat's count
    append_log(paths, b"garbage that is no login line")
    run_check(paths)
    with opened(paths.store_file) as store, store.transaction():
        store.put(HEARTBEAT_LAST, float(store.get(HEARTBEAT_LAST)) - DAY - 60)
        store.put("pruned", time.time() - 2 * DAY)  # the daily prune runs in the same cron run
    run_check(paths, scan_sessions=True)
    (heartbeat,) = [received.message for received in sink.messages if "daily" in received.message["Subject"]]
    assert UNPARSED_LINES.format(count=1) in heartbeat.get_body(("plain",)).get_content()
    monkeypatch.setenv("HOME", str(paths.home))
    capsys.readouterr()
    assert cli.main(["history"]) == 0  # as the heartbeat says, after the daily prune
    assert "garbage that is no login line" in capsys.readouterr().out
