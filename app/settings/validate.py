"""Email address checks for setup, wrapping email-validator (imported here only: check never needs it).

Syntax first (email-validator); then, unless --no-dns-check, whether each domain receives mail. A DNS
answer that the domain does not exist or takes no mail says so; a lookup that got no answer (no resolver,
a timeout, SERVFAIL) says the domain could not be checked: the machine may simply have no DNS.
"""

from __future__ import annotations

from app.system.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Iterable, List, Optional, Sequence, Set, Tuple, TypeAlias

DNS_TIMEOUT = 3  # seconds; a machine without DNS must not make setup wait long

NOT_AN_ADDRESS = "{address!r} is not a valid email address: {reason}"
NO_ADDRESS = "no address given"
# Names only a private network knows (RFC 6761, 6762, 8375; ICANN's .internal): email-validator refuses
# most of them, as not globally deliverable; setup accepts them with --no-dns-check, with SPECIAL_USE_WARNING.
SPECIAL_USE_NAMES = ("local", "localhost", "test", "internal", "home.arpa")
SPECIAL_USE_NEEDS_NO_DNS = ("{address!r}: {domain} is a special-use name (.{name}), which DNS cannot check; if "
                            "your mail server delivers to it, run setup with --no-dns-check")
SPECIAL_USE_WARNING = ("warning: {domain} is a special-use name (.{name}), not an internet domain: keeping {address} "
                       "unchecked; only a mail server that knows {domain} can deliver to it")
DNS_MISSING = "warning: {domain} does not exist ({reason}); mail to {address} cannot arrive"
DNS_NO_MAIL = "warning: {domain} does not receive mail ({reason}); mail to {address} cannot arrive"
DNS_UNCHECKED = ("warning: whether {domain} receives mail could not be checked ({reason}); keeping {address} "
                 "(this machine may have no working DNS)")

# What a lookup found (DnsVerdict.kind).
OK, MISSING, NO_MAIL, UNCHECKED = "ok", "missing", "no mail", "unchecked"


class AddressError(ValueError):
    """An address that is not syntactically valid; str() says why, for the person typing it."""


class DnsVerdict(Record):
    kind: str  # OK, MISSING (NXDOMAIN), NO_MAIL (no MX/A/AAAA, null MX), UNCHECKED (no answer at all)
    reason: str  # for the warning line; "" when OK


def special_use_name(domain: str) -> Optional[str]:
    """The SPECIAL_USE_NAMES entry domain is or is under, else None (pure)."""
    domain = domain.lower().rstrip(".")
    return next((name for name in SPECIAL_USE_NAMES if domain == name or domain.endswith("." + name)), None)


def normalize_email_address(address: str, special_use: bool = False) -> str:
    """Return the normalized form of one address (syntax only, no DNS); raises AddressError.

    special_use accepts special-use domains (.local, .test, ...), which email-validator refuses.
    """
    from email_validator import EmailNotValidError, validate_email

    address = address.strip()
    try:
        return validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError as error:
        local, _, domain = address.rpartition("@")
        name = special_use_name(domain)
        if name is None:
            raise AddressError(NOT_AN_ADDRESS.format(address=address, reason=error)) from None
        # Everything but the name itself is checked with a stand-in domain under it, which is then cut off.
        stand_in = ".example.com"
        try:
            normalized = validate_email(local + "@" + domain.rstrip(".") + stand_in,
                                        check_deliverability=False).normalized
        except EmailNotValidError:
            raise AddressError(NOT_AN_ADDRESS.format(address=address, reason=error)) from None
        if not special_use:
            raise AddressError(SPECIAL_USE_NEEDS_NO_DNS.format(address=address, domain=domain, name=name)) from None
        return normalized[:-len(stand_in)]


def normalize_addresses(addresses: Sequence[str],
                        special_use: bool = False) -> Tuple[Tuple[str, ...], List[str]]:
    """Normalize each address; returns (the normalized addresses, one error line per invalid address)."""
    normalized, errors = [], []
    for address in addresses:
        try:
            normalized.append(normalize_email_address(address, special_use))
        except AddressError as error:
            errors.append(str(error))
    if not addresses:
        errors.append(NO_ADDRESS)
    return tuple(normalized), errors


# --- DNS ----------------------------------------------------------------------------------------------------

