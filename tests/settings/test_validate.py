"""Setup's checks before mail can arrive: addresses (syntax, special-use names, what a DNS lookup proves) and
the local sendmail (Debian's local-only exim4).

No test here needs DNS: the lookup's outcome is injected, or made by email-validator itself through a
stand-in resolver, so the wording is tested for every answer a real network can give. The exim tests
give their own update-exim4.conf.conf and a sendmail symlink to a stand-in exim4.
"""

from pathlib import Path
from typing import Callable, List

import dns.exception
import dns.resolver
import pytest
from email_validator import EmailUndeliverableError
from email_validator.deliverability import validate_email_deliverability

from app.settings.mta import EXIM_LOCAL_ONLY, bouncing_recipients, debconf_values, is_exim, local_only_problem
from app.settings.validate import (DNS_MISSING, DNS_NO_MAIL, DNS_UNCHECKED, MISSING, NO_MAIL, OK, SPECIAL_USE_NEEDS_NO_DNS,
                          SPECIAL_USE_WARNING, UNCHECKED, AddressError, DnsVerdict, address_notes,
                          deliverability_warning, dns_verdict, dns_warning, normalize_addresses,
                          normalize_email_address, special_use_name)


class StandInResolver:
    """Answers every query by raising the given exception, as a dnspython Resolver would."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def resolve(self, name: str, kind: str) -> None:
        raise self.error


def library_outcome(error: BaseException) -> object:
    """What email-validator's own lookup returns or raises when the resolver raises error."""
    try:
        return validate_email_deliverability("example.com", "example.com", dns_resolver=StandInResolver(error))
    except EmailUndeliverableError as raised:
        return raised


def injected(outcome: object, calls: List[str]) -> Callable[[str, float], object]:
    def lookup(domain: str, timeout: float) -> object:
        calls.append(domain)
        return outcome
    return lookup


# --- what a lookup proves -------------------------------------------------------------------------------------

@pytest.mark.parametrize("error, kind", [
    (dns.resolver.NXDOMAIN(), MISSING),
    (dns.resolver.NoAnswer(), NO_MAIL),
    (dns.exception.Timeout(), UNCHECKED),
    (dns.resolver.NoNameservers(), UNCHECKED),  # SERVFAIL from every server
    (OSError("Network is unreachable"), UNCHECKED),
])
def test_email_validators_own_outcomes_are_classified_by_what_the_answer_proves(error: BaseException,
                                                                                 kind: str) -> None:
    assert dns_verdict(library_outcome(error)).kind == kind


@pytest.mark.parametrize("outcome", [
    {"unknown-deliverability": "timeout"},
    {"unknown-deliverability": "no_nameservers"},
    dns.resolver.NoResolverConfiguration("no /etc/resolv.conf"),
    dns.exception.Timeout(),
    ConnectionRefusedError(111, "Connection refused"),
])
def test_a_machine_without_working_dns_says_could_not_be_checked_never_does_not_exist(outcome: object) -> None:
    verdict = dns_verdict(outcome)
    assert verdict.kind == UNCHECKED
    line = dns_warning("owner@example.com", verdict)
    assert line is not None and line.startswith("warning: ") and "could not be checked" in line
    assert "does not exist" not in line and "does not receive" not in line


def test_only_an_nxdomain_answer_says_the_domain_does_not_exist() -> None:
    line = dns_warning("owner@exampel.com", dns_verdict(library_outcome(dns.resolver.NXDOMAIN())))
    assert line == DNS_MISSING.format(domain="exampel.com", reason="DNS: no such domain", address="owner@exampel.com")


def test_a_domain_without_mail_servers_says_it_does_not_receive_mail() -> None:
    verdict = dns_verdict(EmailUndeliverableError("The domain name example.com does not accept email."))  # null MX
    assert verdict.kind == NO_MAIL
    assert dns_warning("a@example.com", verdict) == DNS_NO_MAIL.format(
        domain="example.com", reason="The domain name example.com does not accept email.", address="a@example.com")


def test_a_domain_with_mail_servers_gives_no_warning() -> None:
    assert dns_verdict({"mx": [(10, "mx.example.com")], "mx_fallback_type": None}) == DnsVerdict(OK, "")
    calls: List[str] = []
    assert deliverability_warning("a@example.com", lookup=injected({"mx": [(10, "mx")]}, calls)) is None
    assert calls == ["example.com"]


