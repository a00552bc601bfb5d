"""The configuration file: INI with the original script's sections and keys, plus ours; validated as a whole.

The keys, their defaults, validation and help are declared once, in app/settings/schema.py: parsing,
writing (render_config), the unknown-key warnings, AlertPolicy and docs/configuration.md's key table all follow it.
docs/configuration.md has an example, and a test parses that example as it is. Comments: a line
starting with ``;`` or ``#``, or the rest of a line from a ``;`` or ``#`` that follows a blank
(``password_command = pass show mail#1`` keeps its ``#``). The original script's ``password =`` is read
whole, as that script read it: a password may contain `` ;`` or `` #``.
"""

import configparser
import ipaddress
import os
import re
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional, Set, Tuple

from app.errors import (COMMAND_CUT, CONFIG_PROBLEM, CONFIG_SYNTAX, CONFIG_UNREADABLE, NO_CONFIG, UNKNOWN_KEY,
                        UNKNOWN_SECTION, UNWRITABLE_COMMENT, USE_SETTINGS, UserError)
from app.system.files import open_regular_file, require_private
from app.rules.trust import Network, parse_networks
from app.settings import schema
from app.settings.cleartext import cleartext_problems
from app.settings.kinds import Invalid, looks_like_address, split_addresses
from app.settings.schema import (DEFAULT_PORTS, DEFAULT_TIMEOUT, METHODS, PASSWORD_STORES, SECURITY_MODES,
                                 SENDMAIL_CANDIDATES, Key, complete_port_security, security_from_flags)

__all__ = ["AlertPolicy", "COMMAND_KEY", "Config", "DEFAULT_PORTS", "DEFAULT_TIMEOUT", "INLINE_COMMENT_PREFIXES",
           "METHODS", "PASSWORD_STORES", "RAW_KEYS", "SECURITY_MODES", "SENDMAIL_CANDIDATES", "SmtpSettings",
           "complete_port_security", "find_sendmail", "is_loopback_host", "load_config", "looks_like_address",
           "parse_config", "render_config", "security_from_flags", "split_addresses"]

# A comment may end a line after a blank: "method = smtp   ; smtp | sendmail" (the README's example).
INLINE_COMMENT_PREFIXES = (";", "#")
# Read whole: the original script's plaintext password, which that script read without inline comments.
RAW_KEYS = tuple((key.section, key.name) for key in schema.KEYS if key.raw)
COMMAND_KEY = ("smtp", "password_command")  # a comment cutting a command short is a warning
_COMMENT_START = re.compile(r"(^|\s)[;#]")  # where configparser starts an inline comment


class SmtpSettings(NamedTuple):
    host: str
    port: int
    security: str
    user: str
    password_store: str
    password_command: str
    plaintext_password: str  # the original script's format; status warns about it
    ca_file: str


# Which logins are emailed and how: the [alert] keys beyond the original script's, fields and defaults from the schema.
AlertPolicy = schema.record("AlertPolicy", "policy", __name__,
                            "Which logins are emailed and how: the [alert] keys beyond the original script's.",
                            trusted=(Tuple[Network, ...], ()), work_hours=(Any, None))


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
    policy: AlertPolicy = AlertPolicy()  # type: ignore[valid-type]
    channels: Tuple[str, ...] = ("email",)  # where alerts go ([alert] channels)
    channel_options: Dict[str, Dict[str, Any]] = {}  # push channel -> its section's values, defaults filled in
    rules: Tuple[Any, ...] = ()  # [rules] (app.rules.rules), in file order
    routes: Tuple[Any, ...] = ()  # [users] (app.rules.routing): recipients or skip per account

    @property
    def emails(self) -> bool:
        """True when alerts go by email (then to, from and the mail settings are required)."""
        return "email" in self.channels


def is_loopback_host(host: str) -> bool:
    """True for localhost and loopback IP literals; names are never resolved (DNS is not trusted here)."""
    if host.lower() in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
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
        text = self.text(key) or key.default
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
    rules = _rules(parser, reading)
    routes = _users(parser, reading)
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

    values: Dict[str, Any] = {"channels": reading.value(schema.find_key("alert", "channels"))}  # type: ignore
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
                  rules=tuple(rules), routes=tuple(routes))


RULES = "rules"
USERS = "users"


def _users(parser: configparser.ConfigParser, reading: "_Reading") -> List[Any]:
    """The [users] section (app.rules.routing); every bad entry reported."""
    if not parser.has_section(USERS):
        return []
    from app.rules.routing import parse_users

    routes, problems = parse_users({name: value for name, value in parser.items(USERS)})
    reading.problems.extend("{}: {}".format(reading.path, problem) for problem in problems)
    return routes


