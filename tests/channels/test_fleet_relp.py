"""docs/fleet.md's recipe, run: ssh_alert's RFC 5424 messages into a forwarding rsyslogd, over RELP to a collector
rsyslogd whose mmpstrucdata parses the fields; a collector that is down gets every login once it is back,
each under its event id (RELP may repeat one: the id is what dedupes). Both rsyslogd are private instances."""

import time
from pathlib import Path
from typing import Iterator, Tuple

import pytest

from app.check.events import login_event
from app.store.history import EMAILED, HistoryEntry
from app.channels.base import SENT
from app.channels.syslog import sender
from helpers import require
from support.mailworld import free_port
from support.rsyslog import RELP_COLLECTOR, RELP_FORWARDER, Rsyslog, can_run_rsyslog

ALICE = HistoryEntry(time="", epoch=time.time(), user="alice", ip="203.0.113.7", rdns="", methods=("publickey",),
                     key="", key_comment="", kind="interactive", outcome=EMAILED, new_ip=True, trusted=False,
                     log_key="1:2:3", port="51234")


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Tuple[Rsyslog, Rsyslog]]:
    if not can_run_rsyslog(relp=True):
        require(False, "rsyslog with RELP and mmpstrucdata (Debian packages rsyslog, rsyslog-relp), as root")
    collector = Rsyslog(tmp_path / "collector", RELP_COLLECTOR)
    forwarder = Rsyslog(tmp_path / "forwarder", RELP_FORWARDER, target=collector.tcp)
    yield forwarder, collector
    forwarder.remove()
    collector.remove()


def send(forwarder: Rsyslog, number: int) -> str:
    event = login_event(ALICE._replace(ip="203.0.113.{}".format(number)), "conn|{}".format(number), "web1")
    outcome = sender("", "authpriv", "rfc5424", "tcp://127.0.0.1:{}".format(forwarder.tcp))(event)
    assert outcome.state == SENT
    return event["id"]


def event_ids(collector: Rsyslog, count: int):
    return [item["rfc5424-sd"]["ssh_alert@32473"]["event_id"] for item in collector.parsed(count, timeout=30)]


def test_logins_reach_the_collector_over_relp_with_their_fields(fleet) -> None:
    forwarder, collector = fleet
    sent = [send(forwarder, number) for number in range(1, 4)]
    assert event_ids(collector, 3) == sent


def test_a_collector_that_was_down_gets_every_login_once_it_is_back(fleet) -> None:
    forwarder, collector = fleet
    first = send(forwarder, 1)
    assert event_ids(collector, 1) == [first]
    collector.stop()
    during = [send(forwarder, number) for number in range(2, 6)]
    time.sleep(1)
    collector.start()
    received = event_ids(collector, 5)
    assert set(received) == {first, *during}  # nothing lost
    assert len(received) - len(set(received)) <= len(during)  # a repeat carries the same id