def test_the_unchecked_warning_names_the_domain_the_reason_and_keeps_the_address() -> None:
    line = deliverability_warning("a@example.org", lookup=injected({"unknown-deliverability": "timeout"}, []))
    assert line == DNS_UNCHECKED.format(domain="example.org", reason="no answer in time", address="a@example.org")


# --- special-use names --------------------------------------------------------------------------------------

@pytest.mark.parametrize("domain, name", [("web1.local", "local"), ("box.TEST", "test"), ("localhost", "localhost"),
                                          ("mail.corp.internal", "internal"), ("nas.home.arpa", "home.arpa"),
                                          ("example.com", None), ("notlocal", None), ("local.example.com", None)])
def test_special_use_names_are_recognized_by_their_last_labels(domain: str, name: str) -> None:
    assert special_use_name(domain) == name


@pytest.mark.parametrize("address, normalized", [("root@web1.local", "root@web1.local"),
                                                 ("Root@Box.TEST", "Root@box.test"),
                                                 ("ops@nas.home.arpa", "ops@nas.home.arpa"),
                                                 ("root@localhost", "root@localhost")])
def test_special_use_addresses_are_accepted_only_without_the_dns_check(address: str, normalized: str) -> None:
    assert normalize_email_address(address, special_use=True) == normalized
    with pytest.raises(AddressError) as raised:
        normalize_email_address(address)
    local, _, domain = address.rpartition("@")
    assert str(raised.value) == SPECIAL_USE_NEEDS_NO_DNS.format(address=address, domain=domain,
                                                                name=special_use_name(domain))
    assert "--no-dns-check" in str(raised.value)


@pytest.mark.parametrize("address", ["bad@@web1.local", "a b@box.test", "x@tor.onion", "x@nothing.invalid"])
def test_a_special_use_address_with_another_problem_or_a_name_mail_cannot_use_stays_invalid(address: str) -> None:
    for special_use in (False, True):
        with pytest.raises(AddressError) as raised:
            normalize_email_address(address, special_use)
        assert "is not a valid email address" in str(raised.value)


def test_an_internal_address_passes_the_syntax_check_either_way() -> None:
    assert normalize_addresses(["ops@mail.corp.internal"]) == (("ops@mail.corp.internal",), [])


def test_without_the_dns_check_a_special_use_domain_gets_one_warning_and_no_lookup() -> None:
    calls: List[str] = []
    notes = address_notes(["a@web1.local", "b@WEB1.local", "c@example.com"], dns=False,
                          lookup=injected(dns.resolver.NXDOMAIN(), calls))
    assert [note.line for note in notes] == [SPECIAL_USE_WARNING.format(domain="web1.local", name="local",
                                                                        address="a@web1.local")]
    assert calls == [] and not notes[0].definite


def test_with_the_dns_check_each_domain_is_looked_up_once_and_only_a_real_answer_is_definite() -> None:
    seen = set()
    calls: List[str] = []
    notes = address_notes(["a@gone.example", "b@Gone.example"], dns=True, seen=seen,
                          lookup=injected(library_outcome(dns.resolver.NXDOMAIN()), calls))
    assert calls == ["gone.example"] and [note.definite for note in notes] == [True]
    assert "does not exist" in notes[0].line
    assert address_notes(["c@gone.example"], dns=True, seen=seen, lookup=injected({}, calls)) == []
    unchecked = address_notes(["d@slow.example"], dns=True, lookup=injected(dns.exception.Timeout(), calls))
    assert [note.definite for note in unchecked] == [False]


# --- the local sendmail: Debian's default exim4 delivers to local mailboxes only --------------------------------

DEBIAN_DEFAULT = """\
# /etc/exim4/update-exim4.conf.conf
dc_eximconfig_configtype='local'
dc_other_hostnames='web1.example.com;mail.example.com'
dc_local_interfaces='127.0.0.1 ; ::1'
dc_localdelivery="mail_spool"
"""


