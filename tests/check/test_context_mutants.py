"""What every message of a run needs (app.check.context): the name alerts give this host, the Date header, the
envelope, and the EHLO name kept in the store for a day (finding it can wait on DNS, which is stood in for)."""

import datetime
import email.utils
import socket
import time
from pathlib import Path
from typing import List

import pytest

from app.check import context
from app.settings.config import Config, load_config
from app.store.store import Store
from app.system.paths import Paths
from helpers import write_config


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> List[str]:
    """Each EHLO name looked up (the DNS step stood in for: it answers "mx.example.net")."""
    import app.channels.mailname

    asked: List[str] = []

    def local_ehlo_name(configured: str = "") -> str:
        asked.append(configured)
        return "mx.example.net"

    monkeypatch.setattr(app.channels.mailname, "local_ehlo_name", local_ehlo_name)
    return asked


def config(paths: Paths, **alert: str) -> Config:
    write_config(paths, alert=alert, smtp={"host": "127.0.0.1", "port": "2525", "security": "none"})
    return load_config(paths.config_file)


def reopened(store: Store, tmp_path: Path) -> Store:
    """store closed (its later() changes made) and opened again."""
    store.close()
    return Store.open(tmp_path / "store.db")


# --- the host's name ---------------------------------------------------------------------------------------------

def test_a_host_label_names_the_host(paths: Paths) -> None:
    assert context.host_name(config(paths, host_label="web1 (billing)")) == "web1 (billing)"


def test_without_a_host_label_the_host_is_named_by_its_fqdn(paths: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "getfqdn", lambda: "web2.example.com")
    assert context.host_name(config(paths, host_label="")) == "web2.example.com"


def test_a_real_fqdn_is_the_machines_name() -> None:
    assert context.machine_name("vm.example.com", "vm") == "vm.example.com"
    assert context.machine_name("localhostly.example.com", "vm") == "localhostly.example.com"


@pytest.mark.parametrize("fqdn", ["localhost", "LOCALHOST.", "localhost.localdomain", "localhost6", "ip6-localhost",
                                  "ip6-loopback", "localhost.example"])
def test_an_fqdn_that_is_only_localhost_gives_way_to_the_host_name(fqdn: str) -> None:
    assert context.machine_name(fqdn, "vm") == "vm"


def test_without_a_host_name_the_system_one_then_the_fqdn_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "gethostname", lambda: "box")
    assert context.machine_name("localhost", "") == "box"
    monkeypatch.setattr(socket, "gethostname", lambda: "")
    assert context.machine_name("localhost", "") == "localhost"


def test_the_fqdn_is_looked_up_when_none_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "getfqdn", lambda: "web3.example.com")
    assert context.machine_name() == "web3.example.com"


# --- the Date header -----------------------------------------------------------------------------------------------

def test_the_date_is_now_in_local_time_as_a_date_header_spells_it() -> None:
    before = time.time()
    parsed = email.utils.parsedate_to_datetime(context.date_now())
    assert before - 1 <= parsed.timestamp() <= time.time() + 1
    assert parsed.utcoffset() == datetime.datetime.now().astimezone().utcoffset()


# --- the envelope and the EHLO name --------------------------------------------------------------------------------

def test_the_envelope_carries_sender_recipients_host_and_the_configured_ehlo_name(paths: Paths, store: Store,
                                                                                 lookups: List[str]) -> None:
    built = context.envelope(config(paths, to="a@example.com, b@example.com", ehlo_name="relay.example.org"), store)
    assert (built.sender, list(built.recipients)) == ("ssh-alert@example.com", ["a@example.com", "b@example.com"])
    assert (built.host, built.mail_domain) == ("web1.example.com", "relay.example.org")
    assert lookups == []  # configured: nothing looked up, nothing kept


def test_an_ehlo_name_looked_up_is_kept_for_a_day_with_the_next_commit(store: Store, tmp_path: Path,
                                                                       lookups: List[str]) -> None:
    before = time.time()
    assert context.ehlo_name(store) == "mx.example.net"
    assert store.get("ehlo") is None  # no commit of its own
    store = reopened(store, tmp_path)
    kept = store.get("ehlo")
    assert kept["name"] == "mx.example.net" and before <= kept["at"] <= time.time()
    assert context.ehlo_name(store) == "mx.example.net" and lookups == [""]  # the kept one: no second lookup
    store.close()


