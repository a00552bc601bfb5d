"""The configuration file: INI with the original script's sections and keys, plus ours; validated as a whole.

README.md's "Configuration" shows every key, and a test parses that example as it is. Comments: a line
starting with ``;`` or ``#``, or the rest of a line from a ``;`` or ``#`` that follows a blank
(``password_command = pass show mail#1`` keeps its ``#``). The original script's ``password =`` is read
whole, as that script read it: a password may contain `` ;`` or `` #``.
"""

import configparser
import ipaddress
import os
import re
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Tuple

from app.errors import (COMMAND_CUT, CONFIG_PROBLEM, CONFIG_SYNTAX, CONFIG_UNREADABLE, NO_CONFIG, UNWRITABLE_COMMENT,
                        USE_SETTINGS, UserError)
from app.system.files import open_regular_file, require_private
from app.alerting.trust import Network, parse_networks

METHODS = ("smtp", "sendmail")
SECURITY_MODES = ("ssl", "starttls", "none")
PASSWORD_STORES = ("auto", "keyring", "file")
DEFAULT_PORTS = {"ssl": 465, "starttls": 587, "none": 25}
DEFAULT_TIMEOUT = 20.0
SENDMAIL_CANDIDATES = ("/usr/sbin/sendmail", "/usr/lib/sendmail")
KNOWN_KEYS = {
    "alert": {"to", "from", "method", "sendmail_path", "host_label", "timeout", "notify", "trusted",
              "trusted_action", "digest_after", "max_per_hour", "reverse_dns", "reverse_dns_timeout", "html",
              "syslog", "syslog_facility", "syslog_socket", "history_days", "hook_wait", "ehlo_name"},
    "smtp": {"host", "port", "security", "ssl", "starttls", "user", "password", "password_store",
             "password_command", "ca_file", "timeout"},
}
# A comment may end a line after a blank: "method = smtp   ; smtp | sendmail" (the README's example).
INLINE_COMMENT_PREFIXES = (";", "#")
# Read whole: the original script's plaintext password, which that script read without inline comments.
RAW_KEYS = (("smtp", "password"),)
COMMAND_KEY = ("smtp", "password_command")  # a comment cutting a command short is a warning
_COMMENT_START = re.compile(r"(^|\s)[;#]")  # where configparser starts an inline comment
_BOOLEANS = {"yes": True, "true": True, "on": True, "1": True, "no": False, "false": False, "off": False, "0": False}


class SmtpSettings(NamedTuple):
    host: str
    port: int
    security: str
    user: str
    password_store: str
    password_command: str
    plaintext_password: str  # the original script's format; status warns about it
    ca_file: str


class AlertPolicy(NamedTuple):
    """Which logins are emailed and how: the [alert] keys beyond the original script's."""

    notify: str = "all"  # all | new: with new, logins from a user's known IP are recorded, not emailed
    trusted: Tuple[Network, ...] = ()
    trusted_text: str = ""  # as written, for render_config
    trusted_action: str = "tag"  # skip: record only | tag: email, marked trusted
    digest_after: int = 3  # more pending alerts than this in one run: one digest email
    max_per_hour: int = 20  # emails; beyond, alerts wait (still pending) and go out as a digest
    reverse_dns: bool = True
    reverse_dns_timeout: float = 1.0
    html: bool = False  # add an HTML alternative part
    syslog: bool = False
    syslog_facility: str = "authpriv"
    syslog_socket: str = "/dev/log"
    history_days: int = 400  # logins older than this leave the history (the store's size stays bounded)
    hook_wait: float = 3.0  # seconds the login hook waits for the alert to leave; 0: fire and forget
    ehlo_name: str = ""  # the name mail servers see (EHLO, Message-IDs); default: detected (app.channels.mailname)


class Config(NamedTuple):
    path: Path
    recipients: Tuple[str, ...]
    sender: str
    method: str
    sendmail_path: str
    host_label: str
    timeout: float
    smtp: Optional[SmtpSettings]
    warnings: Tuple[str, ...]
    policy: AlertPolicy = AlertPolicy()


def is_loopback_host(host: str) -> bool:
    """True for localhost and loopback IP literals; names are never resolved (DNS is not trusted here)."""
    if host.lower() in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def looks_like_address(address: str) -> bool:
    """A cheap sanity check for check's path; setup validates properly with email-validator."""
    local, _, domain = address.rpartition("@")
    return bool(local and domain) and not any(character.isspace() or ord(character) < 32 for character in address)


