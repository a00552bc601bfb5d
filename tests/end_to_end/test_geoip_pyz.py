"""The pyz with geoip_db, as a user and cron drive it: geoip update against a real HTTPS server on loopback,
status warning about an old database, the monthly update from the cron run, and the login check placing a
login on the oldest and newest supported Python."""

import time
from pathlib import Path

import pytest

from app.check.geoupdate import months
from app.system.paths import Paths
from helpers import append_log, login_line, pyenv_pythons, pyz_env, require, run_pyz, smtp_settings, write_config
from support.httpsworld import HttpsWorld, without_proxies
from support.mailsink import MailSink
from support.mmdbfiles import ASN, CITY, COUNTRY, gzipped, write_dated

DAY = 86400


def configure(paths: Paths, sink: MailSink, world_url: str, database: Path, **alert: str) -> None:
    write_config(paths, alert=dict({"geoip_db": str(database), "geoip_mirror": world_url}, **alert),
                 smtp=smtp_settings(sink))


def test_geoip_update_replaces_an_old_file_and_status_stops_warning(paths: Paths, home: Path, sink: MailSink,
                                                                    pyz: Path, shiv_root: Path, tmp_path: Path,
                                                                    monkeypatch) -> None:
    without_proxies(monkeypatch)
    database = write_dated(COUNTRY, tmp_path / "dbip-country-lite.mmdb", time.time() - 90 * DAY)
    with HttpsWorld() as world:
        configure(paths, sink, world.url, database)
        environ = pyz_env(home, shiv_root, SSL_CERT_FILE=world.ca_file)
        assert run_pyz(pyz, ["check"], environ).returncode == 0
        status = run_pyz(pyz, ["status"], environ)
        assert "geoip" in status.stdout and "built 90 days ago" in status.stdout
        now = time.time()
        world.responder = lambda request: (200, {}, gzipped(COUNTRY, now - DAY)) \
            if request.path.endswith(months(now)[0] + ".mmdb.gz") else (404, {}, b"")
        result = run_pyz(pyz, ["geoip", "update"], environ)
        assert result.returncode == 0, result.stderr
        assert "updated to {}/dbip-country-lite-{}.mmdb.gz".format(world.url, months(now)[0]) in result.stdout
        status = run_pyz(pyz, ["status"], environ)
        assert "days ago" not in status.stdout and "1 database(s), each built in the last 60 days" in status.stdout


def test_a_failed_update_exits_1_and_keeps_the_file(paths: Paths, home: Path, sink: MailSink, pyz: Path,
                                                   shiv_root: Path, tmp_path: Path, monkeypatch) -> None:
    without_proxies(monkeypatch)
    database = write_dated(COUNTRY, tmp_path / "dbip-country-lite.mmdb", time.time() - 90 * DAY)
    before = database.read_bytes()
    with HttpsWorld() as world:
        configure(paths, sink, world.url, database)
        world.responder = lambda request: (200, {}, b"truncated")
        result = run_pyz(pyz, ["geoip", "update"], pyz_env(home, shiv_root, SSL_CERT_FILE=world.ca_file))
    assert result.returncode == 1 and "the old file is kept" in result.stdout and "Traceback" not in result.stderr
    assert database.read_bytes() == before


def test_the_cron_run_updates_monthly(paths: Paths, home: Path, sink: MailSink, pyz: Path, shiv_root: Path,
                                      tmp_path: Path, monkeypatch) -> None:
    without_proxies(monkeypatch)
    database = write_dated(ASN, tmp_path / "dbip-asn-lite.mmdb", time.time() - 40 * DAY)
    now = time.time()
    with HttpsWorld() as world:
        configure(paths, sink, world.url, database, geoip_update="monthly")
        world.responder = lambda request: (200, {}, gzipped(ASN, now)) \
            if request.path == "/dbip-asn-lite-{}.mmdb.gz".format(months(now)[0]) else (404, {}, b"")
        environ = pyz_env(home, shiv_root, SSL_CERT_FILE=world.ca_file)
        assert run_pyz(pyz, ["check", "--cron"], environ).returncode == 0
        assert run_pyz(pyz, ["check", "--cron"], environ).returncode == 0
        assert len(world.requests) == 1  # this month's file is there: the next run asks for nothing
    assert write_dated(ASN, tmp_path / "copy.mmdb", now).read_bytes() == database.read_bytes()


@pytest.mark.parametrize("version", ["3.8", "3.13"])
def test_the_login_check_places_the_login_on_every_python(paths: Paths, home: Path, sink: MailSink, pyz: Path,
                                                          shiv_root: Path, version: str) -> None:
    python = pyenv_pythons().get(version)
    require(python is not None, "no Python {} here (pyenv)".format(version))
    write_config(paths, alert={"geoip_db": "{}, {}".format(CITY, ASN)}, smtp=smtp_settings(sink))
    environ = pyz_env(home, shiv_root)
    assert run_pyz(pyz, ["check"], environ, python=python).returncode == 0
    when = time.strftime("%Y-%m-%d %H:%M:%S +0000", time.gmtime())
    append_log(paths, login_line(ip="2001:db8::42", when=when))
    result = run_pyz(pyz, ["check"], environ, python=python)
    assert result.returncode == 0, result.stderr
    body = sink.messages[-1].message.get_body(("plain",)).get_content()
    assert "Amsterdam, NL (Netherlands), AS64503 Voorbeeld BV" in body


def test_update_skips_a_geolite2_file_beside_dbip_and_names_a_config_without_dbip(
        paths: Paths, home: Path, sink: MailSink, pyz: Path, shiv_root: Path, tmp_path: Path, monkeypatch) -> None:
    without_proxies(monkeypatch)
    geolite = COUNTRY.parent / "maxmind" / "GeoLite2-ASN-Test.mmdb"
    now = time.time()
    database = write_dated(COUNTRY, tmp_path / "dbip-country-lite.mmdb", now - 90 * DAY)
    with HttpsWorld() as world:
        write_config(paths, alert={"geoip_db": "{}, {}".format(database, geolite), "geoip_mirror": world.url},
                     smtp=smtp_settings(sink))
        world.responder = lambda request: (200, {}, gzipped(COUNTRY, now)) \
            if request.path.endswith(months(now)[0] + ".mmdb.gz") else (404, {}, b"")
        environ = pyz_env(home, shiv_root, SSL_CERT_FILE=world.ca_file)
        result = run_pyz(pyz, ["geoip", "update"], environ)
        assert result.returncode == 0, result.stderr
        assert "skipped, not a DB-IP Lite file" in result.stdout and "updated to" in result.stdout
        write_config(paths, alert={"geoip_db": str(geolite), "geoip_mirror": world.url}, smtp=smtp_settings(sink))
        only_geolite = run_pyz(pyz, ["geoip", "update"], environ)
    assert only_geolite.returncode == 1 and "names no DB-IP Lite file" in only_geolite.stderr
    assert "Traceback" not in only_geolite.stderr
