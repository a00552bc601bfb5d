"""The one place the SMTP password comes from.

Order: ``password_command`` (like msmtp's passwordeval), then a plaintext ``password =`` (the original
script's format; status warns), then the store chosen by ``password_store``: ``keyring`` (the OS
keyring), ``file`` (our password file), or ``auto`` (the password file when it holds the password,
else the OS keyring when one is usable). keyring itself is imported only when the OS keyring is
consulted: reading the password file needs none of it.
"""

from __future__ import annotations

from pathlib import Path

from app.settings.config import Config
from app.errors import CHANNEL_SECRET_MISSING, KEYRING_TIMEOUT, PASSWORD_COMMAND_FAILED, PASSWORD_MISSING, USE_PASSWORD_COMMAND, UserError
from app.system.deadline import DeadlinePassed, call_with_deadline
from app.system.coredump import forbid_core_dumps
from app.system.files import require_private
from app.system.paths import Paths
from app.system.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Optional, TypeVar

    from keyring.backend import KeyringBackend

    from app.settings.secretstore import SecretsFile

    Returned = TypeVar("Returned")

SERVICE = "ssh-alert"
KEYRING_DEADLINE = 10.0  # a Secret Service waiting on an unlock prompt would hang a headless check forever


class PasswordSource(Record):
    kind: str  # none | command | plaintext | keyring | file
    description: str


def _with_deadline(function: Callable[[], Returned], seconds: float, config_path: Path) -> Returned:
    """Return function() (a keyring call); raise UserError if it has not returned within seconds."""
    try:
        return call_with_deadline(function, seconds, "keyring")
    except DeadlinePassed:
        raise UserError(KEYRING_TIMEOUT.format(seconds=seconds, path=config_path)) from None


def os_keyring() -> "Optional[KeyringBackend]":
    """Return keyring's selected backend when it is a real, usable keyring, else None."""
    import keyring
    from keyring.backends import chainer, fail, null

    backend = keyring.get_keyring()
    if isinstance(backend, (fail.Keyring, null.Keyring)):
        return None
    if isinstance(backend, chainer.ChainerBackend) and not backend.backends:
        return None
    return backend


def file_keyring(paths: Paths) -> "SecretsFile":
    """Return the password file for these paths (reading it imports no keyring)."""
    from app.settings.secretstore import SecretsFile

    return SecretsFile(paths.secrets_file)


def describe_source(config: Config, paths: Paths) -> PasswordSource:
    """Say where the password would come from, without reading it (imports keyring for auto/keyring)."""
    smtp = config.smtp
    if smtp is None or not smtp.user:
        return PasswordSource("none", "no SMTP user, no password needed")
    if smtp.password_command:
        return PasswordSource("command", "password_command")
    if smtp.plaintext_password:
        return PasswordSource("plaintext", "plaintext password in {}".format(config.path))
    if smtp.password_store == "file" or (smtp.password_store == "auto" and paths.secrets_file.exists()):
        return PasswordSource("file", str(file_keyring(paths)))
    backend = _with_deadline(os_keyring, KEYRING_DEADLINE, config.path)
    if backend is None:
        if smtp.password_store == "keyring":
            return PasswordSource("keyring", "no usable OS keyring on this machine")
        return PasswordSource("file", str(file_keyring(paths)))
    return PasswordSource("keyring", "OS keyring {}".format(type(backend).__name__))


def resolve_password(config: Config, paths: Paths) -> Optional[str]:
    """Return the SMTP password, or None when no AUTH is configured.

    Raises UserError when it cannot be found or read; the message never contains the password.
    """
    forbid_core_dumps()  # from here on this process holds a secret
    smtp = config.smtp
    if smtp is None or not smtp.user:
        return None
    if smtp.password_command:
        return _run_password_command(smtp.password_command, config)
    if smtp.plaintext_password:
        return smtp.plaintext_password
    if smtp.password_store in ("auto", "file"):
        password = file_keyring(paths).get_password(SERVICE, smtp.user)
        if password is not None or smtp.password_store == "file":
            return _require(password, str(file_keyring(paths)), smtp.user, config)
    backend = _with_deadline(os_keyring, KEYRING_DEADLINE, config.path)
    if backend is None:
        where = str(file_keyring(paths)) if smtp.password_store == "auto" else \
            "OS keyring (none usable here; use password_store = file)"
        return _require(None, where, smtp.user, config)
    password = _with_deadline(lambda: backend.get_password(SERVICE, smtp.user), KEYRING_DEADLINE, config.path)
    return _require(password, "OS keyring", smtp.user, config)


