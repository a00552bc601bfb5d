"""What every message of a run needs: the host's names, the date, the envelope, the transport, the log.

Imported where sending starts: what only sending needs (config parsing, email, sockets) stays off the
path of a run that finds nothing to do.
"""

from __future__ import annotations

import time

from app.store.store import Store
from app.system.paths import Paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

    from app.check.render import Envelope
    from app.settings.config import Config
    from app.store.outbox import Transport
    from app.system.oplog import OperationalLog


class RunParts:
    """What every step of one sending run works with: its paths, its open store, the config it read, the
    envelope of its messages and the operations log. Made once by the CheckRun (app.check.checkrun)."""

    def __init__(self, paths: Paths, store: Store, config: "Config", envelope: "Envelope",
                 log: "OperationalLog") -> None:
        self.paths, self.store, self.config, self.envelope, self.log = paths, store, config, envelope, log

    @classmethod
    def of(cls, paths: Paths, store: Store, config: "Config") -> "RunParts":
        """The parts of a run that read config and opened store."""
        return cls(paths, store, config, envelope(config, store), oplog(paths))

    def log_once(self, warning: str, key: Optional[str] = None) -> None:
        """Log warning once while its condition lasts (key, default the text itself; Store.clear_warning ends it),
        so concurrent and repeated runs do not say it again."""
        if self.store.warn_once(key or warning):
            self.log.warning(warning)

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


def envelope(config: "Config", store: Store) -> "Envelope":
    """Who this run's messages are from and to, and the host's names."""
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


def transport(config: "Config", paths: Paths, host: str) -> "Transport":
    """The mail transport of config (opened on its first send); host: the EHLO name."""
    from app.channels.delivery import open_transport

    def password() -> Optional[str]:  # credentials (subprocess, threading, keyring) only when AUTH needs them
        from app.settings.credentials import resolve_password

        return resolve_password(config, paths)

    opened: "Transport" = open_transport(config, password, host)
    return opened


def oplog(paths: Paths) -> "OperationalLog":
    """The operations log of paths."""
    from app.system import oplog

    return oplog.logger(paths.oplog_file)
