"""The configuration file: INI with the original script's sections and keys, plus ours; validated as a whole.

The keys, their defaults, validation and help are declared once, in app/settings/schema.py: parsing,
writing (render_config), the unknown-key warnings, AlertPolicy and docs/configuration.md's key table all follow it.
docs/configuration.md has an example, and a test parses that example as it is. Comments: a line
starting with ``;`` or ``#``, or the rest of a line from a ``;`` or ``#`` that follows a blank
(``password_command = pass show mail#1`` keeps its ``#``). The original script's ``password =`` is read
whole, as that script read it: a password may contain `` ;`` or `` #``.
"""

from __future__ import annotations

import configparser
import os
import types
from pathlib import Path

from app.errors import (COMMAND_CUT, CONFIG_PROBLEM, CONFIG_SYNTAX, CONFIG_UNREADABLE, NO_CONFIG, UNKNOWN_KEY,
                        UNKNOWN_SECTION, USE_SETTINGS, UserError)
from app.system.files import open_regular_file, require_private
from app.rules.trust import parse_networks
from app.settings import schema
from app.settings.cleartext import cleartext_problems
from app.settings.kinds import Invalid, Key, OptionValue, looks_like_address, split_addresses
from app.settings.records import AlertPolicy, SmtpSettings
from app.settings.schema import (DEFAULT_PORTS, DEFAULT_TIMEOUT, METHODS, PASSWORD_STORES, SECURITY_MODES,
                                 SENDMAIL_CANDIDATES, complete_port_security, security_from_flags)
from app.system.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Set, Tuple, TypeVar

    from app.rules.routing import Route
    from app.rules.rules import Rule, WorkHours

    _Entry = TypeVar("_Entry")

__all__ = ["AlertPolicy", "COMMAND_KEY", "Config", "DEFAULT_PORTS", "DEFAULT_TIMEOUT", "INLINE_COMMENT_PREFIXES",
           "METHODS", "NO_CHANNEL_OPTIONS", "PASSWORD_STORES", "RAW_KEYS", "SECURITY_MODES", "SENDMAIL_CANDIDATES",
           "SmtpSettings", "complete_port_security", "find_sendmail", "is_loopback_host", "load_config",
           "looks_like_address", "parse_config", "security_from_flags", "split_addresses"]

# A comment may end a line after a blank: "method = smtp   ; smtp | sendmail" (the README's example).
INLINE_COMMENT_PREFIXES = (";", "#")
# Read whole: the original script's plaintext password, which that script read without inline comments.
RAW_KEYS = tuple((key.section, key.name) for key in schema.KEYS if key.raw)
COMMAND_KEY = ("smtp", "password_command")  # a comment cutting a command short is a warning
RULES = "rules"
USERS = "users"
# Config's default channel_options: none, and read-only (a shared default must not be changed in place).
NO_CHANNEL_OPTIONS: Mapping[str, Mapping[str, OptionValue]] = types.MappingProxyType({})


class Config(Record):
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
    channels: Tuple[str, ...] = ("email",)  # where alerts go ([alert] channels)
    # push channel -> its section's values by key name, defaults filled in
    channel_options: Mapping[str, Mapping[str, OptionValue]] = NO_CHANNEL_OPTIONS
    rules: Tuple["Rule", ...] = ()  # [rules] (app.rules.rules), in file order
    routes: Tuple["Route", ...] = ()  # [users] (app.rules.routing): recipients or skip per account

    @property
    def emails(self) -> bool:
        """True when alerts go by email (then to, from and the mail settings are required)."""
        return "email" in self.channels


def is_loopback_host(host: str) -> bool:
    """True for localhost and loopback IP literals; names are never resolved (DNS is not trusted here)."""
    if host.lower() in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    import ipaddress  # here: an alert's path never needs it (about 1.5 ms to import)

    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


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


class _Reading:
    """One parse: the file's texts, and the problems and warnings found, each a CONFIG_PROBLEM line."""

    def __init__(self, text: str, path: Path, parser: configparser.ConfigParser) -> None:
        self.path, self.parser, self.raw = path, parser, _raw_values(text, parser)
        self.problems: List[str] = []
        self.warnings: List[str] = []
        self.invalid: Set[str] = set()  # the fields whose value was refused

    def line(self, section: str, key: str, problem: str) -> str:
        return CONFIG_PROBLEM.format(path=self.path, section=section, key=key, problem=problem)

    def problem(self, section: str, key: str, problem: str) -> None:
        self.problems.append(self.line(section, key, problem))

    def text(self, key: Key) -> str:
        """Takes a key; returns its text as written, "" when absent."""
        if (key.section, key.name) in self.raw and key.raw:
            return self.raw[(key.section, key.name)]
        return self.parser.get(key.section, key.name, fallback="").strip()

    def value(self, key: Key) -> Any:
        """Takes a key; returns its value (the default when absent or refused), reporting its problems."""
        text = self.text(key)
        value = schema.default_value(key)
        if text:
            try:
                value = key.kind.parse(text)
            except Invalid as invalid:
                self.invalid.add(key.field or key.name)
                for problem in invalid.problems:
                    self.problem(key.section, key.name, problem)
        if key.required and not value and key.field not in self.invalid:
            self.problem(key.section, key.name, key.required)
        return value


