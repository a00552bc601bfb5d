"""Pending logins: what status and a failed delivery report (unsent messages, waiting events, the log's pending lines)."""

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from helpers import numbered_line as line, position_at_end
from app.logins.loginlog import Position
from app.logins.statediff import Segment
from app.store import pending
from app.store.pending import pending_logins


NO_LOCK = Path("/nonexistent/check.lock")  # no run mark: nothing was sent while the store could not record it


def fake_store(position, unsent=(), recent=()):  # type: ignore[no-untyped-def]
    return SimpleNamespace(position=lambda: position, unsent=lambda: [SimpleNamespace(logins=n) for n in unsent],
                           recent=lambda: tuple(recent))


def test_pending_logins_counts_unsent_messages_and_each_pending_connection_once(tmp_path: Path):
    log = tmp_path / "logins.log"
    log.write_bytes(line(1))
    position = position_at_end(log)
    with open(str(log), "ab") as handle:
        handle.write(line(2, extras="epoch=1795607703 hook=ssh-rc"))
        handle.write(line(2, extras="epoch=1795607704 hook=bash-profile"))  # the same connection, another hook
        handle.write(line(3, extras="epoch=1795607800"))
        handle.write(b"garbage one\ngarbage two\ngarbage three\n")  # no connection: each line counts
        handle.write(line(4, extras="epoch=1795607900").rstrip(b"\n"))  # partial: still pending
    store = fake_store(position, unsent=(2, 3))
    assert pending_logins(store, SimpleNamespace(lock_file=NO_LOCK, login_log=log)) == (2 + 3) + 1 + 1 + 3 + 1


def test_pending_logins_leaves_out_repeats_of_connections_already_alerted(tmp_path: Path):
    log = tmp_path / "logins.log"
    log.write_bytes(line(1))
    position = position_at_end(log)
    with open(str(log), "ab") as handle:
        handle.write(line(2, extras="epoch=1795607703"))
        handle.write(line(3, extras="epoch=1795607703"))
    alerted = "203.0.113.2 50002  "  # line(2)'s connection: no saddr or sport in these lines
    store = fake_store(position, recent=[(alerted, 1795607700.0)])
    assert pending_logins(store, SimpleNamespace(lock_file=NO_LOCK, login_log=log)) == 1
    later = fake_store(position, recent=[(alerted, 1795607703.0 - 3600)])  # an hour earlier: a new login
    assert pending_logins(later, SimpleNamespace(lock_file=NO_LOCK, login_log=log)) == 2


def test_pending_logins_of_an_up_to_date_log_is_the_unsent_count(tmp_path: Path):
    log = tmp_path / "logins.log"
    log.write_bytes(line(1))
    assert pending_logins(fake_store(position_at_end(log), unsent=(4,)), SimpleNamespace(lock_file=NO_LOCK, login_log=log)) == 4
    assert pending_logins(fake_store(None), SimpleNamespace(lock_file=NO_LOCK, login_log=tmp_path / "missing")) == 0


def test_pending_logins_when_the_log_is_no_regular_file_is_the_unsent_count(tmp_path: Path):
    os.mkfifo(str(tmp_path / "logins.log"))
    store = fake_store(Position(1, 2, 3, "x"), unsent=(1, 1))
    assert pending_logins(store, SimpleNamespace(lock_file=NO_LOCK, login_log=tmp_path / "logins.log")) == 2


def test_pending_logins_skips_a_segment_that_cannot_be_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    log = tmp_path / "logins.log"
    log.write_bytes(line(1) + line(2))
    monkeypatch.setattr(pending, "plan", lambda *_: ((Segment(tmp_path / "gone", 0, 1, 2),
                                                        Segment(log, 0, 1, 3)), "rotated"))
    assert pending_logins(fake_store(None, unsent=(1,)), SimpleNamespace(lock_file=NO_LOCK, login_log=log)) == 1 + 2
