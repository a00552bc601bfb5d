"""The syslog line of a login and its delivery: a real Unix datagram socket stands in for /dev/log and the test
reads exactly what a syslog daemon would receive."""

import socket
from pathlib import Path
from typing import Iterator

import pytest

from app.store.history import EMAILED, KNOWN_IP, HistoryEntry
from app.check.events import event_id, login_event
from app.channels.syslog import MAX_LINE_BYTES, event_lines, send


def syslog_line(entry: HistoryEntry, host: str, syslog_format: str = "logfmt") -> str:
    """The line syslog gets for one login (named by its log key, as a login without a connection is)."""
    return event_lines(login_event(entry, entry.log_key, host), syslog_format)[0]


ALICE = HistoryEntry(time="2026-11-25 11:55:03 +0000", epoch=1795607703.0, user="alice", ip="203.0.113.7",
                     rdns="host7.example.net", methods=("publickey",),
                     key="ssh-ed25519 SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s", key_comment="alice@laptop",
                     kind="command", outcome=EMAILED, new_ip=True, trusted=False, log_key="2049:131:4096")
PREFIX = "event=login id={} epoch=1795607703 ".format(event_id("2049:131:4096", "login"))
ALICE_LINE = (PREFIX + 'host=web1.example.com user=alice ip=203.0.113.7 rdns=host7.example.net method=publickey '
              'key="ssh-ed25519 SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s" comment=alice@laptop '
              'kind=command new_ip=yes trusted=no outcome=emailed time="2026-11-25 11:55:03 +0000"')


@pytest.fixture
def syslog_socket(tmp_path: Path) -> Iterator[socket.socket]:
    """A bound datagram socket standing in for /dev/log, at tmp_path/log."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(tmp_path / "log"))
    server.settimeout(2)
    yield server
    server.close()


def test_a_login_becomes_one_key_value_line() -> None:
    assert syslog_line(ALICE, "web1.example.com") == ALICE_LINE


def test_empty_values_and_values_with_spaces_are_quoted() -> None:
    entry = ALICE._replace(rdns="", methods=("publickey", "keyboard-interactive"), key_comment="", kind="",
                           outcome=KNOWN_IP, new_ip=False, trusted=True)
    line = syslog_line(entry, "web1")
    assert ' rdns="" method=publickey,keyboard-interactive ' in line
    assert ' comment="" kind="" new_ip=no trusted=yes outcome="known IP: not emailed" ' in line


def test_hostile_values_stay_on_one_line_escaped_like_the_email_with_quotes_and_backslashes_escaped() -> None:
    entry = ALICE._replace(user="eve\nssh_alert: login user=root", rdns="evil\r\x1b[2Jexample.net",
                           key_comment='say "hi" \\ bye\u202e\u2028', kind="command\x00")
    line = syslog_line(entry, "web1")
    assert line == (PREFIX + 'host=web1 user="eve\\\\x0assh_alert: login user=root" ip=203.0.113.7 '
                    'rdns="evil\\\\x0d\\\\x1b[2Jexample.net" '
                    'method=publickey key="ssh-ed25519 SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s" '
                    'comment="say \\"hi\\" \\\\ bye\\\\u202e\\\\u2028" kind="command\\\\x00" new_ip=yes trusted=no '
                    'outcome=emailed time="2026-11-25 11:55:03 +0000"')


def test_huge_values_are_cut_to_a_fair_share_so_the_line_fits_and_keeps_every_key() -> None:
    line = syslog_line(ALICE._replace(key_comment="\u00e9" * 5000, rdns="r" * 600), "web1")
    assert len(line.encode("utf-8")) <= MAX_LINE_BYTES
    assert line.endswith(' kind=command new_ip=yes trusted=no outcome=emailed time="2026-11-25 11:55:03 +0000"')
    rdns = line.split(" rdns=")[1].split(" ")[0]
    comment = line.split(" comment=")[1].split(" ")[0]
    assert rdns.endswith("\u2026") and comment.endswith("\u2026")
    assert abs(len(rdns.encode("utf-8")) - len(comment.encode("utf-8"))) <= 2  # neither crowds out the other


def test_an_unparsed_login_line_is_logged_with_its_raw_text() -> None:
    entry = HistoryEntry(time="", epoch=0, user="", ip="", rdns="", methods=(), key="", key_comment="", kind="",
                         outcome=EMAILED, new_ip=False, trusted=False, log_key="1:2:3", raw="garbage \\x1b line")
    assert syslog_line(entry, "web1").endswith(' time="" raw="garbage \\\\x1b line"')


def test_send_writes_one_authpriv_info_datagram_per_line(tmp_path: Path, syslog_socket: socket.socket) -> None:
    send([ALICE_LINE, "login second"], socket_path=str(tmp_path / "log"))
    assert syslog_socket.recv(4096) == b"<86>ssh_alert: " + ALICE_LINE.encode()  # authpriv 10 * 8 + info 6
    assert syslog_socket.recv(4096) == b"<86>ssh_alert: login second"


def test_the_user_facility_gives_priority_14(tmp_path: Path, syslog_socket: socket.socket) -> None:
    send(["login x"], socket_path=str(tmp_path / "log"), facility="user")
    assert syslog_socket.recv(4096) == b"<14>ssh_alert: login x"


def test_non_ascii_values_arrive_as_utf8(tmp_path: Path, syslog_socket: socket.socket) -> None:
    send([syslog_line(ALICE._replace(key_comment="zoë@laptop"), "web1")], socket_path=str(tmp_path / "log"))
    assert " comment=zo\u00eb@laptop ".encode("utf-8") in syslog_socket.recv(4096)


def test_no_syslog_socket_raises_oserror_and_prints_nothing(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    with pytest.raises(OSError):
        send(["login x"], socket_path=str(tmp_path / "missing"))
    assert capfd.readouterr() == ("", "")


def test_a_socket_nobody_listens_on_raises_oserror(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dead.bind(str(tmp_path / "log"))
    dead.close()  # the path stays; connecting to it is refused
    with pytest.raises(OSError):
        send(["login x"], socket_path=str(tmp_path / "log"))
    assert capfd.readouterr() == ("", "")


def test_an_unknown_facility_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="authpriv, user"):
        send(["login x"], socket_path=str(tmp_path / "log"), facility="local9")


def test_a_json_line_types_numbers_and_booleans_as_json() -> None:
    import json

    record = json.loads(syslog_line(ALICE, "web1.example.com", "json"))
    assert record["epoch"] == 1795607703 and record["new_ip"] is True and record["trusted"] is False
    assert record["user"] == "alice" and record["event"] == "login" and isinstance(record["id"], str)
    assert list(record) == [key for key, _ in (pair.split("=", 1) for pair in
                                               ["event=", "id=", "epoch=", "host=", "user=", "ip=", "rdns=",
                                                "method=", "key=", "comment=", "kind=", "new_ip=", "trusted=",
                                                "outcome=", "time="])]


def test_a_json_line_cut_to_fit_keeps_its_numbers_and_booleans() -> None:
    import json

    line = syslog_line(ALICE._replace(key_comment="c" * 3000, rdns="r" * 3000), "web1.example.com", "json")
    record = json.loads(line)
    assert len(line.encode("utf-8")) <= MAX_LINE_BYTES + 200
    assert record["epoch"] == 1795607703 and record["new_ip"] is True and record["comment"].endswith("\u2026")