def _rules(parser: configparser.ConfigParser, reading: "_Reading") -> List[Any]:
    """The [rules] section, each rule parsed (app.rules.rules); every bad one reported."""
    if not parser.has_section(RULES):
        return []
    from app.rules.rules import parse_rules

    rules, problems = parse_rules({name: value for name, value in parser.items(RULES)})
    reading.problems.extend("{}: {}".format(reading.path, problem) for problem in problems)
    return rules


def _work_hours(text: str) -> Any:
    if not text:
        return None
    from app.rules.rules import parse_work_hours

    return parse_work_hours(text)


_MAIL_FIELDS = ("recipients", "sender", "method")  # required only when alerts go by email


def _channel_options(values: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """Each enabled push channel's settings by key name: {"ntfy": {"url": ..., "token_command": ...}}."""
    options: Dict[str, Dict[str, Any]] = {}
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
    if not reading.text(schema.find_key("smtp", "security")):  # type: ignore[arg-type]
        flags = [reading.value(schema.find_key("smtp", name)) for name in ("ssl", "starttls")]  # type: ignore
        security = security_from_flags(*flags)
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


_RENDER_HEADER = (
    "# ssh_alert configuration, written by `ssh_alert.pyz setup`; re-run setup to change it (it edits in place).\n"
    "# The SMTP password is never stored here (see password_store / password_command). Keys at their\n"
    "# defaults are left out: `ssh_alert.pyz config --help` and `ssh_alert.pyz help configuration` list every key.\n"
)


def _field_values(config: Config) -> Dict[str, Any]:
    """Takes a config; returns each schema field's value in it (the smtp. fields only for method = smtp)."""
    values = {field: getattr(config, field) for field in Config._fields}
    values.update(("policy." + field, value) for field, value in config.policy._asdict().items())
    values.update(("channel.{}.{}".format(channel, name), value) for channel, options in config.channel_options.items()
                  for name, value in options.items())
    if config.method == "smtp" and config.smtp is not None:
        values.update(("smtp." + field, value) for field, value in config.smtp._asdict().items())
    return values


def _implied(values: Dict[str, Any]) -> Set[str]:
    """The smtp fields reading them back would give anyway: the port from the security, and the reverse."""
    if "smtp.port" not in values:
        return set()
    port, security = values["smtp.port"], values["smtp.security"]
    implied = {"smtp.port"} if DEFAULT_PORTS.get(security) == port else set()
    if complete_port_security(None if implied else port, "")[1] == security:
        implied.add("smtp.security")
    if not values["smtp.user"]:  # without AUTH there is no password to find
        implied.update({"smtp.password_store", "smtp.password_command"})
    elif values["smtp.password_command"]:
        implied.add("smtp.password_store")
    return implied


def _line(key: Key, value: Any) -> str:
    """The INI line for key = value; raises ValueError when it would not read back the same."""
    text = key.kind.write(value)
    if "\n" in text or "\r" in text or text != text.strip():
        raise ValueError("[{}] {}: {!r} cannot be written on one INI line; remove the line break or surrounding "
                         "blanks".format(key.section, key.name, text))
    if _COMMENT_START.search(text):
        raise ValueError(UNWRITABLE_COMMENT.format(section=key.section, key=key.name, value=text))
    return "{} = {}\n".format(key.name, text)


def render_config(config: Config) -> str:
    """Return the INI text for config (pure): only keys whose values differ from the defaults, never a password.

    parse_config(render_config(config), path) gives back the same settings. Raises ValueError when a
    value cannot be written as one INI line (a newline in it, leading/trailing blanks that would be lost, or
    a ; or # after a blank, which would start a comment).
    """
    values = _field_values(config)
    implied = _implied(values)
    lines = [_RENDER_HEADER]
    for section in schema.SECTIONS:
        if section == "smtp" and "smtp.host" not in values:
            continue
        if section in schema.PUSH_CHANNELS and section not in config.channels:
            continue
        lines.append("[{}]\n".format(section))
        for key in schema.KEYS:
            if key.section != section or key.legacy or key.secret or key.field not in values:
                continue
            value = values[key.field]
            if key.field in implied or value in (None, "", ()) or value == schema.default_value(key):
                continue
            lines.append(_line(key, value))
        lines.append("\n")
    if config.rules:
        lines.append("[{}]\n".format(RULES) + "".join("{} = {}\n".format(rule.name, rule.text) for rule in config.rules))
    if config.routes:
        lines.append("\n[{}]\n".format(USERS) + "".join("{} = {}\n".format(
            route.account, "skip" if route.skip else ", ".join(route.addresses)) for route in config.routes))
    return "".join(lines).rstrip("\n") + "\n"
