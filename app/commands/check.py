"""``check``: alert every login appended to the log since the last run, exactly once, in order.

Argument handling only; the run itself is app.alerting.run, the hook's bounded wait app.alerting.handoff.
"""

import os
from typing import Optional

from app.alerting.run import CheckResult, run_check
from app.system.paths import Paths

__all__ = ["CheckResult", "run", "run_check"]


def run(paths: Paths, cron: bool, hook_wait: Optional[str] = None) -> CheckResult:
    """check (cron: also alert SSH connections no hook recorded). hook_wait (from the login hook): fork,
    and let the hook go on once this connection's alert has left, or after that many seconds."""
    if hook_wait is None:
        return run_check(paths, scan_sessions=cron)
    from app.alerting.handoff import fork_for_hook, parse_wait

    connection = " ".join(os.environ.get("SSH_CONNECTION", "").split() + os.environ.get("SSH_ALERT_SPID", "").split())
    handoff = fork_for_hook(parse_wait(hook_wait), connection)
    try:
        return run_check(paths, scan_sessions=cron, handoff=handoff)
    finally:
        handoff.settle()
