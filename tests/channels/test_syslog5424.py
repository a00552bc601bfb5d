"""RFC 5424 syslog: structured data [ssh_alert@32473 ...] and a JSON message, over TCP (octet counting) and UDP to
a real private rsyslogd whose mmpstrucdata parses the structured data into fields; in CI rsyslog is required."""

import json
import os
import socket
import time
from pathlib import Path
from typing import Iterator

import pytest

from app.check.events import login_event, notice_event
from app.store.history import EMAILED, HistoryEntry
from app.channels import syslog5424
from app.settings import names
from app.channels.base import RETRY, SENT
from app.channels.syslog import sender
from helpers import require
from support.mailworld import free_port
from support.rsyslog import Rsyslog, can_run_rsyslog

ALICE = HistoryEntry(time="", epoch=time.time(), user="alice", ip="203.0.113.7", rdns="", methods=("publickey",),
                     key="ssh-ed25519 SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s", key_comment="",
                     kind="command", outcome=EMAILED, new_ip=True, trusted=False, log_key="1:2:3", port="51234",
                     country="DE", asn=64500, org="Example Hosting GmbH")


@pytest.fixture
def rsyslog(tmp_path: Path) -> Iterator[Rsyslog]:
    if not can_run_rsyslog():
        require(False, "rsyslog with mmpstrucdata (Debian package rsyslog), as root")
    server = Rsyslog(tmp_path / "rsyslog")
    yield server
    server.remove()


def sd(parsed: dict) -> dict:
    return parsed["rfc5424-sd"]["ssh_alert@32473"]


@pytest.mark.parametrize("scheme", ["tcp", "udp"])
def test_rsyslog_parses_the_structured_data_into_fields(rsyslog: Rsyslog, scheme: str) -> None:
    event = login_event(ALICE, "conn|1", "web1.example.com")
    port = rsyslog.tcp if scheme == "tcp" else rsyslog.udp
    outcome = sender("/nonexistent", "authpriv", "rfc5424", "{}://127.0.0.1:{}".format(scheme, port))(event)
    assert outcome.state == SENT
    (parsed,) = rsyslog.parsed(1)
    assert sd(parsed) == {"event_id": event["id"], "user": "alice", "rhost": "203.0.113.7", "port": "51234",
                          "key_fp": "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s", "kind": "command",
                          "country": "DE", "asn": "64500", "new_ip": "yes", "outcome": EMAILED}


def test_hostile_values_stay_inside_their_parameter(rsyslog: Rsyslog) -> None:
    event = login_event(ALICE._replace(user='eve"] [x@1 user="root"]\\'), "conn|2", "web1")
    sender("", "authpriv", "rfc5424", "tcp://127.0.0.1:{}".format(rsyslog.tcp))(event)
    (parsed,) = rsyslog.parsed(1)
    assert sd(parsed)["user"] == 'eve"] [x@1 user="root"]\\'
    assert list(parsed["rfc5424-sd"]) == ["ssh_alert@32473"]


def test_several_logins_over_one_tcp_connection_arrive_framed_one_each(rsyslog: Rsyslog) -> None:
    events = [login_event(ALICE._replace(ip="203.0.113.{}".format(number)), "conn|{}".format(number), "web1")
              for number in range(1, 6)]
    lines = [line for event in events for line in syslog5424.messages(event, "web1")]
    syslog5424.send(lines, "tcp://127.0.0.1:{}".format(rsyslog.tcp), "")
    parsed = rsyslog.parsed(5)
    assert [sd(item)["rhost"] for item in parsed] == ["203.0.113.{}".format(number) for number in range(1, 6)]


def test_the_message_is_json_and_the_header_follows_rfc5424() -> None:
    event = login_event(ALICE, "conn|1", "web one", urgent=True)
    (line,) = syslog5424.messages(event, "web one", "authpriv")
    header, _, rest = line.partition(b" [ssh_alert@32473 ")
    assert header.startswith(b"<84>1 ") and header.endswith(b" webone ssh_alert - login")  # authpriv.warning
    message = rest.split(b"] \xef\xbb\xbf", 1)[1]
    body = json.loads(message.decode("utf-8"))
    assert body["id"] == event["id"] and body["user"] == "alice" and body["urgent"] is True


def test_a_notice_carries_its_event_id() -> None:
    event = notice_event("Store lost", "text", "identity", "web1")
    (line,) = syslog5424.messages(event, "web1")
    assert '[ssh_alert@32473 event_id="{}"]'.format(event["id"]).encode() in line


def test_a_collector_that_is_down_is_a_retry() -> None:
    port = free_port()
    outcome = sender("", "authpriv", "rfc5424", "tcp://127.0.0.1:{}".format(port))(login_event(ALICE, "c", "h"))
    assert outcome.state == RETRY and "127.0.0.1:{}".format(port) in outcome.detail


def test_rfc5424_to_the_local_socket(tmp_path: Path) -> None:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(tmp_path / "log"))
    server.settimeout(2)
    with server:
        assert sender(str(tmp_path / "log"), "user", "rfc5424")(login_event(ALICE, "c", "h")).state == SENT
        assert server.recv(65536).startswith(b"<14>1 ")


@pytest.mark.parametrize("target", ["http://h:514", "tcp://h", "tcp://:514", "udp://h:99999", "h:514"])
def test_bad_targets_are_named(target: str) -> None:
    assert names.target_problem(target).startswith(repr(target))


def test_good_targets_pass() -> None:
    assert names.target_problem("tcp://logs.example.net:514") == ""
    assert names.target_problem("udp://[2001:db8::1]:514") == ""
