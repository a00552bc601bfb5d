"""``history``: the built pyz run as a subprocess over a history written into the store, and the pure
functions behind it (time and network filters, the table, the per-IP summary)."""

import argparse
import json
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import List, Optional

import pytest

from app.commands.history import (BAD_IP, BAD_SINCE, NO_HISTORY, NO_MATCH, matches, output, parse_network,
                                  parse_since, records, run, summary, summary_table, table)
from app.commands.result import Result
from app.errors import ExitCode, UserError
from app.store import history as recorded_history
from app.store.history import DIGEST, EMAILED, KNOWN_IP, TRUSTED_SKIPPED, HistoryEntry
from app.store.store import opened
from app.system.paths import Paths
from helpers import pyz_env, run_pyz

NOW = time.time()
DAY = 86400.0
FINGERPRINT = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s"


def login(days_ago: float, ip: str, user: str = "alice", **fields: object) -> HistoryEntry:
    """A recorded login days_ago before now, its time written as the hook writes it (UTC here)."""
    epoch = NOW - days_ago * DAY
    values = dict(time=time.strftime("%Y-%m-%d %H:%M:%S +0000", time.gmtime(epoch)), epoch=epoch, user=user, ip=ip,
                  rdns="", methods=("publickey",), key="ssh-ed25519 " + FINGERPRINT, key_comment="", kind="command",
                  outcome=EMAILED, new_ip=False, trusted=False, log_key="2049:131:{}".format(int(epoch)))
    values.update(fields)
    return HistoryEntry(**values)  # type: ignore[arg-type]


UNPARSED = HistoryEntry(time="", epoch=0, user="", ip="", rdns="", methods=(), key="", key_comment="", kind="",
                        outcome=EMAILED, new_ip=False, trusted=False, log_key="2049:131:1",
                        raw="2026-11-25 garbled \\x1b[2J line")
RECORDED = [
    login(30, "203.0.113.7", new_ip=True, rdns="laptop.example.net", key_comment="alice@laptop"),
    login(2, "198.51.100.4", user="bob", outcome=KNOWN_IP, kind="interactive"),
    UNPARSED,
    login(1, "::ffff:203.0.113.9", outcome=DIGEST, key="", kind=""),
    login(0.5, "203.0.113.7", user="carol", outcome=TRUSTED_SKIPPED, trusted=True, rdns="laptop2.example.net"),
]


def flags(since: Optional[str] = None, ip: Optional[str] = None, user: Optional[str] = None,
          summary: bool = False, as_json: bool = False) -> argparse.Namespace:
    """The namespace the CLI builds for `history`."""
    return argparse.Namespace(since=since, ip=ip, user=user, summary=summary, json=as_json)


@pytest.fixture
def recorded(paths: Paths) -> Paths:
    record(paths, RECORDED)
    return paths


def record(paths: Paths, entries: List[HistoryEntry]) -> None:
    """Write entries into the store's history, as check does."""
    with opened(paths.store_file) as store, store.transaction():
        store.add_history([recorded_history.row(entry) for entry in entries])


def history(pyz: Path, home: Path, shiv_root: Path, *arguments: str) -> subprocess.CompletedProcess:
    return run_pyz(pyz, ["history"] + list(arguments), pyz_env(home, shiv_root))


def data_lines(result: subprocess.CompletedProcess) -> List[str]:
    """The table's rows without its header; asserts the command succeeded quietly."""
    assert (result.returncode, result.stderr) == (0, "")
    header, *rows = result.stdout.splitlines()
    assert header.split()[:3] == ["TIME", "USER", "IP"] or header.split()[:2] == ["IP", "USERS"]
    return rows


# --- the built pyz -------------------------------------------------------------------------------------

