"""check with the alert policy, against a real SMTP server: new sources, trust, digests, the hourly limit,
history, syslog and the HTML part. Every login is recorded; none is lost."""

import json
import socket
import time
from pathlib import Path
from typing import Dict

import pytest

from app.store import history
from app.commands.check import run_check
from app.errors import ExitCode, UserError
from app.system.paths import Paths
from helpers import append_log, login_line, smtp_settings, stamp, write_config
from support.mailsink import MailSink
from support.stored import holding, recorded, seen

# The tests' logins happen within the hour before the suite's start, in the order their minutes give.
HOUR_AGO_BASE = time.time()


def configure(paths: Paths, sink: MailSink, **alert: str) -> None:
    settings: Dict[str, str] = {"digest_after": "3", "max_per_hour": "20", "reverse_dns": "no"}
    settings.update(alert)
    write_config(paths, alert=settings, smtp=smtp_settings(sink))
    run_check(paths)  # seed


def login(paths: Paths, ip: str, number: int, user: str = "alice", minute: int = 0) -> None:
    append_log(paths, login_line(ip=ip, user=user, when=login_time(minute, number),
                                 extras="cport={} saddr=10.0.0.1 sport=22 tty=/dev/pts/0".format(40000 + number)))


def login_time(minute: int, number: int) -> str:
    """The log time of login number at minute: within the last hour, in order."""
    return stamp(3600 - 60 * minute - number % 60, now=HOUR_AGO_BASE)


def subjects(sink: MailSink):
    return [received.message["Subject"] for received in sink.messages]


def outcomes(paths: Paths):
    return [(entry.ip, entry.outcome, entry.new_ip) for entry in recorded(paths)]


def test_first_login_from_an_address_is_marked_new_and_the_next_says_when_it_was_first_seen(paths: Paths,
                                                                                             sink: MailSink):
    configure(paths, sink)
    login(paths, "203.0.113.7", 1, minute=1)
    run_check(paths)
    login(paths, "203.0.113.7", 2, minute=5)
    run_check(paths)
    assert subjects(sink) == ["[NEW IP] SSH login: alice@web1.example.com from 203.0.113.7",
                              "SSH login: alice@web1.example.com from 203.0.113.7"]
    assert "first login from this address for alice" in sink.messages[0].message.get_content()
    assert "known: first seen " + login_time(1, 1)[:10] in sink.messages[1].message.get_content()
    assert "1 earlier login(s)" in sink.messages[1].message.get_content()


def test_notify_new_records_logins_from_known_addresses_without_emailing_them(paths: Paths, sink: MailSink):
    configure(paths, sink, notify="new")
    login(paths, "203.0.113.7", 1)
    run_check(paths)
    login(paths, "203.0.113.7", 2)
    login(paths, "198.51.100.9", 3)
    run_check(paths)
    assert subjects(sink) == ["[NEW IP] SSH login: alice@web1.example.com from 203.0.113.7",
                              "[NEW IP] SSH login: alice@web1.example.com from 198.51.100.9"]
    assert outcomes(paths) == [("203.0.113.7", history.EMAILED, True), ("203.0.113.7", history.KNOWN_IP, False),
                               ("198.51.100.9", history.EMAILED, True)]


@pytest.mark.parametrize("action", ["skip", "tag"])
def test_trusted_networks_are_skipped_or_tagged_and_always_recorded(paths: Paths, sink: MailSink, action: str):
    configure(paths, sink, trusted="203.0.113.0/24, 2001:db8::/48", trusted_action=action)
    login(paths, "203.0.113.7", 1)
    login(paths, "::ffff:198.51.100.1", 2)
    run_check(paths)
    if action == "skip":
        assert subjects(sink) == ["[NEW IP] SSH login: alice@web1.example.com from ::ffff:198.51.100.1"]
        assert outcomes(paths)[0] == ("203.0.113.7", history.TRUSTED_SKIPPED, True)
    else:
        assert subjects(sink)[0] == "[NEW IP] [trusted] SSH login: alice@web1.example.com from 203.0.113.7"
        assert len(sink.messages) == 2


def test_more_pending_alerts_than_digest_after_go_out_as_one_digest_newest_first(paths: Paths, sink: MailSink):
    configure(paths, sink, digest_after="3")
    for number, ip in enumerate(["192.0.2.1", "192.0.2.2", "192.0.2.1", "192.0.2.3", "192.0.2.4"]):
        login(paths, ip, number)
    run_check(paths)
    (digest,) = sink.messages
    assert digest.message["Subject"] == "SSH logins: 5 on web1.example.com from 4 IPs (4 new)"
    lines = [line for line in digest.message.get_content().splitlines() if "@192.0.2." in line]
    assert [line.split("@")[1].split()[0] for line in lines] == ["192.0.2.4", "192.0.2.3", "192.0.2.1",
                                                                 "192.0.2.2", "192.0.2.1"]
    assert [outcome for _, outcome, _ in outcomes(paths)] == [history.DIGEST] * 5


