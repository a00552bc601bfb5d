"""``check``: alert every login appended to the log since the last run, exactly once, in order.

Argument handling only; the run itself is app.alerting.run.
"""

from app.alerting.run import CheckResult, run_check
from app.paths import Paths

__all__ = ["CheckResult", "run", "run_check"]


def run(paths: Paths, cron: bool) -> CheckResult:
    """check (from the hook) or check --cron (also alert SSH connections no hook recorded)."""
    return run_check(paths, scan_sessions=cron)
