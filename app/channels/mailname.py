"""Names mail needs to be valid: the EHLO name, the Message-ID domain, and addresses as they go on the wire.

RFC 5321 §4.1.1.1: EHLO carries the client's fully qualified domain name, or an address literal when it
has none. `EHLO localhost` scores as spam (SpamAssassin HELO_LOCALHOST, FSL_HELO_NON_FQDN_1) and a name
with spaces is refused (Postfix reject_invalid_helo_hostname, Exim's default ACL). The name alerts show
(``host_label``, any Unicode) is a different thing. IDN domains go out as A-labels (xn--).
"""

from __future__ import annotations

import socket

from app.settings.names import address_literal, is_fqdn

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Optional, Tuple


def primary_address(connect: Optional[Callable[[int, Tuple[str, int]], str]] = None) -> Optional[str]:
    """This host's primary non-loopback address: the source address of a route to a documentation
    address (a UDP connect sends nothing), IPv4 first. None when there is no route."""
    route_source = connect or _route_source
    for family, target in ((socket.AF_INET, ("192.0.2.1", 9)), (socket.AF_INET6, ("2001:db8::1", 9))):
        try:
            address = route_source(family, target)
        except OSError:
            continue
        address = address.split("%")[0]
        if address and not _loopback(address):
            return address
    return None


def _loopback(address: str) -> bool:
    """True for a loopback address as the kernel writes a socket's own (127.0.0.0/8, ::1): without
    ipaddress, which an alert's path never needs otherwise (about 1.5 ms to import)."""
    return address.startswith("127.") or address == "::1"


def _route_source(family: int, target: Tuple[str, int]) -> str:
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        probe.connect(target)
        return str(probe.getsockname()[0])


def ehlo_name(fqdn: str, address: Optional[str]) -> str:
    """The name to greet with: fqdn when it is one, else the address literal of address, else [127.0.0.1]."""
    if is_fqdn(fqdn):
        return fqdn.rstrip(".").lower()
    return address_literal(address) if address else "[127.0.0.1]"


MAILNAME = "/etc/mailname"  # Debian's name for the host in mail (set by the MTA's configuration)


def local_ehlo_name(configured: str = "", mailname_file: str = MAILNAME) -> str:
    """ehlo_name for this host: configured ([alert] ehlo_name), else socket.getfqdn, else /etc/mailname
    when either is an FQDN, else the address literal of its primary address."""
    if configured:
        return configured
    fqdn = socket.getfqdn()
    if not is_fqdn(fqdn):
        try:
            with open(mailname_file, "rb") as handle:  # bytes: an ascii text file loads its codec module
                named = handle.readline().decode("ascii", "replace").strip()
            fqdn = named if is_fqdn(named) else fqdn
        except OSError:
            pass
    return ehlo_name(fqdn, None if is_fqdn(fqdn) else primary_address())


def message_id_domain(ehlo: str) -> str:
    """The domain of Message-IDs: the EHLO name (an FQDN, or an address literal RFC 5322 allows too)."""
    return ehlo


def wire_address(address: str) -> str:
    """address with its domain as A-labels (jürgen@exämple.net -> jürgen@xn--exmple-cua.net); the local part is
    kept (non-ASCII there needs SMTPUTF8). An address idna refuses is returned as it is, for the server to judge."""
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii():
        return address
    try:
        import idna

        return "{}@{}".format(local, idna.encode(domain, uts46=True).decode("ascii"))
    except (ImportError, UnicodeError, ValueError):
        try:
            return "{}@{}".format(local, domain.encode("idna").decode("ascii"))
        except UnicodeError:
            return address


def needs_smtputf8(address: str) -> bool:
    """True when the local part is not ASCII: only a server that offers SMTPUTF8 can take it."""
    return not wire_address(address).isascii()
