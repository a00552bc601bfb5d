"""The Matrix channel against a real Synapse homeserver on loopback (its own venv, pinned: .ci/prereq installs it;
in CI it is required, never skipped): a login arrives once as an m.notice, a resend of the same event is
deduplicated by its transaction id, and an alert stored while the homeserver was killed arrives exactly once
after it comes back."""

import shutil
from pathlib import Path
from typing import Iterator

import pytest

from app.store.store import opened
from app.channels.base import SENT
from app.channels.push import send_request
from app.commands.check import run_check
from app.errors import UserError
from app.system.paths import Paths
from helpers import append_log, login_line, require
from support.httpsworld import event, without_proxies
from support import synapse as real


@pytest.fixture(scope="module")
def homeserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[real.Synapse]:
    require(real.installed(), real.MISSING)
    directory = tmp_path_factory.mktemp("synapse")
    with real.Synapse(directory) as server:
        yield server
    shutil.rmtree(str(directory), ignore_errors=True)


def options(server: real.Synapse):
    return {"homeserver": server.url, "room_id": server.room_id}


def test_an_alert_arrives_once_as_a_notice_and_a_resend_of_the_same_event_is_not_posted_again(
        homeserver: real.Synapse, monkeypatch: pytest.MonkeyPatch) -> None:
    without_proxies(monkeypatch)
    before = len(homeserver.notices())
    alert = event(title="SSH login: alice@web1 from 203.0.113.77", id="evt_" + "77" * 16)
    first = send_request("matrix", options(homeserver), homeserver.token, alert)
    again = send_request("matrix", options(homeserver), homeserver.token, alert)  # a retry after a lost reply
    assert first.state == again.state == SENT and first.detail == again.detail  # the same event_id back
    notices = homeserver.notices()[before:]
    assert len(notices) == 1 and notices[0].startswith("SSH login: alice@web1 from 203.0.113.77")


def test_a_login_while_the_homeserver_is_down_arrives_exactly_once_when_it_is_back(
        homeserver: real.Synapse, paths: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    without_proxies(monkeypatch)
    paths.config_dir.mkdir(parents=True, exist_ok=True)
    secret = paths.home / "token"
    secret.write_text(homeserver.token)
    paths.config_file.write_text("[alert]\nchannels = matrix\nreverse_dns = no\nhost_label = web1\n[matrix]\n"
                                 "homeserver = {}\nroom_id = {}\naccess_token_command = cat {}\n".format(
                                     homeserver.url, homeserver.room_id, secret))
    paths.config_file.chmod(0o600)
    run_check(paths)  # seed
    before = len(homeserver.notices())
    homeserver.stop()
    try:
        append_log(paths, login_line(ip="203.0.113.88", extras="cport=4088 saddr=10.0.0.1 sport=22"))
        with pytest.raises(UserError) as failed:  # exit 1: connection refused, kept for the channel
            run_check(paths)
        assert "matrix: 127.0.0.1:{} (connect): connection refused".format(homeserver.port) in failed.value.message
        with opened(paths.store_file) as store, store.transaction():
            store.connection.execute("UPDATE channels SET not_before = NULL")
    finally:
        homeserver.start()
    run_check(paths)
    run_check(paths)
    arrived = [notice for notice in homeserver.notices()[before:] if "203.0.113.88" in notice]
    assert len(arrived) == 1
