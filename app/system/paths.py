"""Every file ssh_alert reads or writes, derived from one environment (tests point HOME at a temp dir)."""

from __future__ import annotations

import os
from pathlib import Path
from app.system.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Mapping, Optional


def _xdg(environ: Mapping[str, str], variable: str, home: Path, default: str) -> Path:
    """Return $variable when it is an absolute path (as the XDG spec requires), else home/default."""
    value = environ.get(variable, "")
    return Path(value) if os.path.isabs(value) else home / default


# The system-wide mode (run as root; see app.install.pam): fixed places, root's alone.
SYSTEM_CONFIG_DIR = Path("/etc/ssh-alert")
SYSTEM_STATE_DIR = Path("/var/lib/ssh-alert")
SYSTEM_LIB_DIR = Path("/usr/local/lib/ssh-alert")  # the pyz and the PAM hook script
SYSTEM_PYZ = SYSTEM_LIB_DIR / "ssh_alert.pyz"
SYSTEM_HOOK = SYSTEM_LIB_DIR / "pam-hook"
SYSTEM_SHIV_ROOT = SYSTEM_LIB_DIR / "shiv"  # the pyz's extraction: root's, never under a full /var
# Connections the PAM hook recorded, one file per account, readable by all (like wtmp): a per-user install
# on the same host finds its connection there and does not alert it a second time.
SYSTEM_SEEN_DIR = Path("/run/ssh-alert")


class Paths(Record):
    """Where config, state, logs and secrets live, following the XDG base directories."""

    home: Path
    config_dir: Path
    state_dir: Path
    data_dir: Path
    system: bool = False  # the system-wide mode (root, PAM): every account's logins, root's files

    @classmethod
    def system_wide(cls) -> "Paths":
        """The system-wide mode's files: config and secrets in /etc/ssh-alert, state in /var/lib/ssh-alert."""
        return cls(home=Path("/root"), config_dir=SYSTEM_CONFIG_DIR, state_dir=SYSTEM_STATE_DIR,
                   data_dir=SYSTEM_CONFIG_DIR, system=True)

    @classmethod
    def from_environ(cls, environ: Optional[Mapping[str, str]] = None) -> "Paths":
        """Build the paths from HOME and the XDG_* variables of environ (default: os.environ)."""
        environ = os.environ if environ is None else environ
        home = Path(environ.get("HOME") or os.path.expanduser("~"))
        return cls(
            home=home,
            config_dir=_xdg(environ, "XDG_CONFIG_HOME", home, ".config") / "ssh-alert",
            state_dir=_xdg(environ, "XDG_STATE_HOME", home, ".local/state") / "ssh-alert",
            data_dir=_xdg(environ, "XDG_DATA_HOME", home, ".local/share") / "ssh-alert",
        )

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.ini"

    @property
    def login_log(self) -> Path:
        """Where the login hook appends one line per login."""
        return self.state_dir / "logins.log"

    @property
    def store_file(self) -> Path:
        """Everything check remembers: log position, outbox, sources, history (SQLite)."""
        return self.state_dir / "store.db"

    @property
    def state_file(self) -> Path:
        """The previous release's state (imported into the store once)."""
        return self.state_dir / "state.json"

    @property
    def hook_wait_file(self) -> Path:
        """hook_wait from the config, where the hook reads it without starting Python."""
        return self.state_dir / "hook_wait"

    @property
    def record_command_file(self) -> Path:
        """Present while record_command = yes: the bash hooks then record the requested command."""
        return self.state_dir / "record_command"

    @property
    def waited_file(self) -> Path:
        """Connections a hook has waited for (appended by the hook): their later hooks do not wait again."""
        return self.state_dir / "waited"

    @property
    def lock_file(self) -> Path:
        return self.state_dir / "check.lock"

    @property
    def oplog_file(self) -> Path:
        """The operational log: what check did and why it failed (the hook's stderr goes nowhere)."""
        return self.state_dir / "ssh_alert.log"

    @property
    def history_file(self) -> Path:
        """Every login check processed, emailed or not (JSON lines)."""
        return self.state_dir / "history.jsonl"

    @property
    def sources_file(self) -> Path:
        """Which source IPs each user has logged in from, with first and last seen."""
        return self.state_dir / "sources.json"

    @property
    def secrets_file(self) -> Path:
        """The file-backend keyring used where no OS keyring exists."""
        return self.data_dir / "secrets.json"

    @property
    def authorized_keys(self) -> Path:
        return self.home / ".ssh" / "authorized_keys"

    @property
    def legacy_config(self) -> Path:
        return self.home / ".ssh_login_monitor.conf"

    @property
    def legacy_log(self) -> Path:
        return self.home / ".ssh_logins"

    @property
    def legacy_state(self) -> Path:
        return self.home / ".ssh_login_monitor.state"
