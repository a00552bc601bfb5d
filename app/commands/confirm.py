"""The flow install and uninstall share: list the changes, then stop (--dry-run), ask at a terminal, or apply them.

The plan itself and the one function per effect are app.install.installplan's; this module only decides,
from the flags and whether a terminal can answer, what happens to it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from app.commands.prompt import Prompter
from app.commands.result import Result
from app.errors import ExitCode, UserError
from app.install.installplan import Plan, apply_plan, describe_plan

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

NEEDS_YES = ("{command} changes your login files and crontab and there is no terminal to confirm: "
             "re-run with --yes (or --dry-run to see the changes first)")
NOTHING_TO_DO = "nothing to change"
DRY_RUN_DONE = "dry run: nothing was changed"
CANCELLED = "cancelled: nothing was changed"
CONFIRM = "Make these changes?"
CANCELLED_EXIT = ExitCode.NOT_DONE  # 0 would tell a calling script that it was done


def add_confirm_flags(parser: argparse.ArgumentParser) -> None:
    """--yes and --dry-run, which carry_out and refuse_without_terminal read."""
    parser.add_argument("--yes", action="store_true", help="do it without asking (needed without a terminal)")
    parser.add_argument("--dry-run", action="store_true", help="print each planned change and touch nothing")


def carry_out(plan: Plan, command: str, home: Path, arguments: argparse.Namespace, prompter: Optional[Prompter],
              done: str) -> Result:
    """List the plan; then, as --yes, --dry-run and the terminal say, stop, ask, or apply it."""
    listing = describe_plan(plan, home)
    notes = list(plan.notes)
    if not plan.steps:
        return Result(notes + [NOTHING_TO_DO])
    if arguments.dry_run:
        return Result(["{} would make these changes:".format(command)] + listing + notes + [DRY_RUN_DONE])
    if not arguments.yes:
        if prompter is None:
            raise UserError(NEEDS_YES.format(command=command))
        for line in ["{} will make these changes:".format(command)] + listing + notes:
            prompter.say(line)
        if not prompter.confirm(CONFIRM):
            return Result([CANCELLED], CANCELLED_EXIT)
        apply_plan(plan, command, home)
        return Result([done])
    apply_plan(plan, command, home)
    return Result(["{} made these changes:".format(command)] + listing + notes + [done])


def refuse_without_terminal(command: str, arguments: argparse.Namespace, prompter: Optional[Prompter]) -> None:
    """Raise UserError (exit 2) before any work when nobody can confirm and neither --yes nor --dry-run was given."""
    if not (arguments.yes or arguments.dry_run or prompter is not None):
        raise UserError(NEEDS_YES.format(command=command))