@pytest.mark.parametrize("age", [context.EHLO_KEPT_SECONDS + 1, context.EHLO_KEPT_SECONDS, -60.0])
def test_an_ehlo_name_kept_a_day_or_from_the_future_is_looked_up_again(store: Store, lookups: List[str],
                                                                       age: float) -> None:
    with store.transaction():
        store.put("ehlo", {"name": "old.example.net", "at": time.time() - age})
    assert context.ehlo_name(store) == "mx.example.net" and lookups == [""]


def test_an_ehlo_name_kept_just_under_a_day_is_still_used(store: Store, lookups: List[str]) -> None:
    with store.transaction():
        store.put("ehlo", {"name": "old.example.net", "at": time.time() - context.EHLO_KEPT_SECONDS + 60})
    assert context.ehlo_name(store) == "old.example.net" and lookups == []


def test_a_kept_entry_without_a_name_is_looked_up_again(store: Store, lookups: List[str]) -> None:
    with store.transaction():
        store.put("ehlo", {"name": "", "at": time.time()})
    assert context.ehlo_name(store) == "mx.example.net"


def test_a_configured_ehlo_name_wins_over_a_kept_one(store: Store, lookups: List[str]) -> None:
    with store.transaction():
        store.put("ehlo", {"name": "old.example.net", "at": time.time()})
    assert context.ehlo_name(store, "relay.example.org") == "relay.example.org" and lookups == []


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> float:
    """context's clock held at one reading, so an age of exactly 0 or exactly a day can be tried."""
    now = time.time()
    monkeypatch.setattr(context.time, "time", lambda: now)
    return now


def test_an_ehlo_name_kept_this_very_second_is_used(store: Store, lookups: List[str], frozen: float) -> None:
    with store.transaction():
        store.put("ehlo", {"name": "old.example.net", "at": frozen})
    assert context.ehlo_name(store) == "old.example.net" and lookups == []


def test_an_ehlo_name_kept_exactly_a_day_is_looked_up_again(store: Store, lookups: List[str], frozen: float) -> None:
    assert context.EHLO_KEPT_SECONDS == 86400.0
    with store.transaction():
        store.put("ehlo", {"name": "old.example.net", "at": frozen - 86400.0})
    assert context.ehlo_name(store) == "mx.example.net" and lookups == [""]


def test_without_a_host_name_given_the_systems_is_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "gethostname", lambda: "box")
    assert context.machine_name("localhost") == "box"


# --- a run's parts -------------------------------------------------------------------------------------------------

def test_a_runs_parts_hold_its_paths_store_config_envelope_and_log(paths: Paths, store: Store) -> None:
    read = config(paths, ehlo_name="relay.example.org", host_label="web9")
    parts = context.RunParts.of(paths, store, read)
    assert (parts.paths, parts.store, parts.config) == (paths, store, read)
    assert (parts.envelope.host, parts.envelope.mail_domain) == ("web9", "relay.example.org")
    assert parts.log.path == paths.oplog_file


class Said:
    def __init__(self) -> None:
        self.warnings: List[str] = []

    def warning(self, text: str) -> None:
        self.warnings.append(text)


def test_a_warning_is_logged_once_while_its_condition_lasts_keyed_by_its_text_or_its_key(paths: Paths,
                                                                                         store: Store) -> None:
    read = config(paths, ehlo_name="relay.example.org")
    said = Said()
    parts = context.RunParts(paths, store, read, context.envelope(read, store), said)  # type: ignore[arg-type]
    parts.log_once("the disk is nearly full")
    parts.log_once("the disk is nearly full")
    parts.log_once("the mail server refused: 550", key="refused")
    parts.log_once("the mail server refused: 554", key="refused")  # the same condition in other words
    assert said.warnings == ["the disk is nearly full", "the mail server refused: 550"]
    store.clear_warning("refused")
    parts.log_once("the mail server refused: 554", key="refused")
    assert said.warnings[-1] == "the mail server refused: 554"


def test_the_transport_of_a_config_is_made_without_connecting(paths: Paths) -> None:
    made = context.transport(config(paths), paths, "relay.example.org")
    assert callable(made.send) and callable(made.close)
    made.close()
