"""Migration from the original script: its config, its login log and its state, read in exactly their formats.

* ``~/.ssh_login_monitor.conf``: INI, ``[alert] to, from, method = sendmail|smtp`` and
  ``[smtp] host, port, user, password, starttls = yes|no, ssl = yes|no``.
* ``~/.ssh_logins``: one line per login, ``YYYY-MM-DD HH:MM:SS +ZZZZ IP USER AUTH`` (our log's first six fields).
* ``~/.ssh_login_monitor.state``: one integer, the number of log lines already alerted.

The pure functions build the import (settings, log content, start offset); ``import_log`` and
``remove_password`` perform it.
"""

from __future__ import annotations

import configparser
from pathlib import Path

from app.settings.config import split_addresses
from app.system.files import ensure_private_dir, exclusive_lock, replace_keeping_mode, write_private
from app.logins.loginlog import position_at
from app.system.paths import Paths
from app.store.store import opened
from app.system.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Tuple

LOCK_WAIT = 30.0

STATE_MISSING = "warning: {state} does not exist: treating all {total} login(s) in {log} as already alerted"
STATE_UNREADABLE = "warning: {state} is unreadable ({reason}): treating all {total} login(s) in {log} as already " \
                   "alerted (history is never replayed)"
STATE_TOO_LARGE = "warning: {state} says {count} line(s) were alerted but {log} has only {total}: treating all " \
                  "as already alerted (history is never replayed)"
CONFIG_UNREADABLE = "warning: cannot read {path} ({reason}); its settings are not imported"


class LegacyFiles(Record):
    """Which of the original script's files exist (None: absent)."""

    config: Optional[Path]
    log: Optional[Path]
    state: Optional[Path]

    @property
    def found(self) -> bool:
        return any(self)

    def names(self) -> List[str]:
        return [str(path) for path in self if path is not None]


class LegacySettings(Record):
    """The original config's values; empty strings (or None) where it said nothing."""

    recipients: Tuple[str, ...] = ()
    sender: str = ""
    method: str = ""
    host: str = ""
    port: Optional[int] = None
    security: str = ""
    user: str = ""
    password: str = ""


class LogImport(Record):
    """What to write as our login log so that exactly the not yet alerted legacy lines are pending."""

    data: bytes  # the legacy log's non-blank lines, each newline-terminated
    offset: int  # byte offset in data just after the lines the original script already alerted
    total: int  # lines copied
    pending: int  # lines after offset: the first check alerts these
    warning: str  # "" or one line explaining why the state was not used as it is
    raw_lines: int  # lines in the legacy log as its script counts them (blank ones too)


def find_legacy(paths: Paths) -> LegacyFiles:
    """Return which of the original script's files exist under paths.home."""
    def existing(path: Path) -> Optional[Path]:
        return path if path.is_file() else None

    return LegacyFiles(existing(paths.legacy_config), existing(paths.legacy_log), existing(paths.legacy_state))


def parse_legacy_config(text: str) -> LegacySettings:
    """Read the original config's INI text (pure); unknown keys are ignored. Raises configparser.Error."""
    parser = configparser.ConfigParser(interpolation=None, default_section="__no_defaults__")
    parser.read_string(text)

    def get(section: str, key: str) -> str:
        return parser.get(section, key, fallback="").strip()

    port_text = get("smtp", "port")
    port = int(port_text) if port_text.isdigit() and 0 < int(port_text) < 65536 else None
    method = get("alert", "method").lower()
    return LegacySettings(
        recipients=split_addresses(get("alert", "to")), sender=get("alert", "from"),
        method=method if method in ("sendmail", "smtp") else "", host=get("smtp", "host"), port=port,
        security=legacy_security(get("smtp", "ssl"), get("smtp", "starttls"), port),
        user=get("smtp", "user"), password=get("smtp", "password"))


def legacy_security(ssl: str, starttls: str, port: Optional[int]) -> str:
    """The security mode the original ``ssl =`` / ``starttls =`` flags meant ("" when they say nothing)."""
    from configparser import ConfigParser

    from app.settings.schema import complete_port_security, security_from_flags

    states = ConfigParser.BOOLEAN_STATES
    return security_from_flags(states.get(ssl.lower()), states.get(starttls.lower())) or (
        complete_port_security(port, "")[1] if port is not None else "")


def read_legacy_config(path: Path) -> Tuple[LegacySettings, str]:
    """Return the original config's settings and a warning line ("" when it was read)."""
    try:
        return parse_legacy_config(path.read_text(encoding="utf-8")), ""
    except (OSError, UnicodeDecodeError, configparser.Error) as error:
        reason = getattr(error, "strerror", None) or " ".join(str(error).split())[:120]
        return LegacySettings(), CONFIG_UNREADABLE.format(path=path, reason=reason)


