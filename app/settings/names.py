"""The names settings give to mail and to syslog, checked where the settings are parsed and used by the channels.

An EHLO name (RFC 5321 §4.1.1.1) is a fully qualified host name or an address literal; a syslog target is
tcp://host:port or udp://host:port. app.channels.mailname and app.channels.syslog5424 build on these.
"""

from __future__ import annotations

import re

from app.rules.trust import canonical_ipv4

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

_LABEL = r"\A(?!-)[A-Za-z0-9-]{1,63}(?<!-)\Z"
_LOCAL_NAMES = ("localhost", "localdomain", "local", "localhost6", "ip6-localhost")
BAD_TARGET = "{target!r} is not a syslog target; write tcp://host:514 or udp://host:514"


def is_fqdn(name: str) -> bool:
    """True for a syntactically valid host name with a dot that is not a localhost alias."""
    name = name.rstrip(".")
    labels = name.split(".")
    if len(labels) < 2 or len(name) > 253 or not all(re.match(_LABEL, label) for label in labels):
        return False
    return labels[0].lower() not in _LOCAL_NAMES and labels[-1].lower() not in ("localdomain", "localhost")


def address_literal(address: str) -> str:
    """[203.0.113.5] or [IPv6:2001:db8::1] (RFC 5321 §4.1.3)."""
    if canonical_ipv4(address):  # this host's address as the kernel writes it: no ipaddress to import (1.5 ms)
        return "[{}]".format(address)
    import ipaddress

    parsed = ipaddress.ip_address(address)
    return "[{}]".format(parsed) if parsed.version == 4 else "[IPv6:{}]".format(parsed.compressed)


def ehlo_problem(value: str) -> Optional[str]:
    """Why value cannot be an EHLO name (None when it can): an FQDN or an address literal."""
    if is_fqdn(value):
        return None
    try:
        if value.startswith("[") and value.endswith("]"):
            address_literal(value[1:-1][5:] if value[1:].lower().startswith("ipv6:") else value[1:-1])
            return None
    except ValueError:
        pass
    return "{!r} is neither a fully qualified host name (web1.example.com) nor an address literal " \
           "([203.0.113.5])".format(value)


def target_problem(text: str) -> str:
    """"" when text is tcp://host:port or udp://host:port (or empty), else the problem."""
    if not text:
        return ""
    from urllib.parse import urlsplit

    parts = urlsplit(text)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in ("tcp", "udp") or not parts.hostname or not port or parts.path not in ("", "/"):
        return BAD_TARGET.format(target=text)
    return ""
