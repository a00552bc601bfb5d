"""setup's change to an existing config file: only the keys setup asks about, edited in place (pure).

The new settings are compared with the file, key by key: a key already meaning the wanted value keeps
its line; a changed one is rewritten on its line, a missing one added, one back at its default removed.
Comments, unknown sections, [rules], channel sections and the order of keys stay as the user wrote them.
"""

from __future__ import annotations

import configparser

from app.settings import schema
from app.settings.config import INLINE_COMMENT_PREFIXES, Config, find_sendmail, parse_config
from app.settings.configwrite import field_values, implied_fields, key_line
from app.settings.inifile import Change, edit
from app.settings.kinds import Key
from app.errors import UserError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

# The fields setup asks about: the mail settings. Everything else in the file is left as it is.
ASKED_FIELDS = ("recipients", "sender", "method", "sendmail_path", "host_label", "smtp.host", "smtp.port",
                "smtp.security", "smtp.user", "smtp.password_store", "smtp.password_command", "smtp.ca_file")
PLAINTEXT_PASSWORD = ("smtp", "password")  # removed once the password is in the store
OTHER_PROBLEMS = ("{path} has these problems in lines setup does not change; nothing was saved: fix them "
                  "(ssh_alert.pyz config check names each) and re-run setup")


def _asked_keys(config: Config) -> List[Key]:
    keys = []
    for key in schema.KEYS:
        if key.field not in ASKED_FIELDS or key.legacy or key.secret:
            continue
        if key.section == "smtp" and config.method != "smtp":
            continue  # an [smtp] section not in use stays as it is
        if key.field == "sendmail_path" and config.method != "sendmail":
            continue
        keys.append(key)
    return keys


def _current(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, default_section="__no_defaults__",
                                       inline_comment_prefixes=INLINE_COMMENT_PREFIXES)
    try:
        parser.read_string(text)
    except configparser.Error:
        pass
    return parser


def _means(key: Key, text: Optional[str], value: Any) -> bool:
    """True when the key's text in the file (None: absent) reads as value."""
    if text is None or not text.strip():
        return value in (None, "", ()) or (bool(key.default) and schema.default_value(key) == value)
    try:
        return bool(key.kind.parse(text.strip()) == value)
    except ValueError:
        return False


def _effective(config: Config) -> Dict[str, Any]:
    values = field_values(config)
    return {field: values.get(field) for field in ASKED_FIELDS}


def changes(text: str, config: Config, password_stored: bool = False) -> List[Change]:
    """The edits that make the file at text say config's mail settings; [] when it already does."""
    values = field_values(config)
    implied = implied_fields(values)
    current = _current(text)
    edits: List[Optional[Change]] = []
    for key in _asked_keys(config):
        value = values.get(key.field)
        written = current.get(key.section, key.name, fallback=None)
        if _means(key, written, value):
            continue
        if written is None and key.field == "sendmail_path" and value == find_sendmail(""):
            continue  # the first sendmail found is what an absent key means
        if key.field in implied or value in (None, "", ()) or value == schema.default_value(key):
            edits.append((key.section, key.name, None) if written is not None else None)
        else:
            edits.append((key.section, key.name, key_line(key, value).split(" = ", 1)[1].rstrip("\n")))
    if password_stored and current.has_option(*PLAINTEXT_PASSWORD):
        edits.append((PLAINTEXT_PASSWORD[0], PLAINTEXT_PASSWORD[1], None))
    return [change for change in edits if change is not None]


def edited_text(text: str, config: Config, password_stored: bool = False) -> str:
    """The file's text with config's mail settings in it, nothing else changed.

    Raises UserError when the result would not read back as config (the file's other keys conflict,
    or another part of the file is invalid): nothing is to be written then.
    """
    result = edit(text, changes(text, config, password_stored))
    for _ in range(2):  # a key the file leaves implied may read differently there (legacy ssl = yes): say it
        try:
            reread = parse_config(result, config.path)
        except UserError as error:  # a problem in a part setup does not ask about
            raise UserError(error.message + "\n" + OTHER_PROBLEMS.format(path=config.path)) from None
        wanted, got = _effective(config), _effective(reread)
        missing = [field for field in ASKED_FIELDS if wanted[field] != got[field] and _settable(config, field)]
        if not missing:
            return result
        result = edit(result, [_explicit(field, wanted[field]) for field in missing])
    raise UserError("{}: setup's settings would not read back from the edited file; fix it by hand or move it "
                    "away and re-run setup".format(config.path))


def _settable(config: Config, field: str) -> bool:
    return not (field.startswith("smtp.") and config.method != "smtp")


def _explicit(field: str, value: Any) -> Tuple[str, str, Optional[str]]:
    key = next(key for key in schema.KEYS if key.field == field and not key.legacy)
    if value in (None, "", ()):
        return key.section, key.name, None
    return key.section, key.name, key_line(key, value).split(" = ", 1)[1].rstrip("\n")