def plan_log_import(log: bytes, state_text: Optional[str], log_name: str = "~/.ssh_logins",
                    state_name: str = "~/.ssh_login_monitor.state", state_error: str = "") -> LogImport:
    """Build our login log from the legacy log and state (pure).

    state_text: the legacy state file's content, None when it does not exist. A missing, unreadable or
    too large count means "all alerted", with a warning: old logins are never alerted again.
    state_error: why the state file could not be read ("" when it was).
    """
    raw_lines = log.split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()  # the newline ending the last line, not an empty line
    total_raw = len(raw_lines)
    template = ""
    details: Dict[str, object] = {}
    if state_error:
        alerted, template, details["reason"] = total_raw, STATE_UNREADABLE, state_error
    elif state_text is None:
        alerted, template = total_raw, STATE_MISSING
    else:
        try:
            alerted = int(state_text.strip())
            if alerted < 0:
                raise ValueError
        except ValueError:
            alerted, template = total_raw, STATE_UNREADABLE
            details["reason"] = "not a line count: {!r}".format(state_text.strip()[:40])
        else:
            if alerted > total_raw:
                template, details["count"] = STATE_TOO_LARGE, alerted
                alerted = total_raw
    kept = [(index, line.rstrip(b"\r")) for index, line in enumerate(raw_lines) if line.strip()]
    data = b"".join(line + b"\n" for _, line in kept)
    offset = sum(len(line) + 1 for index, line in kept if index < alerted)
    pending = sum(1 for index, _ in kept if index >= alerted)
    warning = template.format(state=state_name, total=len(kept), log=log_name, **details) if template else ""
    return LogImport(data, offset, len(kept), pending, warning, total_raw)


def read_log_import(files: LegacyFiles, paths: Paths) -> LogImport:
    """Read the legacy log and state and plan the import; raises OSError when the log is unreadable."""
    assert files.log is not None
    log = files.log.read_bytes()
    state_text: Optional[str] = None
    state_error = ""
    if files.state is not None:
        try:
            state_text = files.state.read_text(encoding="utf-8", errors="replace")
        except OSError as error:
            state_error = error.strerror or str(error)
    return plan_log_import(log, state_text, str(files.log), str(paths.legacy_state), state_error)


def log_import_blocker(paths: Paths) -> str:
    """Why the legacy log cannot be imported now ("" when it can): only into a fresh ssh_alert log and state."""
    for state in (paths.store_file, paths.state_file):
        if state.exists():
            return "{} already exists (ssh_alert has been tracking logins), so the original log is not " \
                   "imported again".format(state)
    try:
        size = paths.login_log.stat().st_size
    except FileNotFoundError:
        size = 0
    if size:
        return "{} already holds logins recorded by ssh_alert's hook; the original log is not merged into " \
               "it".format(paths.login_log)
    return ""


def import_log(paths: Paths, plan: LogImport) -> bool:
    """Write our login log and a state positioned after the already alerted lines, under check's lock.

    Returns False (nothing written) when a state appeared meanwhile. Raises OSError.
    """
    with exclusive_lock(paths.lock_file, LOCK_WAIT):
        if log_import_blocker(paths):
            return False
        write_private(paths.login_log, plan.data)
        with open(str(paths.login_log), "rb") as handle:
            position = position_at(handle, plan.offset)
        with opened(paths.store_file) as store, store.transaction():
            store.set_position(position)
    return True


def write_legacy_state(path: Path, count: int) -> None:
    """Set the original script's state to count lines alerted, atomically, keeping the file's mode."""
    ensure_private_dir(path.parent)
    replace_keeping_mode(path, "{}\n".format(count).encode("ascii"))


def without_password(text: str) -> str:
    """The legacy config text minus the ``password`` line of [smtp] (and its continuation lines); pure."""
    kept: List[str] = []
    section, skipping = "", False
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if skipping and line[:1] in (" ", "\t") and stripped:
            continue  # a continuation of the password value
        skipping = False
        if stripped.startswith("[") and "]" in stripped:
            section = stripped[1:stripped.index("]")].strip()
        elif section == "smtp" and not stripped.startswith(("#", ";")):
            key = stripped.split("=", 1)[0].split(":", 1)[0].strip().lower()
            if key == "password" and ("=" in stripped or ":" in stripped):
                skipping = True
                continue
        kept.append(line)
    return "".join(kept)


def remove_password(path: Path) -> None:
    """Rewrite path atomically without its plaintext password, keeping its mode; raises OSError."""
    replace_keeping_mode(path, without_password(path.read_text(encoding="utf-8")).encode("utf-8"))
