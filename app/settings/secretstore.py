"""The password file used where no OS keyring exists (every headless server): one private JSON file.

Like ``~/.pgpass`` and ssh private keys, the file is created 0600 atomically and is refused when group
or others can read it, or when another user owns it. It is not encrypted: it protects the password
from other accounts and from the plaintext config, not from this account itself.

This module does not import keyring (whose import costs ~70 ms): check reads the file and setup writes it
through SecretsFile directly.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from app.errors import SECRETS_NOT_OWNED, SECRETS_TOO_OPEN, SECRETS_UNREADABLE, UserError
from app.system.files import write_private

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, Optional


class SecretsFile:
    """``{service: {username: password}}`` in a 0600 JSON file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __str__(self) -> str:
        return "password file {}".format(self.path)

    def _load(self) -> Dict[str, Dict[str, str]]:
        """Return the stored secrets ({} when the file does not exist); raises UserError when unsafe or unreadable."""
        try:
            descriptor = os.open(str(self.path), os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            return {}
        except OSError as error:
            raise UserError(SECRETS_UNREADABLE.format(path=self.path, reason=error.strerror))
        with os.fdopen(descriptor, "rb") as handle:
            status = os.fstat(handle.fileno())
            if status.st_uid != os.geteuid():
                raise UserError(SECRETS_NOT_OWNED.format(path=self.path, uid=status.st_uid))
            if status.st_mode & 0o077:
                raise UserError(SECRETS_TOO_OPEN.format(path=self.path, mode=stat.S_IMODE(status.st_mode)))
            data = handle.read()
        try:
            secrets = json.loads(data.decode("utf-8"))
            if not isinstance(secrets, dict) or not all(isinstance(value, dict) for value in secrets.values()):
                raise ValueError("not a JSON object of objects")
        except ValueError as error:
            raise UserError(SECRETS_UNREADABLE.format(path=self.path, reason="not valid JSON ({})".format(
                type(error).__name__)))
        return secrets

    def _save(self, secrets: Dict[str, Dict[str, str]]) -> None:
        write_private(self.path, json.dumps(secrets, indent=1, sort_keys=True).encode("utf-8") + b"\n")

    def get_password(self, service: str, username: str) -> Optional[str]:
        """Return the stored password or None; raises UserError when the file is unsafe or unreadable."""
        value = self._load().get(service, {}).get(username)
        return value if isinstance(value, str) else None

    def set_password(self, service: str, username: str, password: str) -> None:
        """Store password, creating the file 0600 atomically; raises UserError or OSError."""
        secrets = self._load()
        secrets.setdefault(service, {})[username] = password
        self._save(secrets)

    def delete_password(self, service: str, username: str) -> None:
        """Remove the password; raises KeyError when it is not stored."""
        secrets = self._load()
        if username not in secrets.get(service, {}):
            raise KeyError(username)
        del secrets[service][username]
        if not secrets[service]:
            del secrets[service]
        self._save(secrets)