def split_addresses(value: str) -> Tuple[str, ...]:
    """Split a comma-separated address list, dropping blanks."""
    return tuple(part.strip() for part in value.split(",") if part.strip())


def find_sendmail(configured: str) -> str:
    """Return the configured sendmail path, else the first existing default, else ""."""
    if configured:
        return configured
    return next((candidate for candidate in SENDMAIL_CANDIDATES if os.access(candidate, os.X_OK)), "")


def _parser(inline_comment_prefixes: Tuple[str, ...]) -> configparser.ConfigParser:
    return configparser.ConfigParser(interpolation=None, default_section="__no_defaults__",
                                     inline_comment_prefixes=inline_comment_prefixes)


def _raw_values(text: str, parser: configparser.ConfigParser) -> Dict[Tuple[str, str], str]:
    """The RAW_KEYS and COMMAND_KEY present, read without inline comments (text already parsed with them)."""
    present = [(section, key) for section, key in RAW_KEYS + (COMMAND_KEY,) if parser.has_option(section, key)]
    if not present:
        return {}
    whole = _parser(())
    try:
        whole.read_string(text)
    except configparser.Error:  # only the inline comments made it parse: keep the values as parsed
        return {}
    return {(section, key): whole.get(section, key).strip() for section, key in present
            if whole.has_option(section, key)}


def parse_config(text: str, path: Path) -> Config:
    """Validate the INI text and return a Config.

    Raises UserError listing every problem found, one per line, each naming the file, section and key.
    """
    parser = _parser(INLINE_COMMENT_PREFIXES)
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as error:
        raise UserError(CONFIG_SYNTAX.format(path=path, reason=" ".join(str(error).split())))
    raw = _raw_values(text, parser)
    problems: List[str] = []
    warnings: List[str] = []

    def problem(section: str, key: str, text: str) -> None:
        problems.append(CONFIG_PROBLEM.format(path=path, section=section, key=key, problem=text))

    def get(section: str, key: str, default: str = "") -> str:
        if (section, key) in RAW_KEYS and (section, key) in raw:
            return raw[(section, key)]
        return parser.get(section, key, fallback=default).strip()

    command = get(*COMMAND_KEY)
    if command and raw.get(COMMAND_KEY, command) != command:
        warnings.append(CONFIG_PROBLEM.format(path=path, section=COMMAND_KEY[0], key=COMMAND_KEY[1],
                                              problem=COMMAND_CUT.format(command=command)))

    for section in parser.sections():
        for key in parser[section]:
            if key not in KNOWN_KEYS.get(section, set()):
                warnings.append(CONFIG_PROBLEM.format(path=path, section=section, key=key,
                                                      problem="unknown key, ignored"))

    recipients = split_addresses(get("alert", "to"))
    if not recipients:
        problem("alert", "to", "missing; set to = you@example.com (several: comma-separated)")
    for address in recipients:
        if not looks_like_address(address):
            problem("alert", "to", "{!r} is not an email address".format(address))
    sender = get("alert", "from")
    if not sender:
        problem("alert", "from", "missing; set from = an address your mail server accepts as sender")
    elif not looks_like_address(sender):
        problem("alert", "from", "{!r} is not an email address".format(sender))

    method = get("alert", "method", "smtp").lower()
    if method not in METHODS:
        problem("alert", "method", "{!r} is not one of: {}".format(method, ", ".join(METHODS)))

    timeout_section = "alert" if get("alert", "timeout") else "smtp"
    timeout_text = get(timeout_section, "timeout") or str(DEFAULT_TIMEOUT)
    timeout = DEFAULT_TIMEOUT
    try:
        timeout = float(timeout_text)
        if not 1 <= timeout <= 600:
            raise ValueError
    except ValueError:
        problem(timeout_section, "timeout",
                "{!r} is not a number of seconds between 1 and 600".format(timeout_text))

    sendmail_path = ""
    if method == "sendmail":
        sendmail_path = find_sendmail(get("alert", "sendmail_path"))
        if not sendmail_path:
            problem("alert", "sendmail_path",
                    "no sendmail found at {}; set sendmail_path or use method = smtp".format(
                        " or ".join(SENDMAIL_CANDIDATES)))
        elif not os.access(sendmail_path, os.X_OK):
            problem("alert", "sendmail_path", "{} is not an executable file".format(sendmail_path))

    smtp = _parse_smtp(get, problem) if method == "smtp" else None
    policy = _parse_policy(get, problem)
    if problems:
        raise UserError("\n".join(problems))
    return Config(path=path, recipients=recipients, sender=sender, method=method, sendmail_path=sendmail_path,
                  host_label=get("alert", "host_label"), timeout=timeout, smtp=smtp, warnings=tuple(warnings),
                  policy=policy)