def dns_verdict(outcome: object) -> DnsVerdict:
    """What email-validator's MX lookup means (pure): outcome is what it returned or the exception it raised.

    Only a name server's answer proves a domain missing (NXDOMAIN) or without mail (no MX, A or AAAA;
    a null MX). No answer (timeout, SERVFAIL, no resolver configured, a network error) proves nothing.
    """
    import dns.exception
    import dns.resolver
    from email_validator import EmailUndeliverableError

    if isinstance(outcome, dict):
        unknown = outcome.get("unknown-deliverability")
        if unknown is None:
            return DnsVerdict(OK, "")
        return DnsVerdict(UNCHECKED, {"timeout": "no answer in time", "no_nameservers": "no name server answered"}
                          .get(unknown, str(unknown)))
    if not isinstance(outcome, BaseException):
        return DnsVerdict(UNCHECKED, "unexpected lookup result")
    cause = outcome.__cause__ if isinstance(outcome, EmailUndeliverableError) else outcome
    text = " ".join(str(outcome).split())[:160] or type(outcome).__name__
    if isinstance(cause, dns.resolver.NXDOMAIN):
        return DnsVerdict(MISSING, "DNS: no such domain")
    if isinstance(cause, dns.resolver.NoAnswer) or (cause is None and isinstance(outcome, EmailUndeliverableError)):
        return DnsVerdict(NO_MAIL, text)  # no MX, A or AAAA record; a null MX; SPF "v=spf1 -all" without MX
    if isinstance(cause, dns.resolver.NoResolverConfiguration):
        return DnsVerdict(UNCHECKED, "no DNS resolver configured")
    if isinstance(cause, dns.exception.Timeout):
        return DnsVerdict(UNCHECKED, "no answer in time")
    if isinstance(cause, dns.resolver.NoNameservers):
        return DnsVerdict(UNCHECKED, "no name server answered")
    return DnsVerdict(UNCHECKED, text)


def dns_warning(address: str, verdict: DnsVerdict) -> Optional[str]:
    """The warning line for a verdict, None when OK (pure)."""
    template = {MISSING: DNS_MISSING, NO_MAIL: DNS_NO_MAIL, UNCHECKED: DNS_UNCHECKED}.get(verdict.kind)
    if template is None:
        return None
    return template.format(domain=address.rpartition("@")[2], reason=verdict.reason, address=address)


def lookup_mail_domain(domain: str, timeout: float) -> object:
    """email-validator's MX (then A/AAAA) lookup of domain: what it returned, or the exception it raised."""
    from email_validator.deliverability import validate_email_deliverability

    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        ascii_domain = domain
    try:
        # annotated int, used as dnspython's lifetime, which takes a float: a fraction of a second stays one
        return validate_email_deliverability(ascii_domain, domain, timeout)  # type: ignore[arg-type]
    except Exception as error:  # every failure is a verdict, never a crash
        return error


Lookup: TypeAlias = "Callable[[str, float], object]"


def domain_verdict(address: str, timeout: float = DNS_TIMEOUT, lookup: Optional[Lookup] = None) -> DnsVerdict:
    """Look up the address's domain (lookup: a stand-in for tests); never raises."""
    return dns_verdict((lookup or lookup_mail_domain)(address.rpartition("@")[2], timeout))


def deliverability_warning(address: str, timeout: float = DNS_TIMEOUT, lookup: Optional[Lookup] = None) -> Optional[str]:
    """Look up the domain's mail servers; return a warning line when that fails, else None.

    Never raises: a machine without DNS can still deliver through its SMTP relay.
    """
    return dns_warning(address, domain_verdict(address, timeout, lookup))


class AddressNote(Record):
    address: str
    line: str  # the warning
    definite: bool  # DNS answered that the domain is missing or takes no mail (worth re-entering)
    special_use: bool = False  # a special-use name (.test, .local, ...): only a local mail server knows it


def address_notes(addresses: Iterable[str], dns: bool, seen: Optional[Set[str]] = None,
                  lookup: Optional[Lookup] = None) -> List[AddressNote]:
    """A warning per domain not seen before: special-use names (accepted only without DNS check), DNS failures.

    seen collects the domains looked at, so asking again does not repeat a warning.
    """
    seen = set() if seen is None else seen
    notes = []
    for address in addresses:
        domain = address.rpartition("@")[2]
        if domain.lower() in seen:
            continue
        seen.add(domain.lower())
        name = special_use_name(domain)
        if name is not None:  # DNS cannot vouch for it either way: never looked up
            notes.append(AddressNote(address, SPECIAL_USE_WARNING.format(domain=domain, name=name, address=address),
                                     False, special_use=True))
        elif dns:
            verdict = domain_verdict(address, lookup=lookup)
            line = dns_warning(address, verdict)
            if line:
                notes.append(AddressNote(address, line, verdict.kind in (MISSING, NO_MAIL)))
    return notes