def parse_config(text: str, path: Path) -> Config:
    """Validate the INI text and return a Config.

    Raises UserError listing every problem found, one per line, each naming the file, section and key.
    """
    parser = _parser(INLINE_COMMENT_PREFIXES)
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as error:
        raise UserError(CONFIG_SYNTAX.format(path=path, reason=" ".join(str(error).split())))
    reading = _Reading(text, path, parser)
    command = parser.get(*COMMAND_KEY, fallback="").strip()
    if command and reading.raw.get(COMMAND_KEY, command) != command:
        reading.warnings.append(reading.line(*COMMAND_KEY, COMMAND_CUT.format(command=command)))
    rules = _section(reading, RULES, _parse_rules)
    routes = _section(reading, USERS, _parse_users)
    for section in parser.sections():
        if section in (RULES, USERS):
            continue
        if section not in schema.SECTIONS:
            hint = schema.section_suggestion(section, schema.SECTIONS + (RULES,))
            reading.problems.append(UNKNOWN_SECTION.format(path=path, section=section, hint=hint))
            continue
        for name in parser[section]:
            if schema.find_key(section, name) is None:
                reading.problem(section, name, UNKNOWN_KEY.format(hint=schema.key_suggestion(section, name)))

    values: Dict[str, Any] = {"channels": reading.value(schema.known_key("alert", "channels"))}
    emails = "email" in values["channels"]
    for field, keys in schema.keys_by_field().items():
        if field.startswith("smtp.") and (not emails or values["method"] != "smtp" or "method" in reading.invalid):
            continue
        if field.startswith("channel.") and field.split(".")[1] not in values["channels"]:
            continue
        if not emails and field in _MAIL_FIELDS:
            values[field] = schema.default_value(keys[0])
            continue
        values[field] = reading.value(next((key for key in keys if reading.text(key)), keys[0]))
    method = "" if "method" in reading.invalid or not emails else values["method"]
    values["sendmail_path"] = _sendmail_path(reading, values["sendmail_path"]) if method == "sendmail" else ""
    smtp = _smtp_settings(reading, values) if method == "smtp" else None
    for section, key, problem in cleartext_problems(values):
        reading.problem(section, key, problem)
    if reading.problems:
        raise UserError("\n".join(reading.problems))
    policy = {field.split(".", 1)[1]: value for field, value in values.items() if field.startswith("policy.")}
    return Config(path=path, recipients=values["recipients"], sender=values["sender"], method=method,
                  sendmail_path=values["sendmail_path"], host_label=values["host_label"], timeout=values["timeout"],
                  smtp=smtp, warnings=tuple(reading.warnings),
                  policy=AlertPolicy(trusted=parse_networks(policy["trusted_text"])[0],
                                     work_hours=_work_hours(policy["work_hours_text"]), **policy),
                  channels=values["channels"] or ("email",), channel_options=_channel_options(values),
                  rules=rules, routes=routes)


def _section(reading: "_Reading", name: str,
             parse: Callable[[Mapping[str, str]], Tuple[List[_Entry], List[str]]]) -> Tuple[_Entry, ...]:
    """Takes [rules] or [users] and its parser (app.rules); returns its entries in file order, every bad one
    reported."""
    if not reading.parser.has_section(name):
        return ()
    entries, problems = parse({key: value for key, value in reading.parser.items(name)})
    reading.problems.extend("{}: {}".format(reading.path, problem) for problem in problems)
    return tuple(entries)


def _parse_rules(items: Mapping[str, str]) -> Tuple[List["Rule"], List[str]]:
    from app.rules.rules import parse_rules  # only a file with [rules] pays for the import

    return parse_rules(items)


def _parse_users(items: Mapping[str, str]) -> Tuple[List["Route"], List[str]]:
    from app.rules.routing import parse_users

    return parse_users(items)


def _work_hours(text: str) -> "Optional[WorkHours]":
    if not text:
        return None
    from app.rules.rules import parse_work_hours

    return parse_work_hours(text)


_MAIL_FIELDS = ("recipients", "sender", "method")  # required only when alerts go by email


def _channel_options(values: Dict[str, Any]) -> Dict[str, Dict[str, OptionValue]]:
    """Each enabled push channel's settings by key name: {"ntfy": {"url": ..., "token_command": ...}}."""
    options: Dict[str, Dict[str, OptionValue]] = {}
    for field, value in values.items():
        if field.startswith("channel."):
            _, channel, name = field.split(".", 2)
            options.setdefault(channel, {})[name] = value
    return options


def _sendmail_path(reading: _Reading, configured: str) -> str:
    """The sendmail to run: configured, else the first default found; reports a missing or unusable one."""
    sendmail_path = find_sendmail(configured)
    if not sendmail_path:
        reading.problem("alert", "sendmail_path", "no sendmail found at {}; set sendmail_path or use method = smtp"
                        .format(" or ".join(SENDMAIL_CANDIDATES)))
    elif not os.access(sendmail_path, os.X_OK):
        reading.problem("alert", "sendmail_path", "{} is not an executable file".format(sendmail_path))
    return sendmail_path


def _smtp_settings(reading: _Reading, values: Dict[str, Any]) -> SmtpSettings:
    """The [smtp] settings: security from the original flags when unset, the port or security guessed."""
    security = values["smtp.security"]
    if not reading.text(schema.known_key("smtp", "security")):
        ssl, starttls = (reading.value(schema.known_key("smtp", name)) for name in ("ssl", "starttls"))
        security = security_from_flags(ssl, starttls)
    port, security = complete_port_security(values["smtp.port"], security)
    host, user = values["smtp.host"], values["smtp.user"]
    if user and security == "none" and host and not is_loopback_host(host):
        reading.problem("smtp", "security", "none would send the password for {} unencrypted to {}; set security = "
                                            "starttls or ssl".format(user, host))
    fields = {field.split(".", 1)[1]: value for field, value in values.items() if field.startswith("smtp.")}
    return SmtpSettings(**dict(fields, port=port, security=security))


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
