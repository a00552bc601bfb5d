"""Every configuration key, declared once: section, name, type, default, validation and help text.

config.py reads and validates the file from KEYS and warns about keys not in it, configwrite.py writes it;
the records a file is read into (AlertPolicy, SmtpSettings) are generated from KEYS into records.py
(app.settings.generate), and docs/configuration.md's key table is markdown_table()'s output (tests keep both
equal to what the schema gives). A key's ``field`` says where its value lands: ``recipients`` (a Config field), ``smtp.port``
(SmtpSettings), ``policy.hook_wait`` (AlertPolicy). Several keys may share a field: the first one set
wins (the original script's ``[smtp] timeout`` after ``[alert] timeout``).
"""

from __future__ import annotations

import os

from app.settings.checks import (ehlo_problems, host_name, readable_problems, syslog_target_problems, trusted_problems,
                                 url_problems, work_hours_problems)
from app.settings.kinds import Address, Addresses, Choice, Flag, Number, Text, Words
from app.settings.kinds import Key as Key  # re-exported: schema.Key is the type of every entry of KEYS
from app.settings.pushkeys import OWN_KEYS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Sequence, Tuple

CHANNELS = ("email", "ntfy", "telegram", "slack", "discord", "matrix", "gotify", "pushover", "webhook")
PUSH_CHANNELS = CHANNELS[1:]
# The secret each push channel needs, kept in the OS keyring or the password file (setup --token-stdin), or
# printed by <secret>_command; never in this file. ntfy's token is optional (public topics).
CHANNEL_SECRETS = {"ntfy": "token", "telegram": "token", "slack": "webhook_url", "discord": "webhook_url",
                   "matrix": "access_token", "gotify": "app_token", "pushover": "app_token",
                   "webhook": "signing_secret"}
SECTIONS = ("alert", "smtp") + PUSH_CHANNELS
# the key naming where each channel's requests go (with its token); a secret URL (Slack, Discord) is checked as sent
REQUEST_URL_KEYS = {"ntfy": "url", "telegram": "api_base", "matrix": "homeserver", "gotify": "url",
                    "pushover": "api_base", "webhook": "url", "slack": "api_base"}
METHODS = ("smtp", "sendmail")
SECURITY_MODES = ("ssl", "starttls", "none")
PASSWORD_STORES = ("auto", "keyring", "file")
DEFAULT_PORTS = {"ssl": 465, "starttls": 587, "none": 25}
SENDMAIL_CANDIDATES = ("/usr/sbin/sendmail", "/usr/lib/sendmail")
DEFAULT_TIMEOUT = 20.0


def _push_keys() -> Tuple[Key, ...]:
    """Each push channel's section: its own settings, then what every channel has (secret command, CA file)."""
    keys: List[Key] = []
    for name in PUSH_CHANNELS:
        secret = CHANNEL_SECRETS[name]
        keys.extend(OWN_KEYS[name])
        keys.append(Key(name, secret + "_command", "channel.{}.{}_command".format(name, secret), Text(), "",
                        "a command printing the {}; without it the OS keyring or the password file holds it "
                        "(setup --{}-stdin)".format(secret.replace("_", " "), secret.replace("_", "-"))))
        keys.append(Key(name, "secret_store", "channel.{}.secret_store".format(name),
                        Choice("auto", "keyring", "file", "none"), "auto",
                        "where the {} is kept (setup writes it): the OS keyring, the password file, none; auto: "
                        "the password file, then the OS keyring".format(secret.replace("_", " "))))
        keys.append(Key(name, "ca_file", "channel.{}.ca_file".format(name),
                        Text(check=readable_problems, normalize=os.path.expanduser), "",
                        "a PEM bundle to trust instead of the system CAs"))
        keys.append(Key(name, "allow_insecure_http", "channel.{}.allow_insecure_http".format(name), Flag(), "no",
                        "yes lets an http:// URL to another host carry the {} in clear (status warns); "
                        "http:// to loopback is always allowed".format(secret.replace("_", " "))))
    return tuple(keys)