def _require(password: Optional[str], backend: str, user: str, config: Config) -> str:
    if not password:
        raise UserError(PASSWORD_MISSING.format(user=user, backend=backend, path=config.path))
    return password


def _run_password_command(command: str, config: Config) -> str:
    """Run password_command through /bin/sh and return its first output line; raises UserError.

    Runs only when no other user can change the file it came from (load_config refuses such files; this
    checks again for a Config built any other way).
    """
    require_private(config.path, USE_PASSWORD_COMMAND)
    from app.system import proc  # subprocess: only for password_command, not on every TLS login (about 2 ms)

    try:
        finished = proc.run(["/bin/sh", "-c", command], timeout=config.timeout)
    except (OSError, proc.TimedOut) as error:
        raise UserError(PASSWORD_COMMAND_FAILED.format(path=config.path, reason=error))
    if finished.returncode != 0:
        reason = "exit status {}: {}".format(finished.returncode, proc.first_line(finished.stderr) or "no message")
        raise UserError(PASSWORD_COMMAND_FAILED.format(path=config.path, reason=reason))
    password = finished.stdout.decode("utf-8", "replace").split("\n", 1)[0].rstrip("\r")
    if not password:
        raise UserError(PASSWORD_COMMAND_FAILED.format(path=config.path, reason="it printed nothing"))
    return password


class StoredPassword(Record):
    store: str  # keyring | file: the password_store value that finds it again
    description: str  # where it is, for the person running setup


def store_password(paths: Paths, user: str, password: str, config_path: Path) -> StoredPassword:
    """Store user's SMTP password in the OS keyring when one is usable, else in the password file.

    Returns which backend holds it. Raises UserError when neither can store it (the message never
    contains the password).
    """
    forbid_core_dumps()  # from here on this process holds a secret
    fallback_reason = "no OS keyring on this machine"
    backend = _with_deadline(os_keyring, KEYRING_DEADLINE, config_path)
    if backend is not None:
        from keyring.errors import KeyringError

        try:
            _with_deadline(lambda: backend.set_password(SERVICE, user, password), KEYRING_DEADLINE, config_path)
            return StoredPassword("keyring", "the OS keyring ({})".format(type(backend).__name__))
        except (KeyringError, UserError) as error:
            # A locked or refusing keyring: the password file still works, and says so.
            fallback_reason = "the OS keyring {} refused it: {}".format(
                type(backend).__name__, " ".join(str(getattr(error, "message", error)).split())[:120])
    from app.settings.secretstore import SecretsFile

    try:
        SecretsFile(paths.secrets_file).set_password(SERVICE, user, password)
    except OSError as error:
        raise UserError("cannot write the password file {}: {}".format(paths.secrets_file,
                                                                     error.strerror or error)) from None
    return StoredPassword("file", "the password file {} ({})".format(paths.secrets_file, fallback_reason))


def channel_account(channel: str) -> str:
    """The keyring user name a push channel's secret is kept under (service SERVICE)."""
    return "channel:" + channel


def resolve_channel_secret(config: Config, paths: Paths, channel: str, required: bool = True) -> str:
    """Return a push channel's secret: its <secret>_command, else the password file, else the OS keyring.

    Returns "" when none is kept and required is False (ntfy's public topics). Raises UserError naming the
    channel and how to store the secret; the message never contains it.
    """
    forbid_core_dumps()  # from here on this process holds a secret
    from app.settings.schema import CHANNEL_SECRETS

    secret_name = CHANNEL_SECRETS[channel]
    options = config.channel_options.get(channel, {})
    command = str(options.get(secret_name + "_command") or "")
    if command:
        return _run_password_command(command, config)
    store = options.get("secret_store", "auto")
    account = channel_account(channel)
    secret = None
    if store in ("auto", "file"):
        secret = file_keyring(paths).get_password(SERVICE, account)
    if not secret and store in ("auto", "keyring"):  # keyring costs ~70 ms to import: only when it may hold it
        backend = _with_deadline(os_keyring, KEYRING_DEADLINE, config.path)
        if backend is not None:
            secret = _with_deadline(lambda: backend.get_password(SERVICE, account), KEYRING_DEADLINE, config.path)
    if not secret and required:
        raise UserError(CHANNEL_SECRET_MISSING.format(channel=channel, secret=secret_name, path=config.path,
                                                      flag=secret_name.replace("_", "-")))
    return secret or ""


def store_channel_secret(paths: Paths, channel: str, secret: str, config_path: Path) -> StoredPassword:
    """Keep a push channel's secret in the OS keyring when usable, else the password file; raises UserError."""
    forbid_core_dumps()  # from here on this process holds a secret
    return store_password(paths, channel_account(channel), secret, config_path)