def test_history_lists_every_login_oldest_first_so_the_newest_is_next_to_the_prompt(
        recorded: Paths, home: Path, pyz: Path, shiv_root: Path) -> None:
    rows = data_lines(history(pyz, home, shiv_root))
    assert len(rows) == 5
    assert rows[0].split()[3:9] == ["alice", "203.0.113.7", "NEW", "laptop.example.net", "publickey", "alice@laptop"]
    assert rows[0].endswith("command      -       emailed")
    assert "bob" in rows[1] and rows[1].endswith("known IP: not emailed")
    assert "unparsed: 2026-11-25 garbled \\x1b[2J line" in rows[2]
    assert "SHA256:uNiVztksCsDh\u2026" in rows[1] and "digest" in rows[3]
    assert "carol" in rows[4] and rows[4].endswith("trusted: not emailed")


def test_history_json_gives_every_field_of_every_login(recorded: Paths, home: Path, pyz: Path,
                                                      shiv_root: Path) -> None:
    result = history(pyz, home, shiv_root, "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout) == [dict(entry._asdict(), methods=list(entry.methods),
                                              geo_sources=list(entry.geo_sources))
                                          for entry in RECORDED]


def test_history_summary_gives_one_row_per_source_ip_with_its_users_sorted_by_last_seen(
        recorded: Paths, home: Path, pyz: Path, shiv_root: Path) -> None:
    rows = [row.split() for row in data_lines(history(pyz, home, shiv_root, "--summary"))]
    assert [row[:3] for row in rows] == [["198.51.100.4", "bob", "1"], ["203.0.113.9", "alice", "1"],
                                         ["203.0.113.7", "alice,carol", "2"]]
    assert rows[2][-1] == "laptop2.example.net"


def test_history_summary_json_gives_the_same_rows(recorded: Paths, home: Path, pyz: Path, shiv_root: Path) -> None:
    result = history(pyz, home, shiv_root, "--summary", "--json")
    rows = json.loads(result.stdout)
    assert [(row["ip"], row["users"], row["count"]) for row in rows] == [
        ("198.51.100.4", ["bob"], 1), ("203.0.113.9", ["alice"], 1), ("203.0.113.7", ["alice", "carol"], 2)]
    assert rows[2]["first_seen"] == RECORDED[0].time and rows[2]["last_seen"] == RECORDED[4].time


def test_history_ip_network_selects_its_logins_including_ipv4_mapped_ones(
        recorded: Paths, home: Path, pyz: Path, shiv_root: Path) -> None:
    rows = data_lines(history(pyz, home, shiv_root, "--ip", "203.0.113.0/24"))
    assert [row.split()[3] for row in rows] == ["alice", "alice", "carol"]
    assert "::ffff:203.0.113.9" in rows[1]


def test_history_since_7d_leaves_out_older_logins(recorded: Paths, home: Path, pyz: Path, shiv_root: Path) -> None:
    rows = data_lines(history(pyz, home, shiv_root, "--since", "7d"))
    assert [row.split()[3] for row in rows] == ["bob", "alice", "carol"]


def test_a_bad_since_exits_2_with_one_line_naming_the_value_and_the_accepted_forms(
        recorded: Paths, home: Path, pyz: Path, shiv_root: Path) -> None:
    result = history(pyz, home, shiv_root, "--since", "last tuesday")
    assert (result.returncode, result.stdout) == (ExitCode.USAGE, "")
    assert result.stderr == "ssh_alert: " + BAD_SINCE.format(value="last tuesday") + "\n"
    assert "'last tuesday'" in result.stderr and "YYYY-MM-DD" in result.stderr and "7d" in result.stderr


def test_a_bad_ip_exits_2_with_one_line_naming_it(recorded: Paths, home: Path, pyz: Path, shiv_root: Path) -> None:
    result = history(pyz, home, shiv_root, "--ip", "203.0.113.0/33")
    assert (result.returncode, result.stdout) == (ExitCode.USAGE, "")
    assert result.stderr == "ssh_alert: " + BAD_IP.format(value="203.0.113.0/33") + "\n"


def test_no_history_yet_says_so_in_one_line(paths: Paths, home: Path, pyz: Path, shiv_root: Path) -> None:
    result = history(pyz, home, shiv_root)
    assert (result.returncode, result.stdout, result.stderr) == (0, NO_HISTORY.format(path=paths.store_file) + "\n",
                                                                 "")


