"""The records a configuration is read into are generated from the schema, typed, with read-only defaults."""

import ast
import subprocess
import sys
from typing import Dict

import pytest

from helpers import ROOT

from app.settings.config import AlertPolicy, Config, SmtpSettings, parse_config
from app.settings.generate import RECORDS, RECORDS_FILE, annotation_source, records_source, type_source
from app.settings.schema import keys_by_field

MINIMAL = "[alert]\nto = a@example.com\nfrom = b@example.com\n[smtp]\nhost = mail.example.com\n"
EVERY_KEY = ("[alert]\nto = a@example.com\nfrom = b@example.com\nnotify = new\ntrusted = 10.0.0.0/8\n"
             "digest_after = 5\nreverse_dns = no\nreverse_dns_timeout = 2.5\nhook_wait = 1\n"
             "work_hours = Mon-Fri 08:00-19:00\n[smtp]\nhost = mail.example.com\nport = 2525\nuser = alice\n"
             "password_command = pass show mail\n")


def test_the_records_module_is_exactly_what_the_schema_generates() -> None:
    with open(RECORDS_FILE, encoding="utf-8") as handle:
        written = handle.read()
    assert written == records_source(), "app/settings/records.py is stale: run python -m app.settings.generate"


def test_the_records_module_says_it_is_generated_and_how() -> None:
    assert "Generated from app/settings/schema.py by `python -m app.settings.generate`: do not edit" in records_source()


def annotations(record: str) -> Dict[str, str]:
    """The fields of a record in app/settings/records.py as the type checker reads them: {name: type}."""
    with open(RECORDS_FILE, encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    found = next(node for node in ast.walk(tree) if isinstance(node, ast.ClassDef) and node.name == record)
    return {node.target.id: ast.unparse(node.annotation) for node in found.body
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)}


def is_a(value: object, annotation: str) -> bool:
    """Whether value is of a schema type written as source ("Optional[int]", "Tuple[str, ...]")."""
    if annotation.startswith("Optional["):
        return value is None or is_a(value, annotation[len("Optional["):-1])
    if annotation == "Tuple[str, ...]":
        return isinstance(value, tuple) and all(isinstance(item, str) for item in value)
    wanted = {"str": str, "int": int, "float": float, "bool": bool}[annotation]
    return type(value) is wanted


def test_the_checker_sees_each_field_with_its_keys_type() -> None:
    for field, keys in keys_by_field().items():
        prefix, _, name = field.rpartition(".")
        record = {"policy": "AlertPolicy", "smtp": "SmtpSettings"}.get(prefix)
        if record is not None and field != "smtp.port":  # SmtpSettings' port is completed from the security
            assert annotations(record)[name] == type_source(keys[0]), field
    assert annotations("SmtpSettings")["port"] == "int"
    assert annotations("AlertPolicy")["hook_wait"] == "float"


def test_every_value_read_from_a_file_has_the_type_the_checker_sees() -> None:
    derived = {name for record in RECORDS for name, _, _ in record.derived}
    configs = [parse_config(MINIMAL, ROOT / "config.ini"), parse_config(EVERY_KEY, ROOT / "config.ini")]
    for config in configs:
        for record, values in (("AlertPolicy", config.policy), ("SmtpSettings", config.smtp)):
            for name, annotation in annotations(record).items():
                if name not in derived:
                    assert is_a(getattr(values, name), annotation), (record, name, getattr(values, name))
    assert configs[1].policy.work_hours is not None and configs[1].policy.trusted


def test_the_config_fields_a_key_sets_have_that_keys_type() -> None:
    top = {field: keys for field, keys in keys_by_field().items() if "." not in field}
    assert top
    for field, keys in top.items():
        assert annotation_source(Config.__annotations__[field]) == type_source(keys[0]), field


@pytest.mark.parametrize("record", [Config, AlertPolicy, SmtpSettings])
def test_no_record_has_a_mutable_default(record: type) -> None:
    for name, default in getattr(record, "_field_defaults").items():
        assert not isinstance(default, (list, dict, set, bytearray)), name


def test_the_default_channel_options_cannot_be_changed_in_place() -> None:
    config = Config(path=ROOT / "config.ini", recipients=(), sender="", method="sendmail", sendmail_path="",
                    host_label="", timeout=20.0, smtp=None, warnings=())
    with pytest.raises(TypeError):
        config.channel_options["ntfy"] = {}  # type: ignore[index]
    assert dict(Config(*config[:9]).channel_options) == {}
    assert parse_config(MINIMAL, ROOT / "config.ini").channel_options == {}


def test_importing_the_records_builds_nothing_from_the_schema() -> None:
    code = "import sys, app.settings.records; print('app.settings.schema' in sys.modules)"
    shown = subprocess.run([sys.executable, "-c", code], cwd=str(ROOT), stdout=subprocess.PIPE, check=True,
                           universal_newlines=True).stdout
    assert shown.strip() == "False"
