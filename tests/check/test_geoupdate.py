"""geoip update against a real HTTPS server on loopback (the public internet is the one thing mocked): this month's
DB-IP Lite file replaces the old one atomically; a truncated, foreign, wrong-kind, future or older download, an
untrusted certificate or plain http keeps the old file and says why; the cron run tries at most once a day."""

import os
import time
from pathlib import Path
from typing import Iterator

import pytest

from app.check import geoupdate
from app.check.geoupdate import months, update_one
from app.store.store import opened
from app.system.mmdb import Reader
from support.httpsworld import HttpsWorld, Recorded, without_proxies
from support.mmdbfiles import ASN, CITY, COUNTRY, gzipped, write_dated

DAY = 86400


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[HttpsWorld]:
    without_proxies(monkeypatch)
    with HttpsWorld() as server:
        monkeypatch.setenv("SSL_CERT_FILE", server.ca_file)
        yield server


def built(path: Path) -> int:
    with Reader(str(path)) as reader:
        return reader.build_epoch


def old_country(tmp_path: Path) -> Path:
    return write_dated(COUNTRY, tmp_path / "dbip-country-lite.mmdb", time.time() - 90 * DAY)


def serve(world: HttpsWorld, files: dict) -> None:
    """Answer /dbip-KIND-lite-YYYY-MM.mmdb.gz from files (path -> body), 404 for anything else."""
    world.responder = lambda request: (200, {}, files[request.path]) if request.path in files else (404, {}, b"")


def test_this_months_file_replaces_an_old_one(world: HttpsWorld, tmp_path: Path) -> None:
    path = old_country(tmp_path)
    now = time.time()
    serve(world, {"/dbip-country-lite-{}.mmdb.gz".format(months(now)[0]): gzipped(COUNTRY, now - DAY)})
    outcome = update_one(str(path), world.url)
    assert outcome.ok and "updated to" in outcome.text
    assert built(path) == int(now - DAY)
    assert sorted(os.listdir(str(tmp_path))) == ["dbip-country-lite.mmdb"]  # no temporary left behind


def test_before_this_months_file_is_out_last_months_is_taken(world: HttpsWorld, tmp_path: Path) -> None:
    path = old_country(tmp_path)
    now = time.time()
    serve(world, {"/dbip-country-lite-{}.mmdb.gz".format(months(now)[1]): gzipped(COUNTRY, now - 20 * DAY)})
    assert update_one(str(path), world.url).ok
    assert [request.path for request in world.requests] == [
        "/dbip-country-lite-{}.mmdb.gz".format(month) for month in months(now)]


@pytest.mark.parametrize("body,reason", [
    (gzipped(COUNTRY, time.time())[:-40], "Compressed file ended"),
    (b"<html>not found</html>", "Not a gzipped file"),
    (__import__("gzip").compress(b"PK\x03\x04 a zip, not an mmdb" * 20), "not a MaxMind DB"),
    (gzipped(ASN, time.time()), "not DB-IP country Lite"),
    (gzipped(COUNTRY, time.time() + 30 * DAY), "in the future"),
    (gzipped(COUNTRY, time.time() - 200 * DAY), "older than the file"),
])
def test_a_bad_download_keeps_the_old_file_and_says_why(world: HttpsWorld, tmp_path: Path, body: bytes,
                                                        reason: str) -> None:
    path = old_country(tmp_path)
    before = path.read_bytes()
    world.responder = lambda request: (200, {}, body)
    outcome = update_one(str(path), world.url)
    assert not outcome.ok and reason in outcome.text and "the old file is kept" in outcome.text
    assert path.read_bytes() == before
    assert sorted(os.listdir(str(tmp_path))) == ["dbip-country-lite.mmdb"]