def test_beyond_the_hourly_limit_alerts_go_out_at_once_as_digests_at_most_one_a_minute_and_drop_nothing(
        paths: Paths, sink: MailSink):
    from app.check.dispatch import LIMIT_DIGEST
    from app.store.store import opened

    configure(paths, sink, max_per_hour="2", digest_after="100")
    for number in range(5):
        login(paths, "198.51.100.{}".format(number + 1), number)
        run_check(paths)
    assert len(sink.messages) == 3  # two within the limit, the third at once as a digest of one
    assert "198.51.100.3" in sink.messages[2].message.get_content()
    assert holding(paths)  # the fourth and fifth wait for the next digest: one a minute
    from app.commands.status import run_status

    (hold,) = [check for check in run_status(paths) if check.name == "hourly limit"]
    assert hold.status == "warn" and "max_per_hour = 2" in hold.detail
    assert len(outcomes(paths)) == 3  # the held ones are still pending, not recorded as done
    with opened(paths.store_file) as store, store.transaction():
        store.put(LIMIT_DIGEST, float(store.get(LIMIT_DIGEST)) - 61)
    run_check(paths)  # a minute later, not an hour
    assert len(sink.messages) == 4
    digest = sink.messages[3].message
    assert digest["Subject"].startswith("SSH logins: 2 on web1.example.com")
    assert all("198.51.100.{}".format(number) in digest.get_content() for number in (4, 5))
    assert [ip for ip, _, _ in outcomes(paths)] == ["198.51.100.{}".format(number) for number in range(1, 6)]


def test_a_thousand_pending_logins_become_digests_within_the_hourly_limit(paths: Paths, sink: MailSink):
    configure(paths, sink, max_per_hour="20")
    append_log(paths, *[login_line(ip="10.{}.{}.1".format(number // 250, number % 250),
                                   extras="cport={}".format(30000 + number)) for number in range(1000)])
    run_check(paths)
    assert len(sink.messages) == 1
    assert sink.messages[0].message["Subject"].startswith("SSH logins: 1000 on web1.example.com from 1000 IPs")
    assert len(recorded(paths)) == 1000


def test_syslog_gets_one_structured_line_per_login(paths: Paths, sink: MailSink, tmp_path: Path):
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    address = str(tmp_path / "log")
    listener.bind(address)
    listener.settimeout(5)
    try:
        configure(paths, sink, syslog="yes", syslog_socket=address, syslog_facility="authpriv")
        login(paths, "203.0.113.7", 1)
        run_check(paths)
        datagram = listener.recv(4096).decode()
    finally:
        listener.close()
    assert datagram.startswith("<86>ssh_alert: event=login id=evt_")
    assert "user=alice" in datagram and "ip=203.0.113.7" in datagram and "outcome=emailed" in datagram
    assert "new_ip=yes" in datagram and "\n" not in datagram


def test_a_missing_syslog_socket_never_holds_an_alert_back(paths: Paths, sink: MailSink, tmp_path: Path):
    configure(paths, sink, syslog="yes", syslog_socket=str(tmp_path / "no-such-socket"))
    login(paths, "203.0.113.7", 1)
    with pytest.raises(UserError) as raised:  # exit 1: syslog's line stays pending; the email went out
        run_check(paths)
    assert raised.value.exit_code == ExitCode.NOT_DONE and "cannot write to syslog" in raised.value.message
    assert len(sink.messages) == 1
    assert "cannot write to syslog" in paths.oplog_file.read_text()


def test_a_syslog_line_the_socket_refused_is_written_once_when_syslog_is_back(paths: Paths, sink: MailSink,
                                                                           tmp_path: Path):
    address = str(tmp_path / "log")
    configure(paths, sink, syslog="yes", syslog_socket=address)
    login(paths, "203.0.113.7", 1)
    with pytest.raises(UserError):
        run_check(paths)  # rsyslog is down: no /dev/log
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(address)
    listener.settimeout(0.5)
    try:
        run_check(paths)
        run_check(paths)
        datagrams = []
        while True:
            try:
                datagrams.append(listener.recv(4096).decode())
            except socket.timeout:
                break
    finally:
        listener.close()
    assert len(datagrams) == 1 and "ip=203.0.113.7" in datagrams[0]
    assert len(sink.messages) == 1


def test_syslog_gets_logins_the_hourly_email_limit_holds(paths: Paths, sink: MailSink, tmp_path: Path):
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    address = str(tmp_path / "log")
    listener.bind(address)
    listener.settimeout(0.5)
    try:
        configure(paths, sink, syslog="yes", syslog_socket=address, max_per_hour="1", syslog_format="json")
        login(paths, "203.0.113.7", 1)
        run_check(paths)
        login(paths, "203.0.113.8", 2)
        run_check(paths)  # beyond the limit: a digest at once; syslog as always
        run_check(paths)
        lines = []
        while True:
            try:
                lines.append(json.loads(listener.recv(4096).decode().split(": ", 1)[1]))
            except socket.timeout:
                break
    finally:
        listener.close()
    assert len(sink.messages) == 2
    assert [line["ip"] for line in lines] == ["203.0.113.7", "203.0.113.8"]
    assert len({line["id"] for line in lines}) == 2


def test_html_part_is_added_when_asked_with_every_value_escaped(paths: Paths, sink: MailSink):
    configure(paths, sink, html="yes")
    append_log(paths, stamp(60).encode() + b" 203.0.113.7 <b>mallory</b> publickey cport=1")
    run_check(paths)
    message = sink.messages[0].message
    html_part = message.get_body(("html",)).get_content()
    assert "<b>mallory</b>" not in html_part and "&lt;b&gt;mallory&lt;/b&gt;" in html_part
    assert message.get_body(("plain",)) is not None


def test_reverse_dns_names_the_source_when_enabled(paths: Paths, sink: MailSink):
    configure(paths, sink, reverse_dns="yes")
    login(paths, "127.0.0.1", 1)
    run_check(paths)
    assert "Reverse DNS: localhost" in sink.messages[0].message.get_content()


def test_sources_survive_between_runs_in_a_private_store(paths: Paths, sink: MailSink):
    configure(paths, sink)
    login(paths, "203.0.113.7", 1)
    run_check(paths)
    assert seen(paths, "alice", "203.0.113.7").logins == 1
    assert oct(paths.store_file.stat().st_mode & 0o777) == "0o600"
