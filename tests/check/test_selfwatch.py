"""The cron run watches itself: a heartbeat through every channel when due, once; a ping after every cron run."""

import time

from app.check.health import HEARTBEAT_LAST
from app.store.store import opened
from app.commands.check import run_check
from app.system.paths import Paths
from helpers import append_log, login_line, smtp_settings, write_config
from support.mailsink import MailSink


def move_heartbeat_back(paths: Paths, seconds: float) -> None:
    with opened(paths.store_file) as store, store.transaction():
        store.put(HEARTBEAT_LAST, float(store.get(HEARTBEAT_LAST)) - seconds)


def test_the_first_cron_run_starts_the_heartbeat_count_without_sending(paths: Paths, sink: MailSink) -> None:
    write_config(paths, alert={"heartbeat": "daily"}, smtp=smtp_settings(sink))
    run_check(paths)
    run_check(paths, scan_sessions=True)
    assert sink.messages == []


def test_a_due_heartbeat_is_sent_once_with_the_logins_since_the_last(paths: Paths, sink: MailSink) -> None:
    write_config(paths, alert={"heartbeat": "daily"}, smtp=smtp_settings(sink))
    run_check(paths)
    run_check(paths, scan_sessions=True)
    append_log(paths, login_line(ip="203.0.113.7", extras="cport=40001 saddr=10.0.0.1 sport=22 epoch={}".format(int(time.time()) - 60)))
    run_check(paths)
    move_heartbeat_back(paths, 86400 + 60)
    run_check(paths, scan_sessions=True)
    run_check(paths, scan_sessions=True)
    heartbeats = [received.message for received in sink.messages if "daily" in received.message["Subject"]]
    assert len(heartbeats) == 1
    body = heartbeats[0].get_body(("plain",)).get_content()
    assert "203.0.113.7" in body and "every day" in body


def test_heartbeat_off_sends_nothing(paths: Paths, sink: MailSink) -> None:
    write_config(paths, alert={"heartbeat": "off"}, smtp=smtp_settings(sink))
    run_check(paths)
    run_check(paths, scan_sessions=True)
    with opened(paths.store_file) as store:
        assert store.get(HEARTBEAT_LAST) is None
    assert sink.messages == []


def test_every_cron_run_pings_the_heartbeat_url_and_a_failed_run_pings_fail_with_the_reason(
        paths: Paths, sink: MailSink, monkeypatch) -> None:
    from app.errors import UserError
    from support.httpsworld import HttpsWorld, without_proxies

    without_proxies(monkeypatch)
    with HttpsWorld() as monitor:
        monkeypatch.setenv("SSL_CERT_FILE", monitor.ca_file)  # the system CAs, as far as this run knows
        url = monitor.url + "/ping/0f1e2d3c-secret-uuid"
        write_config(paths, alert={"heartbeat_url": url}, smtp=smtp_settings(sink))
        run_check(paths)
        run_check(paths, scan_sessions=True)
        sink.stop()
        append_log(paths, login_line(extras="cport=40002 saddr=10.0.0.1 sport=22"))
        try:
            run_check(paths, scan_sessions=True)
        except UserError:
            pass
        paths_seen = [request.path for request in monitor.requests]
        assert paths_seen == ["/ping/0f1e2d3c-secret-uuid", "/ping/0f1e2d3c-secret-uuid/fail"]
        assert b"pending" in monitor.requests[1].body or b"failed" in monitor.requests[1].body
    try:  # the monitor is gone too: the failed ping is logged, its URL redacted
        run_check(paths, scan_sessions=True)
    except UserError:
        pass
    log = paths.oplog_file.read_text()
    assert "heartbeat ping to https://127.0.0.1/" in log and "secret-uuid" not in log


def test_a_failing_channel_makes_the_ping_fail_with_its_reason(paths: Paths, sink: MailSink, monkeypatch) -> None:
    from support.httpsworld import HttpsWorld, without_proxies

    without_proxies(monkeypatch)
    with HttpsWorld() as monitor, HttpsWorld() as ntfy:
        monkeypatch.setenv("SSL_CERT_FILE", monitor.ca_file)
        ntfy.respond(401, b'{"code":40101,"http":401,"error":"unauthorized"}')
        write_config(paths, alert={"heartbeat_url": monitor.url + "/ping/uuid", "channels": "email, ntfy"},
                     smtp=smtp_settings(sink))
        with open(str(paths.config_file), "a") as handle:
            handle.write("[ntfy]\nurl = {}/t\nsecret_store = none\nca_file = {}\n".format(ntfy.url, ntfy.ca_file))
        run_check(paths)
        append_log(paths, login_line(extras="cport=40003 saddr=10.0.0.1 sport=22"))
        run_check(paths, scan_sessions=True)
        assert monitor.requests[-1].path == "/ping/uuid/fail" and b"ntfy" in monitor.requests[-1].body
