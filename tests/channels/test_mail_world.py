"""Mail that arrives: a valid EHLO name, no duplicate from a slow server, no run held by a tarpit,
international addresses and passwords, one recipient's refusal or deferral never silencing the others,
and diagnoses that name the SMTP stage. Against real (aiosmtpd) servers on loopback."""

import smtplib
import socket
import time
from pathlib import Path

import pytest

from app.channels import mailname
from app.settings import names
from app.commands.check import run_check
from app.settings.config import SmtpSettings
from app.channels.diagnose import AUTH, EHLO, GREETING, RCPT, explain
from app.errors import ExitCode, UserError
from app.system.paths import Paths
from helpers import append_log, login_line, pyz_env, run_pyz, write_config
from support.mailworld import Tarpit, WorldServer
from support.stored import unsent


def smtp(server, **extra: str):  # type: ignore[no-untyped-def]
    settings = {"host": "127.0.0.1", "port": str(server.port), "security": "none", "timeout": "1"}
    settings.update(extra)
    return settings


def alert_once(paths: Paths, server, alert: dict, **smtp_extra: str) -> None:  # type: ignore[no-untyped-def]
    """Configure alert and server, seed, record one login, and see check send exactly one alert for it."""
    write_config(paths, alert=alert, smtp=smtp(server, **smtp_extra))
    run_check(paths)
    append_log(paths, login_line())
    assert run_check(paths).sent == 1


# --- the EHLO name ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fqdn, address, expected", [
    ("web1.example.com", None, "web1.example.com"),
    ("WEB1.Example.com.", None, "web1.example.com"),
    ("localhost", "203.0.113.5", "[203.0.113.5]"),
    ("localhost.localdomain", "203.0.113.5", "[203.0.113.5]"),
    ("vps12345", "2001:db8::5", "[IPv6:2001:db8::5]"),
    ("my server", None, "[127.0.0.1]"),
    ("ünïcode.example", "198.51.100.1", "[198.51.100.1]"),
])
def test_the_ehlo_name_is_an_fqdn_with_a_dot_or_an_address_literal(fqdn: str, address: str, expected: str):
    assert mailname.ehlo_name(fqdn, address) == expected


def test_the_primary_address_skips_loopback_and_a_missing_route():
    def route(family, target):  # type: ignore[no-untyped-def]
        if family == socket.AF_INET:
            raise OSError("no route")
        return "2001:db8::7"

    assert mailname.primary_address(route) == "2001:db8::7"
    assert mailname.primary_address(lambda family, target: "127.0.0.1") is None
    for loopback in ("127.1.2.3", "::1", "::1%lo"):
        assert mailname.primary_address(lambda family, target: loopback) is None
    assert mailname.primary_address(lambda family, target: "fe80::1%eth0") == "fe80::1"


def test_a_label_with_spaces_and_unicode_is_shown_but_never_sent_as_ehlo(paths: Paths):
    with WorldServer() as server:
        alert_once(paths, server, {"host_label": "Web Server ☃ #1"})
    (received,) = server.received
    assert " " not in received.ehlo and received.ehlo.isascii() and received.ehlo != "localhost"
    assert received.ehlo == mailname.local_ehlo_name()
    assert "Web Server ☃ #1".encode("utf-8") in received.raw or b"=?utf-8?" in received.raw
    assert b"Message-ID: <" in received.raw and b".@" not in received.raw.split(b"Message-ID:")[1][:120]


# --- a slow server, a tarpit -------------------------------------------------------------------------------

def test_a_server_that_answers_the_final_dot_late_gets_one_copy(paths: Paths):
    """timeout = 1 s, the reply to the final dot after 2.5 s: waited for (RFC 5321: 10 min), not resent."""
    with WorldServer(final_dot_delay=2.5) as server:
        write_config(paths, smtp=smtp(server))
        run_check(paths)
        append_log(paths, login_line())
        assert run_check(paths).sent == 1
        run_check(paths)
    assert len(server.received) == 1


