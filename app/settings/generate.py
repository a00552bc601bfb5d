"""Writes app/settings/records.py, the typed records a parsed configuration is made of, from the schema.

The schema (app/settings/schema.py) stays the one declaration of every key; a record has one field per
schema field under its prefix (the first key of a field gives its type and default), then the fields derived
from them. The output is plain source, so a type checker sees every field and importing it builds nothing
from the schema. ``python -m app.settings.generate`` rewrites the file; tests/settings/test_records.py fails
when it is stale. Not on any command's path: tests and developers run it.
"""

import os
import sys
from typing import List, NamedTuple, Tuple

from app.settings.kinds import Key
from app.settings.schema import default_value, keys_by_field

RECORDS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "records.py")


class Record(NamedTuple):
    """One generated record: the schema fields under prefix, then derived ones."""

    name: str
    prefix: str  # "policy": the fields policy.*
    doc: str
    defaults: bool = True  # False: every field must be given
    types: Tuple[Tuple[str, str], ...] = ()  # (field, type) where the record's value is not the key's
    derived: Tuple[Tuple[str, str, str], ...] = ()  # (field, type, default), computed from the keys' values


RECORDS = (
    Record("SmtpSettings", "smtp", "The [smtp] settings (method = smtp).", defaults=False,
           types=(("port", "int"),)),  # completed from the security when absent (schema.complete_port_security)
    Record("AlertPolicy", "policy", "Which logins are alerted and how: the [alert] keys beyond the original script's.",
           derived=(("trusted", "Tuple[Network, ...]", "()"),  # parsed from trusted_text
                    ("work_hours", "Optional[WorkHours]", "None"))),  # parsed from work_hours_text
)

_HEADER = '''"""The records a parsed configuration is made of, one field per schema field.

Generated from app/settings/schema.py by `python -m app.settings.generate`: do not edit (a test fails when
this file is stale). The type checker reads the classes; the interpreter builds the same records with
collections.namedtuple, which costs a third of what typing.NamedTuple does on every login.
"""

from collections import namedtuple
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the records as the type checker reads them
    from typing import NamedTuple, Optional, Tuple

    from app.rules.rules import WorkHours
    from app.rules.trust import Network
'''


def annotation_source(annotation: object) -> str:
    """Takes a type (str, typing.Tuple[str, ...]); returns it as source ("str", "Tuple[str, ...]")."""
    return annotation.__name__ if isinstance(annotation, type) else repr(annotation).replace("typing.", "")


def type_source(key: Key) -> str:
    """Takes a key; returns its value's type as source: "float", "Tuple[str, ...]", "Optional[int]"."""
    text = annotation_source(key.kind.python_type)
    return "Optional[{}]".format(text) if not key.default and key.kind.empty is None else text


def literal(value: object) -> str:
    """Takes a default value (text, number, flag, tuple of text, None); returns it as source."""
    if isinstance(value, str):
        return '"{}"'.format(value) if '"' not in value and "\\" not in value else repr(value)
    if isinstance(value, tuple):
        return "({})".format("".join(literal(item) + ", " for item in value).rstrip(" ")) if value else "()"
    return repr(value)


def _fields(record: Record) -> List[Tuple[str, str, str, str]]:
    """Takes a record; returns its fields as (name, type, default, comment), all as source."""
    overrides = dict(record.types)
    fields = []
    for field, keys in keys_by_field().items():
        if field.startswith(record.prefix + "."):
            name = field.split(".", 1)[1]
            fields.append((name, overrides.get(name, type_source(keys[0])), literal(default_value(keys[0])),
                           "  # [{}] {}".format(keys[0].section, keys[0].name)))
    return fields + [(name, annotation, default, "") for name, annotation, default in record.derived]


def _wrapped(start: str, items: List[str], indent: str) -> List[str]:
    """start, then the items comma-separated in lines of at most 116 characters, each further line at indent."""
    lines, line = [], start
    for item in items:
        if len(line) + len(item) > 116:
            lines.append(line.rstrip() + "\n")
            line = indent
        line += item + ", "
    return lines + [line]


def records_source() -> str:
    """Returns app/settings/records.py's text (pure)."""
    classes, builds = [], []
    for record in RECORDS:
        fields = _fields(record)
        classes.append('\n    class {}(NamedTuple):\n        """{}"""\n\n'.format(record.name, record.doc))
        classes.extend("        {}: {}{}{}\n".format(name, annotation, " = " + default if record.defaults else "",
                                                      comment) for name, annotation, default, comment in fields)
        build = _wrapped("    {0} = namedtuple(\"{0}\", (".format(record.name),
                         ['"{}"'.format(name) for name, _, _, _ in fields], " " * 8)
        if record.defaults:
            build[-1] = build[-1].rstrip(", ") + "),\n"
            build.extend(_wrapped(" " * 8 + "defaults=(", [default for _, _, default, _ in fields], " " * 8))
        builds.extend(build[:-1] + [build[-1].rstrip(", ") + "), module=__name__)\n"])
    return "".join([_HEADER] + classes +
                   ["else:  # the same records as the interpreter builds them\n"] + builds)


def main() -> int:
    """Rewrites app/settings/records.py; returns 0."""
    with open(RECORDS_FILE, "w", encoding="utf-8") as handle:
        handle.write(records_source())
    print("wrote " + RECORDS_FILE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
