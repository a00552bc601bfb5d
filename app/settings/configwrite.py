"""Writing a configuration: the INI text of a Config, only the keys away from their defaults, never a secret.

parse_config(render_config(config), path) gives back the same settings. setup's in-place edit of an existing
file (app.settings.configedit) writes each line with key_line too.
"""

from __future__ import annotations

import re

from app.errors import UNWRITABLE_COMMENT
from app.settings import schema
from app.settings.config import RULES, USERS, Config
from app.settings.kinds import Key
from app.settings.schema import DEFAULT_PORTS, complete_port_security

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Set

_COMMENT_START = re.compile(r"(^|\s)[;#]")  # where configparser starts an inline comment

_RENDER_HEADER = (
    "# ssh_alert configuration, written by `ssh_alert.pyz setup`; re-run setup to change it (it edits in place).\n"
    "# The SMTP password is never stored here (see password_store / password_command). Keys at their\n"
    "# defaults are left out: `ssh_alert.pyz config --help` and `ssh_alert.pyz help configuration` list every key.\n"
)


def field_values(config: Config) -> Dict[str, Any]:
    """Takes a config; returns each schema field's value in it (the smtp. fields only for method = smtp)."""
    values = {field: getattr(config, field) for field in Config._fields}
    values.update(("policy." + field, value) for field, value in config.policy._asdict().items())
    values.update(("channel.{}.{}".format(channel, name), value) for channel, options in config.channel_options.items()
                  for name, value in options.items())
    if config.method == "smtp" and config.smtp is not None:
        values.update(("smtp." + field, value) for field, value in config.smtp._asdict().items())
    return values


def implied_fields(values: Dict[str, Any]) -> Set[str]:
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


def key_line(key: Key, value: Any) -> str:
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
    values = field_values(config)
    implied = implied_fields(values)
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
            lines.append(key_line(key, value))
        lines.append("\n")
    if config.rules:
        lines.append("[{}]\n".format(RULES) + "".join("{} = {}\n".format(rule.name, rule.text) for rule in config.rules))
    if config.routes:
        lines.append("\n[{}]\n".format(USERS) + "".join("{} = {}\n".format(
            route.account, "skip" if route.skip else ", ".join(route.addresses)) for route in config.routes))
    return "".join(lines).rstrip("\n") + "\n"
