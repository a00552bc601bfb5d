"""A change of where alerts go is told the way alerts went before it: an account whose ntfy URL an
intruder re-points hears of it at the old ntfy server (real HTTPS servers on loopback)."""

import shutil
from typing import Iterator, Tuple

import pytest

from app.check.oldroute import DELIVERING, TOLD
from app.store.store import opened
from app.commands.check import run_check
from app.system.paths import Paths
from helpers import write_config
from support.httpsworld import HttpsWorld, without_proxies


@pytest.fixture
def servers(monkeypatch: pytest.MonkeyPatch) -> Iterator[Tuple[HttpsWorld, HttpsWorld]]:
    without_proxies(monkeypatch)
    owner, intruder = HttpsWorld(api="ntfy"), HttpsWorld(api="ntfy")
    try:
        yield owner, intruder
    finally:
        owner.close()
        intruder.close()


def push_only(paths: Paths, server: HttpsWorld, name: str) -> None:
    write_config(paths, alert={"channels": "email, ntfy", "method": "sendmail", "sendmail_path": "/bin/true"})
    ca = paths.home / "{}-ca.pem".format(name)
    shutil.copy(server.ca_file, str(ca))
    with open(str(paths.config_file), "a") as handle:
        handle.write("[ntfy]\nurl = {}/alerts\nca_file = {}\n".format(server.url, ca))


def test_a_re_pointed_push_channel_is_told_at_its_old_server_once(paths: Paths,
                                                                   servers: Tuple[HttpsWorld, HttpsWorld]):
    owner, intruder = servers
    push_only(paths, owner, "owner")
    run_check(paths)
    run_check(paths, scan_sessions=True)  # the owner's config is the one that delivers
    with opened(paths.store_file) as store:
        assert store.get(DELIVERING)["route"]["channel settings"]["ntfy"]["url"] == owner.url + "/alerts"
    before = len(owner.requests)
    push_only(paths, intruder, "intruder")
    run_check(paths, scan_sessions=True)
    told = owner.requests[before:]
    assert len(told) == 1 and b"settings changed" in told[0].body
    run_check(paths, scan_sessions=True)
    assert len(owner.requests) == before + 1  # told once; the new config is kept now
    with opened(paths.store_file) as store:
        assert store.get(TOLD) and store.get(DELIVERING)["route"]["channel settings"]["ntfy"]["url"] == (
            intruder.url + "/alerts")
