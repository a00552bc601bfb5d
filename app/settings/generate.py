"""Writes app/settings/records.py, the typed records a parsed configuration is made of, from the schema.

The schema (app/settings/schema.py) stays the one declaration of every key; a record has one field per
schema field under its prefix (the first key of a field gives its type and default), then the fields derived
from them. The output is plain source, so a type checker sees every field and importing it builds nothing
from the schema. ``python -m app.settings.generate`` rewrites the file; tests/settings/test_records.py fails
when it is stale. Not on any command's path: tests and developers run it.
"""

from __future__ import annotations

import os
import sys

from app.settings.kinds import Key
from app.settings.schema import default_value, keys_by_field
from app.system.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Tuple

RECORDS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "records.py")


class RecordSpec(Record):
    """One generated record: the schema fields under prefix, then derived ones."""

    name: str
    prefix: str  # "policy": the fields policy.*
    doc: str
    defaults: bool = True  # False: every field must be given
    types: Tuple[Tuple[str, str], ...] = ()  # (field, type) where the record's value is not the key's
    derived: Tuple[Tuple[str, str, str], ...] = ()  # (field, type, default), computed from the keys' values


RECORDS = (
    RecordSpec("SmtpSettings", "smtp", "The [smtp] settings (method = smtp).", defaults=False,
               types=(("port", "int"),)),  # completed from the security when absent (schema.complete_port_security)
    RecordSpec("AlertPolicy", "policy",
               "Which logins are alerted and how: the [alert] keys beyond the original script's.",
               derived=(("trusted", "Tuple[Network, ...]", "()"),  # parsed from trusted_text
                        ("work_hours", "Optional[WorkHours]", "None"))),  # parsed from work_hours_text
)

_HEADER = '''"""The records a parsed configuration is made of, one field per schema field.

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
'''


def annotation_source(annotation: object) -> str:
    """Takes a type (str) or its source ("Tuple[str, ...]"); returns it as source ("str", "Tuple[str, ...]")."""
    if isinstance(annotation, str):
        return annotation
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


def _fields(record: RecordSpec) -> List[Tuple[str, str, str, str]]:
    """Takes a record; returns its fields as (name, type, default, comment), all as source."""
    overrides = dict(record.types)
    fields = []
    for field, keys in keys_by_field().items():
        if field.startswith(record.prefix + "."):
            name = field.split(".", 1)[1]
            fields.append((name, overrides.get(name, type_source(keys[0])), literal(default_value(keys[0])),
                           "  # [{}] {}".format(keys[0].section, keys[0].name)))
    return fields + [(name, annotation, default, "") for name, annotation, default in record.derived]


def records_source() -> str:
    """Returns app/settings/records.py's text (pure)."""
    classes = []
    for record in RECORDS:
        classes.append('\n\nclass {}(Record):\n    """{}"""\n\n'.format(record.name, record.doc))
        classes.extend("    {}: {}{}{}\n".format(name, annotation, " = " + default if record.defaults else "", comment)
                       for name, annotation, default, comment in _fields(record))
    return "".join([_HEADER] + classes)


def main() -> int:
    """Rewrites app/settings/records.py; returns 0."""
    with open(RECORDS_FILE, "w", encoding="utf-8") as handle:
        handle.write(records_source())
    print("wrote " + RECORDS_FILE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