_TIMEOUT = Number(1, 600, integer=False, message="{text!r} is not a number of seconds between 1 and 600")

KEYS: Tuple[Key, ...] = (
    Key("alert", "to", "recipients", Addresses(), "", "each address gets its own RCPT; several: comma-separated",
        required="missing; set to = you@example.com (several: comma-separated)"),
    Key("alert", "from", "sender", Address(), "", "the sender address; one your mail server accepts",
        required="missing; set from = an address your mail server accepts as sender"),
    Key("alert", "method", "method", Choice(*METHODS), "smtp", "the [smtp] server, or the local sendmail"),
    Key("alert", "sendmail_path", "sendmail_path", Text(), "", "the sendmail to run, as `sendmail -t -oi -f` with the from address",
        default_help=", then ".join(SENDMAIL_CANDIDATES)),
    Key("alert", "host_label", "host_label", Text(), "", "the name alerts show", default_help="this host's FQDN"),
    Key("alert", "timeout", "timeout", _TIMEOUT, "20", "seconds for every SMTP operation, and for sendmail"),
    Key("alert", "notify", "policy.notify", Choice("all", "new"), "all",
        "with new, a login from an address the user logged in from before is recorded (history, digests) but "
        "not emailed"),
    Key("alert", "trusted", "policy.trusted_text", Text(check=trusted_problems), "",
        "addresses and networks, e.g. 203.0.113.0/24, 2001:db8::/48, 10.0.0.5 (IPv4-mapped IPv6 matches too)"),
    Key("alert", "trusted_action", "policy.trusted_action", Choice("skip", "tag"), "tag",
        "a login from a trusted address; tag: emailed, subject marked [trusted]; skip: recorded only"),
    Key("alert", "digest_after", "policy.digest_after", Number(1, 1000), "3",
        "more pending alerts than this in one run: one digest email, newest first"),
    Key("alert", "max_per_hour", "policy.max_per_hour", Number(1, 10000), "20",
        "emails per hour; beyond it alerts wait and go out as one digest"),
    Key("alert", "reverse_dns", "policy.reverse_dns", Flag(), "yes", "name the source address (reverse DNS)"),
    Key("alert", "reverse_dns_timeout", "policy.reverse_dns_timeout", Number(0.1, 10, integer=False), "1",
        "seconds the reverse lookup may take"),
    Key("alert", "html", "policy.html", Flag(), "no", "add an HTML alternative part"),
    Key("alert", "syslog", "policy.syslog", Flag(), "no",
        "also one key=value line per login to the local syslog, tag ssh_alert, so rsyslog/journald forwarding "
        "ships a fleet's logins"),
    Key("alert", "syslog_facility", "policy.syslog_facility", Choice("authpriv", "user"), "authpriv",
        "the syslog facility"),
    Key("alert", "syslog_socket", "policy.syslog_socket", Text(), "/dev/log",
        "the local syslog socket (a datagram socket; rsyslog and journald listen on /dev/log); a line the "
        "socket does not take stays in the outbox and is retried"),
    Key("alert", "syslog_format", "policy.syslog_format", Choice("logfmt", "json", "rfc5424"), "logfmt",
        "logfmt: event=login key=value ...; json: one JSON object per line; both carry the event id and epoch; "
        "rfc5424: structured data [ssh_alert@32473 event_id=... user=... rhost=...] and a JSON message"),
    Key("alert", "syslog_target", "policy.syslog_target", Text(check=syslog_target_problems), "",
        "tcp://host:514 or udp://host:514: send RFC 5424 syslog (as syslog_format = rfc5424) there instead of "
        "the local socket; TCP uses octet counting (RFC 6587)", default_help="the local syslog_socket"),
    Key("alert", "journald", "policy.journald", Flag(), "no",
        "also one journal entry per login through journald's native protocol, with SSH_ALERT_* fields "
        "(journalctl SSH_ALERT_USER=alice); exactly once through the outbox"),
    Key("alert", "journald_socket", "policy.journald_socket", Text(), "/run/systemd/journal/socket",
        "journald's native socket"),
    Key("alert", "geoip_db", "policy.geoip_db", Text(), "",
        "MMDB files you downloaded (DB-IP Lite, GeoLite2, IPinfo Lite), comma-separated: country, city, ASN and "
        "organisation in every alert, looked up offline; see docs/geoip.md"),
    Key("alert", "geoip_update", "policy.geoip_update", Choice("off", "monthly"), "off",
        "monthly: the cron run downloads the DB-IP Lite files named in geoip_db once a month "
        "(ssh_alert.pyz geoip update does it now)"),
    Key("alert", "geoip_mirror", "policy.geoip_mirror", Text(check=url_problems), "https://download.db-ip.com/free",
        "where geoip update downloads dbip-*-lite-YYYY-MM.mmdb.gz (an https mirror of DB-IP's free files)"),
    Key("alert", "heartbeat", "policy.heartbeat", Choice("weekly", "daily", "off"), "weekly",
        "a summary through every channel: logins since the last one, new addresses, anything unhealthy; when it "
        "stops arriving, monitoring has stopped"),
    Key("alert", "heartbeat_url", "policy.heartbeat_url", Text(check=url_problems), "",
        "pinged after every cron run (healthchecks.io style; /fail with the reason on failure), so an outside "
        "monitor pages you when the pings stop; kept out of logs"),
    Key("alert", "notify_logout", "policy.notify_logout", Flag(), "no",
        "also alert when a connection ends (seen by the cron run, within a minute), with how long it lasted; "
        "`history` shows every duration either way"),
    Key("alert", "work_hours", "policy.work_hours_text", Text(check=work_hours_problems), "",
        "e.g. Mon-Fri 08:00-19:00: a login outside these hours is urgent (see Rules)"),
    Key("alert", "channels", "channels", Words(*CHANNELS), "email",
        "where alerts go; each push channel has its own section below and its own delivery state"),
    Key("alert", "history_days", "policy.history_days", Number(1, 36500), "400",
        "logins older than this leave the history (see Files for the store's size)"),
    Key("alert", "hook_wait", "policy.hook_wait", Number(0, 30, integer=False), "3",
        "seconds a login waits until its alert has left; 0: do not wait"),
    Key("alert", "record_command", "policy.record_command", Flag(), "no",
        "put the command a login asked to run (ssh host CMD, escaped, cut to 200 characters) into its alert; off "
        "by default: commands can hold secrets"),
    Key("alert", "ehlo_name", "policy.ehlo_name", Text(check=ehlo_problems, normalize=host_name), "",
        "the name mail servers see (EHLO, Message-IDs): a fully qualified name or an address literal",
        default_help="the FQDN, else /etc/mailname, else the address literal ([203.0.113.5]) of this host"),
    Key("smtp", "host", "smtp.host", Text(), "", "the mail server (method = smtp)",
        required="missing; set host = your mail server (or use method = sendmail)"),
    Key("smtp", "port", "smtp.port", Number(1, 65535, message="{text!r} is not a port number (1-65535)"), "",
        "the mail server's port", default_help="465 for ssl, 587 for starttls, 25 for none"),
    Key("smtp", "security", "smtp.security", Choice(*SECURITY_MODES), "",
        "ssl is TLS from the start; starttls refuses a server without STARTTLS; none is allowed with a user "
        "only to a loopback host", default_help="starttls (ssl when port = 465)"),
    Key("smtp", "user", "smtp.user", Text(), "", "the login name; AUTH only when set"),
    Key("smtp", "password_store", "smtp.password_store", Choice(*PASSWORD_STORES), "auto",
        "where the password is kept (see The SMTP password)"),
    Key("smtp", "password_command", "smtp.password_command", Text(), "",
        "a command printing the password, like msmtp's passwordeval"),
    Key("smtp", "password", "smtp.plaintext_password", Text(), "",
        "(the original script's) a plaintext password, read whole: a ; or # in it stays; it works, status warns",
        legacy=True, secret=True, raw=True),
    Key("smtp", "ca_file", "smtp.ca_file", Text(check=readable_problems, normalize=os.path.expanduser), "",
        "a PEM bundle to trust instead of the system CAs"),
    Key("smtp", "ssl", "", Flag(), "", "(the original script's) yes means security = ssl; security wins",
        legacy=True),
    Key("smtp", "starttls", "", Flag(), "",
        "(the original script's) yes means security = starttls, no means none; ssl = yes and security win",
        legacy=True),
    Key("smtp", "timeout", "timeout", _TIMEOUT, "20",
        "(the original script's place) [alert] timeout wins when both are set", legacy=True),
) + _push_keys()


