"""Tamper and key-change detection for the cron run: one call from the stored snapshot to the new one and
what changed (app.watch.keywatch for authorized_keys, app.watch.integrity for ssh_alert's own parts).

The caller stores the returned snapshot (JSON) with the notices it posts for the findings, in one
transaction, and passes it back next time; a snapshot equal to the one passed in needs no write.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from app.watch.findings import OK, Finding, Snapshot, read_small_file, stamped
from app.watch.integrity import Readings, carried, integrity_changes, integrity_snapshot
from app.watch.keywatch import carry_unreadable, key_changes, key_files, snapshot_keys
from app.watch.sshdconf import config_text
from app.install.installplan import load_record, record_path
from app.system import proc
from app.system.paths import Paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional, Tuple

FORMAT = 1
SSHD_TIMEOUT = 3.0
SSHD_CONFIG = Path("/etc/ssh/sshd_config")
SSHD_PLACES = ("/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd")
PYZ_NAME = "ssh_alert.pyz"


def installed(paths: Paths) -> Tuple[Path, Optional[str]]:
    """What install recorded, read once: the pyz it copied (else ~/bin/ssh_alert.pyz) and that pyz's sha256
    (None: an install before it recorded one, or no record)."""
    read = read_small_file(record_path(paths), 1024 * 1024)
    record = (load_record(read.data) if read.state == OK else None) or {}
    named, digest = record.get("pyz"), record.get("pyz_sha256")
    pyz = Path(named) if isinstance(named, str) and os.path.isabs(named) else paths.home / "bin" / PYZ_NAME
    return pyz, digest if isinstance(digest, str) and digest else None


def sshd_text(sshd: Optional[str] = None, config: Path = SSHD_CONFIG, timeout: float = SSHD_TIMEOUT) -> str:
    """Returns `sshd -T` output when sshd runs it for us (usually only as root), else sshd_config's text with
    its readable Include files inlined, else "". Never raises."""
    command = sshd or shutil.which("sshd") or next((place for place in SSHD_PLACES if os.access(place, os.X_OK)), None)
    if command is not None:
        try:
            finished = proc.run([command, "-T"], timeout=timeout)
        except (OSError, proc.TimedOut):
            finished = None
        if finished is not None and finished.returncode == 0 and finished.stdout.strip():
            return finished.stdout.decode("utf-8", "replace")
    return config_text(config)


def _section(previous: Optional[Snapshot], name: str) -> Optional[Snapshot]:
    section = previous.get(name) if isinstance(previous, dict) and previous.get("format") == FORMAT else None
    return section if isinstance(section, dict) else None


def watch(paths: Paths, previous: Optional[Snapshot], readings: Readings, now: float) -> Tuple[Snapshot, List[Finding]]:
    """Takes the stored snapshot (None or {} on the first run), what the cron run read this time (the crontab,
    the installed pyz and the sha256 install recorded for it, the auth methods of the last logins, sshd's
    settings) and the time.

    Returns the new JSON-able snapshot and the findings (none on a first run or a damaged snapshot).
    """
    previous_keys, previous_integrity = _section(previous, "keys"), _section(previous, "integrity")
    files = key_files(paths.home, readings.sshd_text)
    # A file listed before stays watched when sshd's settings cannot be read this time.
    files += [Path(name) for name in ((previous_keys or {}).get("files") or {}) if Path(name) not in files]
    keys = snapshot_keys(files)
    integrity = integrity_snapshot(paths, readings, now)
    findings: List[Finding] = []
    if previous_keys is not None and previous_integrity is not None:
        findings = key_changes(previous_keys, keys, now, str(paths.home)) + integrity_changes(previous_integrity, integrity)
    else:  # a first run: only what install recorded can be compared (the pyz's sha256)
        findings = integrity_changes(None, integrity)
    snapshot = {"format": FORMAT,
                "keys": stamped(previous_keys, carry_unreadable(previous_keys, keys), now),
                "integrity": stamped(previous_integrity, carried(previous_integrity, integrity), now)}
    return snapshot, findings
