"""What every message of a run needs: the host's names, the date, the envelope, the transport, the log.

Imported where sending starts: what only sending needs (config parsing, email, sockets) stays off the
path of a run that finds nothing to do.
"""

import time
from typing import TYPE_CHECKING, Optional

from app.store.store import Store
from app.system.paths import Paths

if TYPE_CHECKING:
    from app.settings.config import Config

EHLO_KEPT_SECONDS = 86400.0


def host_name(config: "Config") -> str:
    """The name alerts show for this machine: host_label, else the FQDN, else (an FQDN that is only localhost,
    from a 127.0.0.1 line in /etc/hosts) the host name."""
    return config.host_label or machine_name()


_LOCALHOST_NAMES = ("localhost", "localhost.localdomain", "localhost6", "ip6-localhost", "ip6-loopback")


def machine_name(fqdn: str = "", hostname: str = "") -> str:
    """The FQDN, unless it is a localhost alias: then the host name (a box named vm is "vm", not "localhost")."""
    import socket

    fqdn = fqdn or socket.getfqdn()
    if fqdn.lower().rstrip(".") not in _LOCALHOST_NAMES and not fqdn.lower().startswith("localhost."):
        return fqdn
    return hostname or socket.gethostname() or fqdn


def date_now() -> str:
    """A Date header value for now."""
    from app.check.wire import date_header

    return date_header(time.time())


def envelope(config: "Config", store: Store):  # type: ignore[no-untyped-def]
    from app.check.render import Envelope

    return Envelope(config.sender, config.recipients, host_name(config), ehlo_name(store, config.policy.ehlo_name))


def ehlo_name(store: Store, configured: str = "") -> str:
    """This host's EHLO name (app.channels.mailname), kept in the store for a day: finding it can wait on DNS."""
    from app.channels.mailname import local_ehlo_name

    if configured:
        return configured
    cached = store.get("ehlo") or {}
    now = time.time()
    if cached.get("name") and 0 <= now - float(cached.get("at", 0)) < EHLO_KEPT_SECONDS:
        return str(cached["name"])
    name = local_ehlo_name()
    store.later(lambda target: target.put("ehlo", {"name": name, "at": now}))  # with the alert's own commit
    return name


def transport(config: "Config", paths: Paths, host: str):  # type: ignore[no-untyped-def]
    from app.channels.delivery import open_transport

    def password() -> Optional[str]:  # credentials (subprocess, threading, keyring) only when AUTH needs them
        from app.settings.credentials import resolve_password

        return resolve_password(config, paths)

    return open_transport(config, password, host)


def oplog(paths: Paths):  # type: ignore[no-untyped-def]
    from app.system import oplog

    return oplog.logger(paths.oplog_file)