def find_key(section: str, name: str) -> Optional[Key]:
    """Takes a section and key name; returns its Key, or None for a key the schema does not know."""
    return next((key for key in KEYS if key.section == section and key.name == name), None)


def known_key(section: str, name: str) -> Key:
    """Takes the section and name of a key the schema declares; returns its Key (KeyError for any other)."""
    key = find_key(section, name)
    if key is None:
        raise KeyError((section, name))
    return key


def closest(name: str, known: Sequence[str]) -> str:
    """Takes a misspelt name and the names it could be; returns the likeliest one, or "" (pure)."""
    import difflib

    close = difflib.get_close_matches(name.lower(), list(known), n=1, cutoff=0.6)
    return close[0] if close else ""


def section_suggestion(section: str, known: Sequence[str]) -> str:
    """The did-you-mean for an unknown section: " (did you mean [smtp]?)", or ""."""
    close = closest(section, known)
    return " (did you mean [{}]?)".format(close) if close else ""


def key_suggestion(section: str, name: str) -> str:
    """The did-you-mean for an unknown key: a close key of the section, else the section a key of that name is
    in: " (did you mean security?)", " (it belongs in [smtp])", or ""."""
    close = closest(name, [key.name for key in KEYS if key.section == section])
    if close:
        return " (did you mean {}?)".format(close)
    elsewhere = [key.section for key in KEYS if key.name == name.lower()]
    return " (it belongs in [{}])".format(elsewhere[0]) if elsewhere else ""


