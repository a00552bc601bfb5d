"""``config check`` and ``config show``: validate the configuration file, or print what is in effect.

``check`` reads the file as ``check`` does and names every problem, one line each (exit 2), like ``sshd -t``.
``show`` prints every key in effect with where its value comes from (the file, or the default); secrets are
never shown. ``config --help`` lists every key the file may hold, from the schema.
"""

from __future__ import annotations

import argparse
import configparser

from app.commands.result import Result
from app.errors import UserError
from app.settings import schema
from app.system.paths import Paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

    from app.settings.config import Config

VALID = "{path}: valid"
REDACTED = "(redacted)"
SOURCE_FILE, SOURCE_DEFAULT, SOURCE_UNSET = "file", "default", "unset"
# Values that let whoever reads them act as the user: never printed.
REDACTED_KEYS = (("smtp", "password"), ("alert", "heartbeat_url"))


def _key_list() -> str:
    """Every key, by section, for config --help (plain text from the schema)."""
    lines = ["keys (section, key, default: meaning):"]
    for section in schema.SECTIONS:
        lines.append("  [{}]".format(section))
        for key in schema.KEYS:
            if key.section != section:
                continue
            default = "required" if key.required else key.default or key.default_help or "-"
            lines.append("    {} = {}: {}".format(key.name, default, key.help))
    lines.append("  [rules]")
    lines.append("    NAME = conditions -> skip | tag WORD | urgent  (ssh_alert.pyz help configuration)")
    return "\n".join(lines)


def add_parser(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser("config", help="validate the configuration (config check) or show it in effect "
                                                  "(config show)", epilog=_key_list(),
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    check = actions.add_parser("check", help="validate the whole file; exit 2 naming each problem")
    check.add_argument("--json", action="store_true", help="the result as JSON")
    show = actions.add_parser("show", help="every key in effect and its source (file or default); secrets redacted")
    show.add_argument("--json", action="store_true", help="the keys as JSON")


def run(paths: Paths, arguments: argparse.Namespace) -> Result:
    from app.settings.config import load_config

    config = load_config(paths.config_file)  # UserError: exit 2, one line per problem
    if arguments.action == "check":
        shown = [VALID.format(path=paths.config_file)] + ["warning: " + line for line in config.warnings]
        return Result(shown, data={"valid": True, "path": str(paths.config_file), "warnings": list(config.warnings)})
    rows = effective(paths, config)
    lines: List[str] = []
    for section, name, value, source in rows:
        if not lines or lines[-1] != "[{}]".format(section) and not any(
                line == "[{}]".format(section) for line in lines):
            lines.append("[{}]".format(section))
        lines.append("{} = {}   ; {}".format(name, value, source))
    data = [{"section": section, "key": name, "value": value, "source": source} for section, name, value, source
            in rows]
    return Result(lines, data=data)


def _file_texts(paths: Paths) -> Dict[Tuple[str, str], str]:
    from app.settings.config import INLINE_COMMENT_PREFIXES

    parser = configparser.ConfigParser(interpolation=None, default_section="__no_defaults__",
                                       inline_comment_prefixes=INLINE_COMMENT_PREFIXES)
    try:
        parser.read(str(paths.config_file), encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError) as error:
        raise UserError("cannot read {}: {}".format(paths.config_file, error)) from None
    return {(section, name): value.strip() for section in parser.sections() for name, value in parser[section].items()}


def effective(paths: Paths, config: "Config") -> List[Tuple[str, str, str, str]]:
    """(section, key, value, source) for every key in effect, in the schema's order, secrets redacted."""
    from app.settings.configwrite import field_values

    texts = _file_texts(paths)
    values = field_values(config)
    rows = []
    for key in schema.KEYS:
        if key.section == "smtp" and config.method != "smtp":
            continue
        if key.section in schema.PUSH_CHANNELS and key.section not in config.channels:
            continue
        written = texts.get((key.section, key.name))
        if key.legacy and written is None:
            continue  # the original script's spellings show only where the file uses them
        if key.field == "sendmail_path" and config.method != "sendmail":
            continue
        shown = _shown(key, written, values.get(key.field))
        source = SOURCE_FILE if written else SOURCE_DEFAULT if shown else \
            "{} ({})".format(SOURCE_DEFAULT, key.default_help) if key.default_help else SOURCE_UNSET
        if (key.section, key.name) in REDACTED_KEYS and shown:
            shown = REDACTED
        rows.append((key.section, key.name, shown, source))
    rules = [(name, text) for (section, name), text in texts.items() if section == "rules"]
    rows += [("rules", name, text, SOURCE_FILE) for name, text in rules]
    return rows


def _shown(key: schema.Key, written: Optional[str], value: Any) -> str:
    if key.field and value not in (None, "", ()):
        try:
            return key.kind.write(value)
        except (TypeError, ValueError, AttributeError):
            pass
    if written:
        return written
    return key.default