# --- the command in-process ----------------------------------------------------------------------------

def test_no_history_yet_is_an_empty_json_array_for_scripts(paths: Paths) -> None:
    assert run(paths, flags(as_json=True)).data == []
    assert run(paths, flags(summary=True, as_json=True)).data == []


def test_filters_that_match_nothing_say_which_filters_and_how_many_logins_exist(recorded: Paths) -> None:
    result = run(recorded, flags(since="2026-11-01 08:00", user="mallory"))
    assert result == Result(["none of the 5 recorded login(s) match --since '2026-11-01 08:00' --user mallory"],
                            ExitCode.OK, [])
    assert NO_MATCH.startswith("none of the")


def test_a_history_that_cannot_be_read_is_an_error_not_an_empty_history(paths: Paths) -> None:
    paths.state_dir.mkdir(parents=True)
    paths.store_file.write_bytes(b"not a database" * 100)
    with pytest.raises(UserError, match="cannot read the login history"):
        run(paths, flags())


def test_output_lines_are_the_table_or_the_summary_and_json_gets_the_same_records(recorded: Paths) -> None:
    assert output(RECORDED, 5, flags(), recorded.store_file) == table(RECORDED)
    assert output(RECORDED, 5, flags(summary=True), recorded.store_file) == summary_table(summary(RECORDED))
    assert records(RECORDED, False) == [entry._asdict() for entry in RECORDED]
    per_ip = records(RECORDED, True)  # --json keeps the key "count" (the field is logins)
    assert [list(row) for row in per_ip] == [["ip", "users", "count", "first_seen", "first_epoch", "last_seen",
                                              "last_epoch", "rdns"]] * len(per_ip)
    assert [tuple(row.values()) for row in per_ip] == [tuple(row) for row in summary(RECORDED)]


# --- parse_since -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, seconds", [("30m", 1800), ("12h", 43200), ("7d", 604800), ("2w", 1209600),
                                           (" 7D ", 604800), ("0d", 0)])
def test_since_accepts_an_age_before_now(text: str, seconds: int) -> None:
    assert parse_since(text, 1_000_000_000.0) == 1_000_000_000.0 - seconds


@pytest.mark.parametrize("text, local", [
    ("2026-11-01", datetime(2026, 11, 1)), ("2026-11-01 08:00", datetime(2026, 11, 1, 8)),
    ("2026-11-01T08:00:30", datetime(2026, 11, 1, 8, 0, 30))])
def test_since_reads_a_date_or_time_without_offset_as_local_time(text: str, local: datetime) -> None:
    assert parse_since(text, NOW) == local.timestamp()


@pytest.mark.parametrize("text", ["2026-11-25T11:55:03+00:00", "2026-11-25T11:55:03Z", "2026-11-25 11:55:03 +0000",
                                  "2026-11-25T12:55:03+01:00", "2026-11-25T06:55:03.000-05:00"])
def test_since_reads_iso_times_with_offset_and_the_recorded_format(text: str) -> None:
    assert parse_since(text, NOW) == 1795607703.0


@pytest.mark.parametrize("text", ["yesterday", "", "7y", "-7d", "2026-13-01", "2026-02-30", "2026-11-01 25:00",
                                  "2026-11-25T11:55:03+24:00", "1700000000"])
def test_since_refuses_anything_else_naming_the_value_and_the_accepted_forms(text: str) -> None:
    with pytest.raises(UserError) as raised:
        parse_since(text, NOW)
    assert raised.value.exit_code == ExitCode.USAGE
    assert repr(text) in raised.value.message and "30m, 12h, 7d, 2w" in raised.value.message


# --- parse_network and matches ---------------------------------------------------------------------------

def test_an_ipv4_mapped_address_or_network_is_the_ipv4_one() -> None:
    assert parse_network("::ffff:203.0.113.7") == parse_network("203.0.113.7")
    assert parse_network("::ffff:203.0.113.0/120") == parse_network("203.0.113.0/24")