def test_a_tarpit_banner_cannot_hold_the_run_past_its_deadline(paths: Paths, pyz: Path, shiv_root: Path):
    with Tarpit() as tarpit:
        write_config(paths, smtp=smtp(tarpit))
        environ = pyz_env(paths.home, shiv_root)
        assert run_pyz(pyz, ["check"], environ).returncode == 0
        append_log(paths, login_line())
        started = time.monotonic()
        result = run_pyz(pyz, ["check"], environ, timeout=30)
        elapsed = time.monotonic() - started
    assert result.returncode == ExitCode.DELIVERY_FAILED
    assert "trickles" in result.stderr and len(result.stderr.splitlines()) == 1
    assert elapsed < 10, "the tarpit held the run {:.0f} s".format(elapsed)
    assert [row.kind for row in unsent(paths)] == ["login"]  # pending, for the next run


# --- international addresses and passwords --------------------------------------------------------------------

def test_an_idn_domain_goes_out_as_a_labels(paths: Paths):
    with WorldServer() as server:
        alert_once(paths, server, {"to": "alice@exämple.net"})
    (received,) = server.received
    assert received.envelope_to == ["alice@xn--exmple-cua.net"]
    assert b"To: alice@xn--exmple-cua.net" in received.raw


def test_a_non_ascii_local_part_uses_smtputf8_when_offered(paths: Paths):
    with WorldServer(smtputf8=True) as server:
        alert_once(paths, server, {"to": "jürgen@example.net"})
    (received,) = server.received
    assert received.envelope_to == ["jürgen@example.net"] and "SMTPUTF8" in received.mail_options


def test_a_non_ascii_local_part_without_smtputf8_fails_clearly_and_stays_pending(paths: Paths):
    with WorldServer(smtputf8=False) as server:
        write_config(paths, alert={"to": "jürgen@example.net"}, smtp=smtp(server))
        run_check(paths)
        append_log(paths, login_line())
        with pytest.raises(UserError) as caught:
            run_check(paths)
    assert caught.value.exit_code == ExitCode.DELIVERY_FAILED
    assert "does not offer SMTPUTF8" in caught.value.message and "jürgen@example.net" in caught.value.message
    assert server.received == []


def test_a_non_ascii_password_logs_in_as_utf_8(paths: Paths):
    with WorldServer(password="pässwörd ☃") as server:
        alert_once(paths, server, {}, user="alice", password="pässwörd ☃")
    assert server.logins == ["alice"] and len(server.received) == 1


# --- one recipient's trouble -------------------------------------------------------------------------------------

def test_a_deferred_recipient_is_retried_alone_and_the_other_gets_one_copy(paths: Paths):
    with WorldServer(defer={"bob@example.com"}) as server:
        write_config(paths, alert={"to": "alice@example.com, bob@example.com"}, smtp=smtp(server))
        run_check(paths)
        append_log(paths, login_line())
        with pytest.raises(UserError) as caught:
            run_check(paths)
        assert "temporary" in caught.value.message or "deferred" in caught.value.message
        assert [received.envelope_to for received in server.received] == [["alice@example.com"]]
        server.defer.clear()
        time.sleep(0.1)
        run_check(paths)
        run_check(paths)
    assert [received.envelope_to for received in server.received] == [["alice@example.com"], ["bob@example.com"]]
    assert server.received[0].raw == server.received[1].raw  # the same message, the same Message-ID


# --- diagnoses ---------------------------------------------------------------------------------------------

SETTINGS = SmtpSettings("mail.example.com", 465, "starttls", "alice", "file", "", "", "")


@pytest.mark.parametrize("error, stage, expected", [
    (smtplib.SMTPHeloError(501, b"5.5.2 invalid HELO name"), EHLO, "refused our EHLO (501 5.5.2"),
    (smtplib.SMTPNotSupportedError("AUTH not offered"), AUTH, "does not offer AUTH even after STARTTLS"),
    (smtplib.SMTPResponseException(451, b"4.3.0 try later"), RCPT,
     "451 4.3.0 try later at RCPT TO (temporary: retried)"),
    (socket.timeout("timed out"), GREETING, "port 465 expects implicit TLS; set security = ssl"),
    (smtplib.SMTPResponseException(554, b"\x1b]0;owned\x07 \x1b[2Jrejected"), RCPT, "\\x1b]0;owned\\x07"),
])
def test_each_failure_names_its_stage_and_advice_that_fits(error: BaseException, stage: str, expected: str):
    line = explain(error, SETTINGS, 20, stage)
    assert expected in line and "\x1b" not in line and "delivery failed" not in line