def keys_by_field() -> Dict[str, List[Key]]:
    """Returns each field with the keys that set it, in order of precedence (KEYS' order)."""
    fields: Dict[str, List[Key]] = {}
    for key in KEYS:
        if key.field:
            fields.setdefault(key.field, []).append(key)
    return fields


def default_value(key: Key) -> object:
    """Takes a key; returns the value it has when absent."""
    return key.kind.default(key.default) if key.default else key.kind.empty


# --- the port and the encryption: the one place that guesses one from the other -------------------------


def security_from_flags(ssl: Optional[bool], starttls: Optional[bool]) -> str:
    """Takes the original script's ssl = and starttls = (None: not set); returns the security they mean, or ""."""
    if ssl:
        return "ssl"
    if starttls:
        return "starttls"
    return "none" if starttls is False else ""


def complete_port_security(port: Optional[int], security: str) -> Tuple[int, str]:
    """Takes a port (None: not set) and security ("": not set); returns both, the missing ones guessed.

    The port from the security: 465 ssl, 587 starttls, 25 none; the security from the port: 465 ssl,
    any other starttls; neither: 587 with starttls.
    """
    if not security:
        security = "ssl" if port == 465 else "starttls"
    return (DEFAULT_PORTS.get(security, 587) if port is None else port), security


# --- docs/configuration.md's key table ---------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_table() -> str:
    """Returns docs/configuration.md's key table (section, key, default, meaning) as markdown, one row per key."""
    rows = ["| section | key | default | meaning |", "|---|---|---|---|"]
    for key in KEYS:
        default = "required" if key.required else "`{}`".format(key.default) if key.default else key.default_help
        values = key.kind.describe()
        meaning = "{}: {}".format(values, key.help) if values else key.help
        rows.append("| [{}] | `{}` | {} | {} |".format(key.section, key.name, _cell(default), _cell(meaning)))
    return "\n".join(rows) + "\n"