def _parse_policy(get, problem) -> AlertPolicy:  # type: ignore[no-untyped-def]
    """Validate the alert policy keys of [alert], reporting through problem()."""
    defaults = AlertPolicy()

    def choice(key: str, choices: Tuple[str, ...], default: str) -> str:
        value = get("alert", key, default).lower()
        if value not in choices:
            problem("alert", key, "{!r} is not one of: {}".format(value, ", ".join(choices)))
            return default
        return value

    def number(key: str, default: float, low: float, high: float, kind: type = int) -> float:
        text = get("alert", key) or str(default)
        try:
            value = kind(text)
            if not low <= value <= high:
                raise ValueError
            return value
        except ValueError:
            problem("alert", key, "{!r} is not a number from {:g} to {:g}".format(text, low, high))
            return default

    def flag(key: str, default: bool) -> bool:
        text = get("alert", key).lower()
        if text and text not in _BOOLEANS:
            problem("alert", key, "{!r} is not yes or no".format(text))
        return _BOOLEANS.get(text, default)

    trusted_text = get("alert", "trusted")
    trusted, bad = parse_networks(trusted_text)
    for entry in bad:
        problem("alert", "trusted", "{!r} is not an IP address or network (e.g. 203.0.113.0/24, 2001:db8::/48, "
                                    "10.0.0.5)".format(entry))
    return AlertPolicy(
        notify=choice("notify", ("all", "new"), defaults.notify), trusted=trusted, trusted_text=trusted_text,
        trusted_action=choice("trusted_action", ("skip", "tag"), defaults.trusted_action),
        digest_after=int(number("digest_after", defaults.digest_after, 1, 1000)),
        max_per_hour=int(number("max_per_hour", defaults.max_per_hour, 1, 10000)),
        reverse_dns=flag("reverse_dns", defaults.reverse_dns),
        reverse_dns_timeout=number("reverse_dns_timeout", defaults.reverse_dns_timeout, 0.1, 10, float),
        html=flag("html", defaults.html), syslog=flag("syslog", defaults.syslog),
        syslog_facility=choice("syslog_facility", ("authpriv", "user"), defaults.syslog_facility),
        syslog_socket=get("alert", "syslog_socket") or defaults.syslog_socket,
        history_days=int(number("history_days", defaults.history_days, 1, 36500)),
        hook_wait=number("hook_wait", defaults.hook_wait, 0, 30, float),
        ehlo_name=_ehlo_name(get("alert", "ehlo_name"), problem))


def _ehlo_name(value: str, problem) -> str:  # type: ignore[no-untyped-def]
    from app.channels.mailname import ehlo_problem

    if value and ehlo_problem(value):
        problem("alert", "ehlo_name", ehlo_problem(value))
        return ""
    return value.lower().rstrip(".")