@pytest.fixture
def exim(tmp_path: Path) -> Path:
    """/usr/sbin/sendmail -> exim4, as Debian links it; returns the sendmail link."""
    binary = tmp_path / "sbin" / "exim4"
    binary.parent.mkdir()
    binary.write_text("#!/bin/sh\ntouch {}\n".format(tmp_path / "exim-ran"))
    binary.chmod(0o700)
    (tmp_path / "sbin" / "sendmail").symlink_to("exim4")
    return tmp_path / "sbin" / "sendmail"


def exim_conf(tmp_path: Path, text: str = DEBIAN_DEFAULT) -> Path:
    conf = tmp_path / "exim4" / "update-exim4.conf.conf"
    conf.parent.mkdir(exist_ok=True)
    conf.write_text(text)
    return conf


def test_debconf_values_reads_quoted_and_bare_shell_assignments_and_skips_comments() -> None:
    values = debconf_values(DEBIAN_DEFAULT + "dc_smarthost=\n# dc_eximconfig_configtype='internet'\n")
    assert values["dc_eximconfig_configtype"] == "local"
    assert values["dc_other_hostnames"] == "web1.example.com;mail.example.com"
    assert (values["dc_localdelivery"], values["dc_smarthost"]) == ("mail_spool", "")


def test_a_local_only_exim_bounces_every_recipient_outside_its_local_domains(exim: Path, tmp_path: Path) -> None:
    recipients = ("owner@example.org", "root@localhost", "ops@mail.example.com", "root@web1", "me@web1.example.com")
    conf = exim_conf(tmp_path)
    assert bouncing_recipients(str(exim), recipients, conf, hostname="web1") == ("owner@example.org",)
    problem = local_only_problem(str(exim), recipients, conf, hostname="web1")
    assert problem == EXIM_LOCAL_ONLY.format(sendmail=exim, conf=conf, recipients="owner@example.org")
    assert "method = smtp" in problem and "dpkg-reconfigure exim4-config" in problem


@pytest.mark.parametrize("configtype", ["internet", "smarthost", "satellite"])
def test_an_exim_that_sends_mail_out_is_not_reported(exim: Path, tmp_path: Path, configtype: str) -> None:
    conf = exim_conf(tmp_path, DEBIAN_DEFAULT.replace("'local'", "'{}'".format(configtype)))
    assert local_only_problem(str(exim), ["owner@example.org"], conf) is None


def test_only_exim_is_judged_by_the_exim_config(tmp_path: Path) -> None:
    msmtp = tmp_path / "msmtp"
    msmtp.write_text("#!/bin/sh\n")
    (tmp_path / "sendmail").symlink_to(msmtp)
    assert not is_exim(str(tmp_path / "sendmail"))
    assert local_only_problem(str(tmp_path / "sendmail"), ["owner@example.org"], exim_conf(tmp_path)) is None


def test_without_the_debconf_file_or_with_a_hand_written_exim4_conf_nothing_is_assumed(exim: Path,
                                                                                       tmp_path: Path) -> None:
    assert is_exim(str(exim))
    assert local_only_problem(str(exim), ["owner@example.org"], tmp_path / "missing.conf") is None
    conf = exim_conf(tmp_path)
    (conf.parent / "exim4.conf").write_text("# replaces the generated configuration\n")
    assert local_only_problem(str(exim), ["owner@example.org"], conf) is None


def test_setup_does_not_send_a_test_email_a_local_only_exim_would_bounce_and_says_why(
        exim: Path, tmp_path: Path, paths, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from app.settings import mta
    from app.commands.setup_mail import LOCAL_ONLY_WARNING, TEST_NOT_SENT, local_only_problem as setup_problem
    from app.commands.setup_mail import test_email
    from app.settings.config import load_config
    from helpers import write_config

    conf = exim_conf(tmp_path)
    monkeypatch.setattr(mta, "EXIM_CONF", conf)
    config = load_config(write_config(paths, alert={"method": "sendmail", "sendmail_path": str(exim)}))
    problem = setup_problem(config)
    assert problem is not None and "owner@example.com" in problem
    assert test_email(paths, config, prompter=None) == ([TEST_NOT_SENT.format(problem=problem)], False)
    assert not (tmp_path / "exim-ran").exists()
    assert LOCAL_ONLY_WARNING.format(problem=problem).startswith("warning: ")  # without a test email
