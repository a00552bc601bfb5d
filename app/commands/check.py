"""``check``: alert every login appended to the log since the last run, exactly once, in order.

Argument handling only; the run itself is app.check.run, the hook's bounded wait app.check.handoff.
Silent when all is well: the hook and cron run it. app.cli reads the hook's own calls without argparse.
"""

from __future__ import annotations

import os

from app.check.run import CheckResult, run_check
from app.commands.result import Result
from app.system.paths import Paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

__all__ = ["CheckResult", "add_parser", "run", "run_check"]


def add_parser(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser("check", help="alert every login recorded since the last run (login hook, cron)")
    parser.add_argument("--cron", action="store_true",
                        help="also alert this account's SSH connections no hook saw (ssh -N); the cron line uses it")
    parser.add_argument("--hook-wait", metavar="SECONDS",
                        help="the login hook's call: return once this connection's alert has left, or after SECONDS")
    parser.add_argument("--system", action="store_true",
                        help="the system-wide mode's check (root): /etc/ssh-alert, /var/lib/ssh-alert")


def run(paths: Paths, arguments: "argparse.Namespace") -> Result:
    """check (--cron: also alert SSH connections no hook recorded). --hook-wait (from the login hook): fork,
    and let the hook go on once this connection's alert has left, or after that many seconds."""
    if arguments.hook_wait is None:
        run_check(paths, scan_sessions=arguments.cron)
        return Result()
    from app.check.handoff import fork_for_hook, parse_wait

    connection = " ".join(os.environ.get("SSH_CONNECTION", "").split() + os.environ.get("SSH_ALERT_SPID", "").split())
    handoff = fork_for_hook(parse_wait(arguments.hook_wait), connection)
    try:
        run_check(paths, scan_sessions=arguments.cron, handoff=handoff)
    finally:
        handoff.settle()
    return Result()