@pytest.mark.parametrize("text", ["203.0.113.0/33", "web1.example.com", "", "203.0.113"])
def test_a_bad_ip_filter_is_refused_naming_it(text: str) -> None:
    with pytest.raises(UserError, match="not an IP address or network"):
        parse_network(text)


def test_an_address_filter_matches_the_address_however_it_was_recorded() -> None:
    network = parse_network("203.0.113.9")
    assert matches(login(1, "::ffff:203.0.113.9"), None, network, None)
    assert matches(login(1, "203.0.113.9"), None, parse_network("::ffff:203.0.113.9"), None)
    assert not matches(login(1, "203.0.113.10"), None, network, None)


def test_an_ipv6_network_matches_its_addresses_and_no_ipv4_one() -> None:
    network = parse_network("2001:db8::/32")
    assert matches(login(1, "2001:db8:0:1::5"), None, network, None)
    assert not matches(login(1, "203.0.113.9"), None, network, None)


def test_filters_combine_and_a_login_without_time_or_address_never_passes_them() -> None:
    entry = login(1, "203.0.113.9", user="bob")
    assert matches(entry, NOW - 2 * DAY, parse_network("203.0.113.0/24"), "bob")
    assert not matches(entry, NOW - 2 * DAY, parse_network("203.0.113.0/24"), "alice")
    assert not matches(entry, NOW - 0.5 * DAY, None, None)
    assert matches(UNPARSED, None, None, None)
    assert not matches(UNPARSED, 0.0, None, None)
    assert not matches(UNPARSED, None, parse_network("0.0.0.0/0"), None)


# --- table and summary -------------------------------------------------------------------------------------

def test_columns_are_as_wide_as_their_content_and_long_values_are_cut() -> None:
    lines = table([login(1, "203.0.113.7", user="al", rdns="r" * 100, kind="")])
    assert lines[0].startswith("TIME" + " " * 23 + "USER  IP           NEW  RDNS ")
    assert ("r" * 39 + "\u2026  publickey") in lines[1]
    assert lines[1].split()[-4:] == ["SHA256:uNiVztksCsDh\u2026", "-", "-", "emailed"]
    assert not any(line.endswith(" ") for line in lines)


def test_the_key_column_shows_the_comment_else_a_short_fingerprint_else_a_dash() -> None:
    rows = table([login(3, "192.0.2.1", key_comment="ci@build"), login(2, "192.0.2.1"),
                  login(1, "192.0.2.1", key="", methods=("password",))])[1:]
    assert [row.split()[7] for row in rows] == ["ci@build", "SHA256:uNiVztksCsDh\u2026", "-"]


def test_terminal_control_sequences_in_recorded_values_are_not_printed() -> None:
    line = table([login(1, "192.0.2.1", key_comment="\x1b]0;pwned\x07\x1b[2Jbob@evil\u202e")])[1]
    assert "\x1b" not in line and "\x07" not in line and "\u202e" not in line
    assert "\\x1b]0;pwned\\x07\\x1b[2Jbob@evil" in line  # escaped, as in the email and syslog


def test_summary_counts_logins_per_ip_with_first_and_last_seen_and_the_latest_name() -> None:
    rows = summary(RECORDED)
    assert [row.ip for row in rows] == ["198.51.100.4", "203.0.113.9", "203.0.113.7"]
    latest = rows[-1]
    assert (latest.users, latest.logins, latest.first_seen, latest.last_seen, latest.rdns) == (
        ("alice", "carol"), 2, RECORDED[0].time, RECORDED[4].time, "laptop2.example.net")
    assert sum(row.logins for row in rows) == 4  # the unparsed line has no address


def test_summary_joins_a_mapped_address_with_its_ipv4_form() -> None:
    rows = summary([login(2, "::ffff:203.0.113.9", user="bob"), login(1, "203.0.113.9")])
    assert [(row.ip, row.users, row.logins) for row in rows] == [("203.0.113.9", ("alice", "bob"), 2)]
