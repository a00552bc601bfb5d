"""[rules] and work_hours applied by check, with a real SMTP server: skip, tag and urgent, and what a rule cannot hide."""

import time
from pathlib import Path
from typing import Optional

import pytest

from app.store import history
from app.commands.check import run_check
from app.errors import UserError
from app.system.paths import Paths
from helpers import append_log, login_line, smtp_settings, stamp, write_config
from support.mailsink import MailSink
from support.stored import recorded

BLOB = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
OTHER = "AAAAC3NzaC1lZDI1NTE5AAAAIJ7YzUKp1l4mjQ1GrjkXQDv0O1r9Kqz0h5Pm2nq2c9Vh"


def configure(paths: Path, sink: MailSink, rules: str = "", **alert: str) -> None:
    write_config(paths, alert=alert, smtp=smtp_settings(sink))
    if rules:
        with open(str(paths.config_file), "a") as handle:
            handle.write("[rules]\n" + rules)
    (paths.home / ".ssh").mkdir(parents=True, exist_ok=True)
    (paths.home / ".ssh" / "authorized_keys").write_text("ssh-ed25519 {} alice@laptop\n".format(BLOB))
    run_check(paths)


def key_login(paths: Paths, blob: str = BLOB, ip: str = "10.1.2.3", number: int = 1,
              when: Optional[str] = None) -> None:
    append_log(paths, login_line(ip=ip, user="deploy", when=when, extras="cport={} saddr=10.0.0.1 sport=22 tty=none "
                                 "kind=command keytype=ssh-ed25519 key={}".format(40000 + number, blob)))


def last_wednesday_midnight() -> float:
    """Returns 00:00 UTC of the latest Wednesday at least two days before now (a whole past day)."""
    day = int(time.time() // 86400) - 2
    while time.gmtime(day * 86400).tm_wday != 2:
        day -= 1
    return day * 86400.0


def fingerprint_of(blob: str) -> str:
    from app.rules.keys import fingerprint

    return fingerprint(blob)


def test_a_skip_rule_records_the_login_without_alerting(paths: Paths, sink: MailSink) -> None:
    configure(paths, sink, "deploy-bot = key {} from 10.0.0.0/8 user deploy -> skip\n".format(fingerprint_of(BLOB)))
    key_login(paths)
    run_check(paths)
    assert sink.messages == []
    assert [entry.outcome for entry in recorded(paths)] == [history.RULE_SKIPPED]


def test_a_skip_rule_cannot_hide_a_login_with_a_key_no_longer_in_authorized_keys(paths: Paths, sink: MailSink):
    configure(paths, sink, "deploy-bot = from 10.0.0.0/8 user deploy -> skip\n")
    key_login(paths, blob=OTHER)
    run_check(paths)
    assert len(sink.messages) == 1
    message = sink.messages[0].message
    assert message["Subject"].startswith("[URGENT] ")
    assert "authorized_keys" in message.get_body(("plain",)).get_content()


def test_a_tag_rule_marks_the_subject(paths: Paths, sink: MailSink) -> None:
    configure(paths, sink, "office = from 10.0.0.0/8 -> tag office\n")
    key_login(paths)
    run_check(paths)
    assert "[office] SSH login: deploy@" in sink.messages[0].message["Subject"]


def test_a_login_outside_work_hours_is_urgent(paths: Paths, sink: MailSink, monkeypatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    configure(paths, sink, work_hours="Mon-Fri 08:00-19:00")
    wednesday = last_wednesday_midnight()
    key_login(paths, when=stamp(0, now=wednesday + 23.5 * 3600), number=2)  # a Wednesday night
    key_login(paths, when=stamp(0, now=wednesday + 10.5 * 3600), number=3, ip="10.1.2.4")
    run_check(paths)
    subjects = sorted(received.message["Subject"] for received in sink.messages)
    assert len(subjects) == 2
    assert sum(subject.startswith("[URGENT]") for subject in subjects) == 1


def test_bad_rules_are_all_named_with_the_file(paths: Paths, sink: MailSink) -> None:
    write_config(paths, smtp=smtp_settings(sink))
    with open(str(paths.config_file), "a") as handle:
        handle.write("[rules]\nfirst = from 10.0.0.300/8 -> skip\nsecond = user root -> explode\n")
    with pytest.raises(UserError) as raised:
        run_check(paths)
    lines = raised.value.message.splitlines()
    assert len(lines) == 2 and all(str(paths.config_file) in line for line in lines)
    assert "first" in lines[0] and "second" in lines[1]


def test_a_key_in_authorized_keys2_is_known_by_its_comment_and_not_urgent(paths: Paths, sink: MailSink) -> None:
    configure(paths, sink)
    (paths.home / ".ssh" / "authorized_keys2").write_text("ssh-ed25519 {} deploy@ci\n".format(OTHER))
    key_login(paths, blob=OTHER)
    run_check(paths)
    message = sink.messages[0].message
    assert not message["Subject"].startswith("[URGENT]")
    assert '"deploy@ci" in authorized_keys' in message.get_body(("plain",)).get_content()


def test_a_key_login_with_an_empty_authorized_keys_is_urgent(paths: Paths, sink: MailSink) -> None:
    configure(paths, sink)
    (paths.home / ".ssh" / "authorized_keys").write_text("")
    key_login(paths)
    run_check(paths)
    assert sink.messages[0].message["Subject"].startswith("[URGENT] ")
