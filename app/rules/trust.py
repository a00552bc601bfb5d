"""Trusted networks (``trusted = 203.0.113.0/24, 2001:db8::/48, 10.0.0.5``): pure parsing and matching."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ipaddress  # imported where used: a login's alert needs it only with trusted networks (1.5 ms)
    from typing import List, Optional, Sequence, Tuple, TypeAlias, Union

Network: TypeAlias = "Union[ipaddress.IPv4Network, ipaddress.IPv6Network]"


def parse_networks(text: str) -> Tuple[Tuple[Network, ...], List[str]]:
    """Parse a comma-separated list of addresses and CIDR networks; returns (networks, bad entries)."""
    entries = [entry for entry in (part.strip() for part in text.split(",")) if entry]
    if not entries:  # the default: no trusted network, and no ipaddress to import
        return (), []
    import ipaddress

    networks, bad = [], []
    for entry in entries:
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            bad.append(entry)
            continue
        mapped = network.network_address.ipv4_mapped if network.version == 6 else None
        if mapped is not None and network.prefixlen >= 96:  # ::ffff:a.b.c.d/n is an IPv4 network
            network = ipaddress.ip_network("{}/{}".format(mapped, network.prefixlen - 96))
        networks.append(network)
    return tuple(networks), bad


def normalize_ip(text: str) -> Optional[Union[ipaddress.IPv4Address, ipaddress.IPv6Address]]:
    """The address in text, IPv4-mapped IPv6 (``::ffff:1.2.3.4``) as IPv4; None when not an address."""
    import ipaddress

    try:
        address = ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def canonical_ipv4(text: str) -> bool:
    """True when text is an IPv4 address as ipaddress writes it: four decimal numbers up to 255, no leading
    zero. Such text is its own canonical form (the hook's usual address), found without ipaddress."""
    parts = text.split(".")
    return len(parts) == 4 and all(part.isascii() and part.isdigit() and int(part) <= 255
                                   and (part == "0" or not part.startswith("0")) for part in parts)


def canonical_address(text: str) -> str:
    """The address in text as a canonical string (IPv4-mapped IPv6 as IPv4), or "" when it is none."""
    text = text.strip()
    if canonical_ipv4(text):
        return text
    address = normalize_ip(text)
    return "" if address is None else str(address)


def is_trusted(ip: str, networks: Sequence[Network]) -> bool:
    """True when ip lies in one of networks."""
    if not networks:
        return False
    address = normalize_ip(ip)
    return address is not None and any(address.version == network.version and address in network
                                       for network in networks)
