"""The last check run's outcome, kept outside the store so that status tells the truth when the store could not
record it (full disk, unusable store, a FIFO where the log should be, a crash).

One small 0600 file, ``check.outcome`` in the state directory: a JSON record padded to OUTCOME_BYTES, rewritten in
place with one pwrite (no new disk block after the first write, like the lock file's accepted mark). A check
writes it when it fails, and when it succeeds after a failure (or the file is missing): a quiet run costs one read.
``run_lines`` merges it with the store's ``runs`` table into what status shows.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from app.store.rows import Run
from app.system.files import open_regular
from app.system.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Sequence, Tuple

OUTCOME_NAME = "check.outcome"
OUTCOME_BYTES = 512
REASON_CHARS = 400
CHECK = "check"
RUN_FAILED = "{when}: {kind} failed: {reason}"
RESOLVED = "{when}: {message} (since resolved)"
NOT_RESOLVED = "{when}: {message} (no check has succeeded since)"


class Outcome(Record):
    ok: Optional[float]  # the last success recorded (after a failure, or when the file was made)
    failed: Optional[float]  # the last failure
    reason: str


def outcome_path(state_dir: Path) -> Path:
    return state_dir / OUTCOME_NAME


def read_outcome(state_dir: Path) -> Optional[Outcome]:
    """The recorded outcome, or None when there is none (or it is unreadable: never blocks on a FIFO)."""
    try:
        descriptor = open_regular(outcome_path(state_dir), os.O_RDONLY)
    except OSError:
        return None
    try:
        data = os.read(descriptor, OUTCOME_BYTES)
    except OSError:
        return None
    finally:
        os.close(descriptor)
    try:
        found = json.loads(data.decode("utf-8", "replace").strip(" \0\n") or "null")
        return Outcome(_number(found.get("ok")), _number(found.get("failed")), str(found.get("reason") or ""))
    except (ValueError, AttributeError):
        return None


def _number(value: object) -> Optional[float]:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def note_outcome(state_dir: Path, reason: Optional[str], log_file: Optional[Path] = None,
                 now: Optional[float] = None) -> None:
    """Record that a check succeeded (reason None) or failed; never raises. A success is written only when the
    file is missing, says the last run failed, or the operational log (log_file) changed since the last success
    (status then knows the run that logged an error succeeded); never into a state directory that is not ours."""
    try:
        status = os.lstat(str(state_dir))
        if status.st_uid != os.geteuid() or status.st_mode & 0o022 or not os.path.isdir(str(state_dir)):
            return
        previous = read_outcome(state_dir)
        now = time.time() if now is None else now
        if reason is None:
            if previous is not None and (previous.failed is None or (previous.ok or 0) >= previous.failed) and \
                    not _changed_since(log_file, previous.ok or 0):
                return  # still a success: nothing to write on a login's path
            record = {"ok": now, "failed": previous.failed if previous else None,
                      "reason": previous.reason if previous else ""}
        else:
            record = {"ok": previous.ok if previous else None, "failed": now, "reason": reason[:REASON_CHARS]}
        data = _encoded(record)
        descriptor = open_regular(outcome_path(state_dir), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            os.pwrite(descriptor, data.ljust(OUTCOME_BYTES, b" "), 0)
        finally:
            os.close(descriptor)
    except (OSError, ValueError):
        pass  # status then says what the store says; the error itself is in the operational log


def _encoded(record: Dict[str, Any]) -> bytes:
    """record as ASCII JSON of at most OUTCOME_BYTES: its reason shortened until it fits, since escapes (non-ASCII,
    quotes, control characters) can make 400 characters several times as many bytes, and a record cut short
    would read as none (status would lose the failure)."""
    while True:
        data = json.dumps(record, ensure_ascii=True).encode("ascii")
        if len(data) <= OUTCOME_BYTES or not record["reason"]:
            return data  # an empty reason always fits (two times and the keys)
        record = dict(record, reason=record["reason"][:-1])


def _changed_since(path: Optional[Path], epoch: float) -> bool:
    try:
        return path is not None and os.stat(str(path)).st_mtime >= epoch
    except OSError:
        return False


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(epoch))


def _logged_epoch(text: str) -> Optional[float]:
    import datetime

    try:
        return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z").timestamp()
    except ValueError:
        return None


def run_lines(runs: Sequence[Run], outcome: Optional[Outcome], logged: Optional[Tuple[str, str]]) -> List[Tuple[str, str]]:
    """("fail" | "ok" | "warn", detail) lines of "last error", from the store's runs (kind, ok, failed, reason), the
    outcome file and the operational log's last error (time text, message). A kind whose newest outcome is a
    failure is FAIL; "since resolved" only when a check succeeded after the logged error (pure)."""
    lines: List[Tuple[str, str]] = []
    check_ok = max([ok for kind, ok, _, _ in runs if kind == CHECK and ok] + [outcome.ok if outcome and outcome.ok
                                                                               else 0.0])
    failures = [(failed, kind, reason or "?") for kind, _, failed, reason in runs if failed]
    if outcome is not None and outcome.failed:
        failures.append((outcome.failed, CHECK, outcome.reason or "?"))
    newest = {}  # kind -> (failed, reason): one line per kind, the newest failure
    for failed, kind, reason in sorted(failures):
        newest[kind] = (failed, reason)
    for kind, (failed, reason) in sorted(newest.items(), key=lambda item: item[1][0]):
        if kind != CHECK or failed > check_ok:
            lines.append(("fail", RUN_FAILED.format(when=_when(failed), kind=kind, reason=reason)))
    if lines or logged is None:
        return lines
    when, message = logged
    logged_at = _logged_epoch(when)
    if check_ok and logged_at is not None and check_ok >= logged_at:
        return [("ok", RESOLVED.format(when=when, message=message))]
    return [("warn", NOT_RESOLVED.format(when=when, message=message))]
