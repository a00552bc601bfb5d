"""The records a parsed configuration is made of, one field per schema field.

Generated from app/settings/schema.py by `python -m app.settings.generate`: do not edit (a test fails when
this file is stale). Each is a Record (app.system.record): the type checker reads a typing.NamedTuple, the
interpreter builds a tuple class without importing typing.
"""

from __future__ import annotations

from app.system.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional, Tuple

    from app.rules.rules import WorkHours
    from app.rules.trust import Network


class SmtpSettings(Record):
    """The [smtp] settings (method = smtp)."""

    host: str  # [smtp] host
    port: int  # [smtp] port
    security: str  # [smtp] security
    user: str  # [smtp] user
    password_store: str  # [smtp] password_store
    password_command: str  # [smtp] password_command
    plaintext_password: str  # [smtp] password
    ca_file: str  # [smtp] ca_file


class AlertPolicy(Record):
    """Which logins are alerted and how: the [alert] keys beyond the original script's."""

    notify: str = "all"  # [alert] notify
    trusted_text: str = ""  # [alert] trusted
    trusted_action: str = "tag"  # [alert] trusted_action
    digest_after: int = 3  # [alert] digest_after
    max_per_hour: int = 20  # [alert] max_per_hour
    reverse_dns: bool = True  # [alert] reverse_dns
    reverse_dns_timeout: float = 1.0  # [alert] reverse_dns_timeout
    html: bool = False  # [alert] html
    syslog: bool = False  # [alert] syslog
    syslog_facility: str = "authpriv"  # [alert] syslog_facility
    syslog_socket: str = "/dev/log"  # [alert] syslog_socket
    syslog_format: str = "logfmt"  # [alert] syslog_format
    syslog_target: str = ""  # [alert] syslog_target
    journald: bool = False  # [alert] journald
    journald_socket: str = "/run/systemd/journal/socket"  # [alert] journald_socket
    geoip_db: str = ""  # [alert] geoip_db
    geoip_update: str = "off"  # [alert] geoip_update
    geoip_mirror: str = "https://download.db-ip.com/free"  # [alert] geoip_mirror
    heartbeat: str = "weekly"  # [alert] heartbeat
    heartbeat_url: str = ""  # [alert] heartbeat_url
    notify_logout: bool = False  # [alert] notify_logout
    work_hours_text: str = ""  # [alert] work_hours
    history_days: int = 400  # [alert] history_days
    hook_wait: float = 3.0  # [alert] hook_wait
    record_command: bool = False  # [alert] record_command
    ehlo_name: str = ""  # [alert] ehlo_name
    trusted: Tuple[Network, ...] = ()
    work_hours: Optional[WorkHours] = None
