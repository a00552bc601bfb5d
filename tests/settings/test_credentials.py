"""Where the SMTP password comes from, and that no error message ever shows it."""

import json
import os
import stat
from pathlib import Path
from typing import Dict

import keyring.core
import pytest

from app.settings import credentials
from app.settings.config import Config, load_config
from app.settings.credentials import describe_source, resolve_password
from app.errors import PASSWORD_COMMAND_FAILED, PASSWORD_MISSING, SECRETS_TOO_OPEN, SECRETS_UNREADABLE, UserError
from app.system.paths import Paths
from app.settings.secretstore import SecretsFile
from helpers import write_config

SECRET = "s3cret-Pa55"


@pytest.fixture(autouse=True)
def no_os_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine has no D-Bus: make keyring's choice deterministic (fail.Keyring) and re-detect it per test."""
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.setattr(keyring.core, "_keyring_backend", None)


def smtp_config(paths: Paths, **extra: str) -> Config:
    smtp: Dict[str, str] = {"host": "127.0.0.1", "port": "2525", "security": "none", "user": "alice"}
    smtp.update(extra)
    return load_config(write_config(paths, smtp=smtp))


def error_of(config: Config, paths: Paths) -> UserError:
    with pytest.raises(UserError) as raised:
        resolve_password(config, paths)
    assert SECRET not in raised.value.message
    return raised.value


def store(paths: Paths, password: str = SECRET, user: str = "alice") -> None:
    SecretsFile(paths.secrets_file).set_password(credentials.SERVICE, user, password)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- SecretsFile -------------------------------------------------------------------------------------

def test_the_password_file_set_then_get_round_trips(paths: Paths) -> None:
    backend = SecretsFile(paths.secrets_file)
    backend.set_password("svc", "alice", SECRET)
    backend.set_password("svc", "bob", "other")
    assert backend.get_password("svc", "alice") == SECRET
    assert SecretsFile(paths.secrets_file).get_password("svc", "bob") == "other"
    assert backend.get_password("svc", "carol") is None
    assert backend.get_password("other-service", "alice") is None


def test_the_password_file_missing_file_has_no_password(paths: Paths) -> None:
    assert SecretsFile(paths.secrets_file).get_password("svc", "alice") is None
    assert not paths.secrets_file.exists()


def test_the_password_file_creates_the_file_0600_in_a_0700_directory(paths: Paths) -> None:
    SecretsFile(paths.secrets_file).set_password("svc", "alice", SECRET)
    assert mode(paths.secrets_file) == 0o600
    assert mode(paths.secrets_file.parent) == 0o700
    assert os.listdir(str(paths.secrets_file.parent)) == ["secrets.json"]


def test_the_password_file_refuses_a_file_readable_by_others(paths: Paths) -> None:
    backend = SecretsFile(paths.secrets_file)
    backend.set_password("svc", "alice", SECRET)
    paths.secrets_file.chmod(0o644)
    with pytest.raises(UserError) as raised:
        backend.get_password("svc", "alice")
    message = raised.value.message
    assert message == SECRETS_TOO_OPEN.format(path=paths.secrets_file, mode=0o644)
    assert "chmod 600 {}".format(paths.secrets_file) in message
    assert SECRET not in message


def test_the_password_file_refuses_to_store_into_a_file_readable_by_others(paths: Paths) -> None:
    backend = SecretsFile(paths.secrets_file)
    backend.set_password("svc", "alice", "old")
    paths.secrets_file.chmod(0o640)
    with pytest.raises(UserError) as raised:
        backend.set_password("svc", "alice", SECRET)
    assert raised.value.message == SECRETS_TOO_OPEN.format(path=paths.secrets_file, mode=0o640)
    assert SECRET not in paths.secrets_file.read_text()


def test_the_password_file_delete_removes_the_password(paths: Paths) -> None:
    backend = SecretsFile(paths.secrets_file)
    backend.set_password("svc", "alice", SECRET)
    backend.set_password("svc", "bob", "other")
    backend.delete_password("svc", "alice")
    assert backend.get_password("svc", "alice") is None
    assert backend.get_password("svc", "bob") == "other"
    assert SECRET not in paths.secrets_file.read_text()


def test_the_password_file_deleting_a_missing_password_raises_key_error_without_the_secret(paths: Paths) -> None:
    backend = SecretsFile(paths.secrets_file)
    with pytest.raises(KeyError):
        backend.delete_password("svc", "alice")
    backend.set_password("svc", "bob", SECRET)
    with pytest.raises(KeyError) as raised:
        backend.delete_password("svc", "alice")
    assert SECRET not in str(raised.value)


@pytest.mark.parametrize("content", ['{"svc": {"alice": "s3cret-Pa55"', '["s3cret-Pa55"]',
                                     '{"svc": "s3cret-Pa55"}', '\udcff s3cret-Pa55'])
def test_the_password_file_corrupt_file_is_a_user_error_without_its_content(paths: Paths, content: str) -> None:
    paths.data_dir.mkdir(parents=True, mode=0o700)
    paths.secrets_file.write_bytes(content.encode("utf-8", "surrogateescape"))
    paths.secrets_file.chmod(0o600)
    with pytest.raises(UserError) as raised:
        SecretsFile(paths.secrets_file).get_password("svc", "alice")
    message = raised.value.message
    assert message.startswith(SECRETS_UNREADABLE.format(path=paths.secrets_file, reason="not valid JSON"))
    assert SECRET not in message


