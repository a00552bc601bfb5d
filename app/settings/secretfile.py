"""keyring's backend interface over ssh_alert's password file (app.settings.secretstore), for machines with no OS keyring."""

from pathlib import Path
from typing import Optional

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

from app.settings.secretstore import SecretsFile


class SecretsFileKeyring(KeyringBackend):
    """A keyring backend storing secrets in a 0600 JSON file; errors are UserErrors naming the file and fix."""

    # Below every real keyring; it needs a path, so keyring's auto-detection never constructs it.
    priority = 0.1  # type: ignore[assignment]

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.store = SecretsFile(path)
        self.path = path

    def __str__(self) -> str:
        return str(self.store)

    def get_password(self, service: str, username: str) -> Optional[str]:
        """Return the stored password or None; raises UserError when the file is unsafe or unreadable."""
        return self.store.get_password(service, username)

    def set_password(self, service: str, username: str, password: str) -> None:
        """Store password, creating the file 0600 atomically; raises UserError or OSError."""
        self.store.set_password(service, username, password)

    def delete_password(self, service: str, username: str) -> None:
        """Remove the password; raises PasswordDeleteError when it is not stored."""
        try:
            self.store.delete_password(service, username)
        except KeyError:
            raise PasswordDeleteError("no password stored for {} in {}".format(username, self.path)) from None
