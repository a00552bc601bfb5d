"""What every command returns: the CLI prints its lines, or its data as JSON with --json, and exits with its code."""

from __future__ import annotations

from app.errors import ExitCode
from app.system.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Sequence, Tuple


class Result(Record):
    """One command's outcome. Errors are not results: they are raised as UserError."""

    lines: Sequence[str] = ()  # the text output, one line each (stdout)
    exit_code: int = ExitCode.OK
    data: Any = None  # what --json prints (the same facts as lines); None for a command without --json


OK, WARN, FAIL = "ok", "warn", "fail"


class Check(Record):
    """One line of ``status``: what was checked, OK, WARN or FAIL, and the detail (with what to do)."""

    name: str
    status: str  # ok | warn | fail
    detail: str


class TestResult(Record):
    """What `test` found, by email or through one channel."""

    delivered: bool
    route: str
    recipients: Tuple[str, ...]  # () for a channel
    reason: str  # why it failed, with advice; "" when delivered