def test_an_untrusted_certificate_is_refused(world: HttpsWorld, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE")
    path = old_country(tmp_path)
    outcome = update_one(str(path), world.url)
    assert not outcome.ok and "CERTIFICATE_VERIFY_FAILED" in outcome.text
    assert world.requests == []


def test_plain_http_is_refused(tmp_path: Path) -> None:
    outcome = update_one(str(old_country(tmp_path)), "http://127.0.0.1:9")
    assert not outcome.ok and "not https" in outcome.text


def test_a_file_that_is_not_dbip_is_left_alone(world: HttpsWorld, tmp_path: Path) -> None:
    other = tmp_path / "GeoLite2-City.mmdb"
    other.write_bytes((COUNTRY.parent / "maxmind" / "GeoLite2-City-Test.mmdb").read_bytes())
    outcome = update_one(str(other), world.url)
    assert outcome.ok and "skipped, not a DB-IP Lite file" in outcome.text and world.requests == []


def test_a_missing_file_named_like_dbip_is_downloaded(world: HttpsWorld, tmp_path: Path) -> None:
    path = tmp_path / "dbip-city-lite-2020-01.mmdb"
    now = time.time()
    serve(world, {"/dbip-city-lite-{}.mmdb.gz".format(months(now)[0]): gzipped(CITY, now)})
    assert update_one(str(path), world.url).ok and built(path) == int(now)


def test_a_file_already_from_this_month_is_not_downloaded_again(world: HttpsWorld, tmp_path: Path) -> None:
    now = time.time()
    path = write_dated(COUNTRY, tmp_path / "dbip-country-lite.mmdb", now)
    outcome = update_one(str(path), world.url, now=now)
    assert outcome.ok and "already this month's" in outcome.text and world.requests == []


def test_the_cron_run_tries_once_a_day_and_records_the_failure(world: HttpsWorld, tmp_path: Path) -> None:
    path = old_country(tmp_path)
    world.responder = lambda request: (404, {}, b"")
    logged = []
    with opened(tmp_path / "store.sqlite") as store:
        outcomes = geoupdate.cron_update([str(path)], world.url, store, logged.append)
        assert [outcome.ok for outcome in outcomes] == [False]
        assert "HTTP 404 Not Found" in store.get(geoupdate.STATE_KEY)["error"]
        assert geoupdate.cron_update([str(path)], world.url, store, logged.append) == []  # not again today
        assert len(world.requests) == 2 and len(logged) == 1
        later = time.time() + DAY + 60
        serve(world, {"/dbip-country-lite-{}.mmdb.gz".format(months(later)[0]): gzipped(COUNTRY, later - 60)})
        assert [outcome.ok for outcome in geoupdate.cron_update([str(path)], world.url, store, logged.append,
                                                                 now=later)] == [True]
        assert store.get(geoupdate.STATE_KEY)["error"] == ""


def test_nothing_is_due_when_every_file_is_from_this_month(tmp_path: Path) -> None:
    now = time.time()
    path = write_dated(COUNTRY, tmp_path / "dbip-country-lite.mmdb", now)
    assert not geoupdate.due([str(path)], None, now)
    assert geoupdate.due([str(old_country(tmp_path))], None, now)
    assert not geoupdate.due([str(old_country(tmp_path))], {"tried": now - 3600}, now)


def test_a_directory_it_cannot_write_in_is_a_failure_not_a_crash(world: HttpsWorld, tmp_path: Path) -> None:
    outcome = update_one(str(tmp_path / "gone" / "dbip-country-lite.mmdb"), world.url)
    assert not outcome.ok and "cannot write in" in outcome.text and world.requests == []


def test_a_symbolic_link_is_not_replaced(world: HttpsWorld, tmp_path: Path) -> None:
    target = old_country(tmp_path)
    link = tmp_path / "dbip-country-lite-link.mmdb"
    link.symlink_to(target)
    outcome = update_one(str(link), world.url)
    assert not outcome.ok and "symbolic link" in outcome.text and link.is_symlink() and world.requests == []