def _parse_smtp(get, problem) -> SmtpSettings:  # type: ignore[no-untyped-def]
    """Validate the [smtp] section, reporting through problem(); returns best-effort settings."""
    host = get("smtp", "host")
    if not host:
        problem("smtp", "host", "missing; set host = your mail server (or use method = sendmail)")
    security = get("smtp", "security").lower()
    if security and security not in SECURITY_MODES:
        problem("smtp", "security", "{!r} is not one of: {}".format(security, ", ".join(SECURITY_MODES)))
    if not security:
        flags = {}
        for key in ("ssl", "starttls"):
            value = get("smtp", key).lower()
            if value and value not in _BOOLEANS:
                problem("smtp", key, "{!r} is not yes or no".format(value))
            flags[key] = _BOOLEANS.get(value)
        if flags["ssl"]:
            security = "ssl"
        elif flags["starttls"]:
            security = "starttls"
        elif flags["starttls"] is False:
            security = "none"
        else:
            security = "ssl" if get("smtp", "port") == "465" else "starttls"
    port_text = get("smtp", "port") or str(DEFAULT_PORTS.get(security, 587))
    port = 0
    try:
        port = int(port_text)
        if not 0 < port < 65536:
            raise ValueError
    except ValueError:
        problem("smtp", "port", "{!r} is not a port number (1-65535)".format(port_text))
    user = get("smtp", "user")
    if user and security == "none" and host and not is_loopback_host(host):
        problem("smtp", "security",
                "none would send the password for {} unencrypted to {}; set security = starttls or ssl".format(
                    user, host))
    store = get("smtp", "password_store", "auto").lower()
    if store not in PASSWORD_STORES:
        problem("smtp", "password_store", "{!r} is not one of: {}".format(store, ", ".join(PASSWORD_STORES)))
    ca_file = get("smtp", "ca_file")
    if ca_file:
        ca_file = os.path.expanduser(ca_file)
        if not os.access(ca_file, os.R_OK):
            problem("smtp", "ca_file", "{} does not exist or is not readable".format(ca_file))
    return SmtpSettings(host=host, port=port, security=security, user=user, password_store=store,
                        password_command=get("smtp", "password_command"),
                        plaintext_password=get("smtp", "password"), ca_file=ca_file)


def load_config(path: Path) -> Config:
    """Read and validate the config file at path; raises UserError (missing, unreadable or invalid).

    The file must be a regular file (a FIFO or device would hang or never end) that no other user can
    change, in directories no other user can change: it names a command (password_command) that is run.
    """
    try:
        with open_regular_file(path, "r", encoding="utf-8") as handle:
            require_private(path, USE_SETTINGS)
            text = handle.read()
    except FileNotFoundError:
        raise UserError(NO_CONFIG.format(path=path))
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(CONFIG_UNREADABLE.format(path=path, reason=getattr(error, "strerror", None) or error))
    return parse_config(text, path)


_RENDER_HEADER = (
    "# ssh_alert configuration, written by `ssh_alert.pyz setup`; re-run setup to change it.\n"
    "# The SMTP password is never stored here (see password_store / password_command).\n"
)


def _policy_keys(policy: AlertPolicy) -> List[Tuple[str, str]]:
    """The policy keys whose values differ from the defaults, as INI text values."""
    defaults = AlertPolicy()
    keys = []
    for field in AlertPolicy._fields:
        value = getattr(policy, field)
        if field in ("trusted",) or value == getattr(defaults, field):
            continue
        name = "trusted" if field == "trusted_text" else field
        text = ("yes" if value else "no") if isinstance(value, bool) else "{:g}".format(value) \
            if isinstance(value, float) else str(value)
        keys.append((name, text))
    return keys


def render_config(config: Config) -> str:
    """Return the INI text for config (pure): only keys with a value, never a password.

    parse_config(render_config(config), path) gives back the same settings. Raises ValueError when a
    value cannot be written as one INI line (a newline in it, leading/trailing blanks that would be lost, or
    a ; or # after a blank, which would start a comment).
    """
    alert = [("to", ", ".join(config.recipients)), ("from", config.sender), ("method", config.method)]
    if config.method == "sendmail":
        alert.append(("sendmail_path", config.sendmail_path))
    alert += [("host_label", config.host_label), ("timeout", "{:g}".format(config.timeout))]
    alert += _policy_keys(config.policy)
    sections = [("alert", alert)]
    smtp = config.smtp
    if config.method == "smtp" and smtp is not None:
        keys = [("host", smtp.host), ("port", str(smtp.port)), ("security", smtp.security), ("user", smtp.user)]
        if smtp.user:
            keys.append(("password_command", smtp.password_command) if smtp.password_command
                        else ("password_store", smtp.password_store))
        keys.append(("ca_file", smtp.ca_file))
        sections.append(("smtp", keys))
    lines = [_RENDER_HEADER]
    for name, keys in sections:
        lines.append("[{}]\n".format(name))
        for key, value in keys:
            if not value:
                continue
            if "\n" in value or "\r" in value or value != value.strip():
                raise ValueError("[{}] {}: {!r} cannot be written on one INI line; remove the line break or "
                                 "surrounding blanks".format(name, key, value))
            if _COMMENT_START.search(value):
                raise ValueError(UNWRITABLE_COMMENT.format(section=name, key=key, value=value))
            lines.append("{} = {}\n".format(key, value))
        lines.append("\n")
    return "".join(lines).rstrip("\n") + "\n"