def test_the_password_file_symlink_is_refused(paths: Paths, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.json"
    target.write_text(json.dumps({"svc": {"alice": SECRET}}))
    target.chmod(0o600)
    paths.data_dir.mkdir(parents=True, mode=0o700)
    paths.secrets_file.symlink_to(target)
    with pytest.raises(UserError) as raised:
        SecretsFile(paths.secrets_file).get_password("svc", "alice")
    assert raised.value.message.startswith("cannot read the password file {}: ".format(paths.secrets_file))
    assert SECRET not in raised.value.message


# --- resolve_password -----------------------------------------------------------------------------------

def test_resolve_password_without_smtp_user_needs_no_password(paths: Paths) -> None:
    config = load_config(write_config(paths, smtp={"host": "127.0.0.1", "security": "none"}))
    assert resolve_password(config, paths) is None
    assert describe_source(config, paths).kind == "none"


def test_resolve_password_runs_password_command(paths: Paths) -> None:
    config = smtp_config(paths, password_command="printf '{}\\n'".format(SECRET))
    assert resolve_password(config, paths) == SECRET


def test_resolve_password_command_uses_only_the_first_line(paths: Paths) -> None:
    config = smtp_config(paths, password_command="printf '{}\\r\\nsecond line\\n'".format(SECRET))
    assert resolve_password(config, paths) == SECRET


def test_resolve_password_failing_command_names_password_command_and_exit_status(paths: Paths) -> None:
    config = smtp_config(paths, password_command="printf '{}\\n'; echo 'gpg: decryption failed' >&2; exit 3".format(
        SECRET))
    error = error_of(config, paths)
    assert error.message == PASSWORD_COMMAND_FAILED.format(path=config.path,
                                                           reason="exit status 3: gpg: decryption failed")
    assert "password_command" in error.message and "exit status 3" in error.message


def test_resolve_password_command_printing_nothing_is_an_error(paths: Paths) -> None:
    config = smtp_config(paths, password_command="true")
    error = error_of(config, paths)
    assert error.message == PASSWORD_COMMAND_FAILED.format(path=config.path, reason="it printed nothing")


def test_resolve_password_command_wins_over_the_stored_password(paths: Paths) -> None:
    store(paths, "stored-one")
    config = smtp_config(paths, password_command="printf '{}\\n'".format(SECRET), password="plain-one")
    assert resolve_password(config, paths) == SECRET


def test_resolve_password_plaintext_password_wins_over_the_store(paths: Paths) -> None:
    store(paths, "stored-one")
    config = smtp_config(paths, password=SECRET, password_store="file")
    assert resolve_password(config, paths) == SECRET


def test_resolve_password_from_the_password_file(paths: Paths) -> None:
    store(paths)
    config = smtp_config(paths, password_store="file")
    assert resolve_password(config, paths) == SECRET


def test_resolve_password_auto_finds_the_password_file(paths: Paths) -> None:
    store(paths)
    assert resolve_password(smtp_config(paths), paths) == SECRET


def test_resolve_password_file_store_without_password_says_how_to_fix(paths: Paths) -> None:
    store(paths, user="bob")
    config = smtp_config(paths, password_store="file")
    error = error_of(config, paths)
    assert error.message == PASSWORD_MISSING.format(user="alice", backend=str(SecretsFile(
        paths.secrets_file)), path=config.path)


def test_resolve_password_auto_without_any_password_is_password_missing(paths: Paths) -> None:
    config = smtp_config(paths)
    error = error_of(config, paths)
    assert error.message == PASSWORD_MISSING.format(
        user="alice", backend="password file {}".format(paths.secrets_file), path=config.path)


def test_resolve_password_keyring_store_without_os_keyring_is_password_missing(paths: Paths) -> None:
    store(paths)  # the file is not consulted when the user asked for the OS keyring
    config = smtp_config(paths, password_store="keyring")
    error = error_of(config, paths)
    assert error.message.startswith("no SMTP password for alice in the OS keyring")


def test_resolve_password_password_file_too_open_is_refused_without_the_secret(paths: Paths) -> None:
    store(paths)
    paths.secrets_file.chmod(0o604)
    error = error_of(smtp_config(paths), paths)
    assert error.message == SECRETS_TOO_OPEN.format(path=paths.secrets_file, mode=0o604)


# --- describe_source ------------------------------------------------------------------------------------

@pytest.mark.parametrize("settings, stored, kind", [
    ({"password_command": "pass show mail"}, False, "command"),
    ({"password": SECRET}, False, "plaintext"),
    ({"password_store": "file"}, False, "file"),
    ({"password_store": "file"}, True, "file"),
    ({}, True, "file"),
    ({}, False, "file"),
    ({"password_store": "keyring"}, False, "keyring"),
    ({"password_store": "keyring"}, True, "keyring"),
])
def test_describe_source_reports_where_the_password_would_come_from(
        paths: Paths, settings: Dict[str, str], stored: bool, kind: str) -> None:
    if stored:
        store(paths)
    source = describe_source(smtp_config(paths, **settings), paths)
    assert source.kind == kind
    assert SECRET not in source.description


def test_describe_source_auto_without_os_keyring_names_the_password_file(paths: Paths) -> None:
    source = describe_source(smtp_config(paths), paths)
    assert source == credentials.PasswordSource("file", "password file {}".format(paths.secrets_file))


def test_describe_source_keyring_without_os_keyring_says_none_is_usable(paths: Paths) -> None:
    source = describe_source(smtp_config(paths, password_store="keyring"), paths)
    assert source.description == "no usable OS keyring on this machine"


def test_describe_source_does_not_read_the_password(paths: Paths) -> None:
    store(paths)
    paths.secrets_file.chmod(0o644)  # reading would raise; describing only looks
    assert describe_source(smtp_config(paths, password_store="file"), paths).kind == "file"
