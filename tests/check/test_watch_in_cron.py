"""The cron run's watch, end to end with a real SMTP server: a key added to authorized_keys is alerted once,
naming its fingerprint and options; a hook-started check says once that cron stopped running."""

import time

from app.store.store import opened
from app.commands.check import run_check
from app.system.paths import Paths
from helpers import append_log, login_line, smtp_settings, write_config
from support.mailsink import MailSink

BLOB = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
INTRUDER = "AAAAC3NzaC1lZDI1NTE5AAAAIJ7YzUKp1l4mjQ1GrjkXQDv0O1r9Kqz0h5Pm2nq2c9Vh"


def setup_home(paths: Paths, sink: MailSink) -> None:
    write_config(paths, smtp=smtp_settings(sink))
    (paths.home / ".ssh").mkdir(parents=True, exist_ok=True)
    (paths.home / ".ssh" / "authorized_keys").write_text("ssh-ed25519 {} alice@laptop\n".format(BLOB))
    run_check(paths)
    run_check(paths, scan_sessions=True)  # the first cron run records what it watches, without alerting


def test_a_key_an_intruder_adds_is_alerted_once_with_its_fingerprint_and_options(paths: Paths, sink: MailSink):
    from app.rules.keys import fingerprint

    setup_home(paths, sink)
    assert sink.messages == []
    with open(str(paths.home / ".ssh" / "authorized_keys"), "a") as handle:
        handle.write('command="/bin/sh",no-pty ssh-ed25519 {} backdoor\u202e@evil\n'.format(INTRUDER))
    run_check(paths, scan_sessions=True)
    run_check(paths, scan_sessions=True)
    assert len(sink.messages) == 1
    message = sink.messages[0].message
    body = message.get_body(("plain",)).get_content()
    assert fingerprint(INTRUDER) in body and 'command="/bin/sh"' in body and "\u202e" not in body


def test_a_removed_key_is_alerted_once_too(paths: Paths, sink: MailSink):
    setup_home(paths, sink)
    (paths.home / ".ssh" / "authorized_keys").write_text("")
    run_check(paths, scan_sessions=True)
    run_check(paths, scan_sessions=True)
    assert len(sink.messages) == 1


def test_a_hook_started_check_says_once_that_cron_stopped(paths: Paths, sink: MailSink):
    setup_home(paths, sink)
    with opened(paths.store_file) as store, store.transaction():
        store.put("last_cron", time.time() - 3600)
    for number in range(2):
        append_log(paths, login_line(extras="cport={} saddr=10.0.0.1 sport=22".format(41000 + number)))
        run_check(paths)
    late = [received for received in sink.messages if "cron has not run" in received.message["Subject"]]
    assert len(late) == 1 and len(sink.messages) == 3


def test_a_pyz_replaced_after_install_is_alerted_once_and_a_hook_block_removed_too(paths: Paths, sink: MailSink):
    import json

    from app.install.hooks import BEGIN, END
    from support.tamper import delete_between, install_like

    installed = install_like(paths)
    record = paths.state_dir / "install.json"
    record.write_text(json.dumps(dict(json.loads(record.read_text()), pyz_sha256=installed.pyz_hash)))
    setup_home(paths, sink)
    installed.pyz.write_bytes(b"PK\x05\x06 a trojan\n")
    delete_between(paths.home / ".ssh" / "rc", BEGIN, END)
    run_check(paths, scan_sessions=True)
    run_check(paths, scan_sessions=True)
    subjects = sorted(received.message["Subject"] for received in sink.messages)
    assert len(subjects) == 2, subjects
    assert any("pyz" in subject for subject in subjects) and any("rc" in subject for subject in subjects)


def test_an_exit_added_before_the_hook_in_ssh_rc_is_alerted_once(paths: Paths, sink: MailSink):
    from support.tamper import install_like

    install_like(paths)
    setup_home(paths, sink)
    rc = paths.home / ".ssh" / "rc"
    rc.write_text("exit 0\n" + rc.read_text())
    run_check(paths, scan_sessions=True)
    run_check(paths, scan_sessions=True)
    (received,) = sink.messages
    assert "before the login hook in ~/.ssh/rc" in received.message["Subject"]
    assert "exit 0" in received.message.get_body(("plain",)).get_content()


def test_a_config_change_is_alerted_once_and_also_to_the_recipients_it_removed(paths: Paths, sink: MailSink):
    setup_home(paths, sink)
    write_config(paths, alert={"to": "intruder@example.net", "notify": "new"}, smtp=smtp_settings(sink))
    run_check(paths, scan_sessions=True)
    run_check(paths, scan_sessions=True)
    (received,) = sink.messages
    assert sorted(received.envelope_to) == ["intruder@example.net", "owner@example.com"]
    assert "settings changed: to, notify" in received.message["Subject"]
    body = received.message.get_body(("plain",)).get_content()
    assert '"owner@example.com"' in body and '"intruder@example.net"' in body


def test_turning_journald_off_or_sending_syslog_elsewhere_is_a_config_change(paths: Paths, sink: MailSink,
                                                                             tmp_path) -> None:
    import socket

    journal, collector = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM), socket.socket(socket.AF_INET,
                                                                                        socket.SOCK_DGRAM)
    journal.bind(str(tmp_path / "journal"))
    collector.bind(("127.0.0.1", 0))
    with journal, collector:
        setup_home(paths, sink)
        write_config(paths, alert={"journald": "yes", "journald_socket": str(tmp_path / "journal")},
                     smtp=smtp_settings(sink))
        run_check(paths, scan_sessions=True)
        write_config(paths, alert={"syslog": "yes", "syslog_target": "udp://127.0.0.1:{}".format(
            collector.getsockname()[1])}, smtp=smtp_settings(sink))
        run_check(paths, scan_sessions=True)
    subjects = [received.message["Subject"] for received in sink.messages]
    assert any(subject.endswith("settings changed: journald") for subject in subjects), subjects
    assert any(subject.endswith("settings changed: syslog, syslog target, journald") for subject in subjects), subjects


def test_a_config_from_before_journald_compares_equal_after_the_upgrade(paths: Paths, sink: MailSink) -> None:
    from app.check.selfwatch import destinations
    from app.settings.config import load_config

    setup_home(paths, sink)
    assert set(destinations(load_config(paths.config_file))) == {
        "to", "channels", "method", "smtp host", "channel settings", "notify", "trusted", "trusted_action", "syslog",
        "heartbeat", "hook_wait", "rules"}