def test_a_wrong_password_from_password_command_says_to_check_the_command():
    line = explain(smtplib.SMTPAuthenticationError(535, b"5.7.8 bad credentials"), SETTINGS, 20, AUTH,
                   password_from_command=True)
    assert "check what password_command prints" in line and "re-run setup" not in line


def test_the_delivery_failure_line_says_delivery_failed_once(paths: Paths, pyz: Path, shiv_root: Path):
    with WorldServer(refuse=set()) as server:
        write_config(paths, smtp=smtp(server, port=str(server.port)))
    environ = pyz_env(paths.home, shiv_root)
    assert run_pyz(pyz, ["check"], environ).returncode == 0
    append_log(paths, login_line())
    result = run_pyz(pyz, ["check"], environ)  # the server is gone now
    assert result.returncode == ExitCode.DELIVERY_FAILED
    assert result.stderr.count("delivery failed") == 1, result.stderr


def test_status_and_test_run_without_a_traceback_against_a_tarpit(paths: Paths, pyz: Path, shiv_root: Path):
    with Tarpit() as tarpit:
        write_config(paths, smtp=smtp(tarpit))
        result = run_pyz(pyz, ["test"], pyz_env(paths.home, shiv_root), timeout=30)
    assert result.returncode == ExitCode.DELIVERY_FAILED and "Traceback" not in result.stderr


def test_the_connection_test_of_setup_says_when_an_address_needs_smtputf8_the_server_lacks(paths: Paths):
    from app.settings.config import load_config
    from app.channels.delivery import DeliveryError
    from app.channels.smtp import probe

    with WorldServer(smtputf8=False) as server:
        write_config(paths, alert={"to": "jürgen@example.net"}, smtp=smtp(server))
        with pytest.raises(DeliveryError, match="does not offer SMTPUTF8, which jürgen@example.net needs"):
            probe(load_config(paths.config_file), None, "web1.example.com")
    with WorldServer(smtputf8=True) as server:
        write_config(paths, alert={"to": "jürgen@example.net"}, smtp=smtp(server))
        probe(load_config(paths.config_file), None, "web1.example.com")


def test_setup_names_both_host_names_and_advises_a_label_without_an_fqdn(monkeypatch):
    from app.commands.setup import host_names_line

    monkeypatch.setattr(socket, "getfqdn", lambda name="": "localhost")
    monkeypatch.setattr(socket, "gethostname", lambda: "vm")
    line = host_names_line("")
    assert line.startswith("Alerts name this host vm; mail servers see it as [")  # not "localhost"
    assert "set host_label" in line
    assert "set host_label" not in host_names_line("Web Server 1")


def test_an_ehlo_name_can_be_set_and_etc_mailname_is_used_when_the_hostname_is_not_fully_qualified(
        tmp_path: Path, monkeypatch):
    monkeypatch.setattr(socket, "getfqdn", lambda name="": "vm")
    mailname_file = tmp_path / "mailname"
    mailname_file.write_text("mail.example.org\n")
    assert mailname.local_ehlo_name("", str(mailname_file)) == "mail.example.org"
    assert mailname.local_ehlo_name("web1.example.com", str(mailname_file)) == "web1.example.com"
    assert names.ehlo_problem("web1.example.com") is None and names.ehlo_problem("[203.0.113.5]") is None
    assert names.ehlo_problem("[IPv6:2001:db8::1]") is None
    assert "neither a fully qualified" in names.ehlo_problem("my server")


def test_the_from_header_names_the_host(paths: Paths):
    with WorldServer() as server:
        write_config(paths, alert={"host_label": 'web "1", prod'}, smtp=smtp(server))
        run_check(paths)
        append_log(paths, login_line())
        run_check(paths)
    (received,) = server.received
    assert b'From: "ssh_alert on web \\"1\\", prod" <ssh-alert@example.com>' in received.raw
