"""``setup``: the guided configuration. Recipients, delivery, password, a connection test, then the first check.

Everything is asked (setup_dialog) or taken from flags (setup_flags) and the connection tested before
anything is written, so Ctrl-C or a failed test leaves the previous configuration as it was; then
setup_apply stores, writes, migrates, sends the test alert and runs the first check.
"""

from __future__ import annotations

import argparse
import os
import sys

from app.commands.prompt import Prompter, terminal_prompter
from app.commands.result import Result
from app.commands.setup_answers import Answers, Plan, complete_smtp, merge, passed_line, probe_advice
from app.commands.setup_apply import (CONFIG_WRITTEN, HOOK_WAIT_CHOSEN, LEGACY_LOG_SKIPPED, LEGACY_PASSWORD_MOVED,
                                      SUGGEST_INSTALL, apply)
from app.commands.setup_dialog import (AFTER_FAILURE_CHOICES, ASK_AFTER_FAILURE, ASK_CA_FILE, ASK_FROM, ASK_HOST,
                                       ASK_KEEP_ADDRESS, ASK_METHOD, ASK_PORT, ASK_SECURITY, ASK_SENDMAIL,
                                       ASK_TEST_EMAIL, ASK_TO, ASK_USER, SMTP_ONLY, PushOnly, ask,
                                       host_names_line)
from app.commands.setup_flags import (LEGACY_NOT_IMPORTED, MISSING_FLAG, PASSWORD_FLAGS, add_arguments,
                                      plan_from_flags)
from app.commands.setup_mail import (ASK_ARRIVED, CHECK_FAILED, LOCAL_ONLY_WARNING, NOT_ARRIVED, PENDING_SENT,
                                     SEEDED_LINE, TEST_NOT_SENT, local_only_problem)
from app.commands.test import NOT_SENT as TEST_FAILED, SENT as TEST_SENT
from app.install.hookstate import installed as hooks_installed
from app.errors import ExitCode, UserError
from app.install.legacy import find_legacy
from app.system.paths import Paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

__all__ = [  # the names tests import from here, wherever they live
    "AFTER_FAILURE_CHOICES", "ASK_AFTER_FAILURE", "ASK_ARRIVED", "ASK_CHANNEL", "ASK_PUSH_CHANNEL",
    "ASK_CA_FILE", "ASK_FROM", "ASK_HOST",
    "ASK_KEEP_ADDRESS", "ASK_METHOD", "ASK_PORT", "ASK_SECURITY", "ASK_SENDMAIL", "ASK_TEST_EMAIL", "ASK_TO",
    "ASK_USER", "Answers", "CHECK_FAILED", "CONFIG_WRITTEN", "HOOK_WAIT_CHOSEN", "LEGACY_LOG_SKIPPED",
    "LEGACY_NOT_IMPORTED", "LEGACY_PASSWORD_MOVED", "LOCAL_ONLY_WARNING", "MISSING_FLAG", "NEEDS_TERMINAL",
    "NOT_ARRIVED", "PASSWORD_FLAGS", "PENDING_SENT", "PROBE_FAILED", "SEEDED_LINE", "SMTP_ONLY", "STOPPED",
    "SUGGEST_INSTALL", "TEST_FAILED", "TEST_NOT_SENT", "TEST_SENT", "add_parser", "complete_smtp", "hooks_installed",
    "host_names_line", "merge", "run", "setup"]

NEEDS_TERMINAL = ("setup needs a terminal to ask its questions; without one, run: ssh_alert.pyz setup "
                  "--non-interactive --to ADDR --from ADDR --method sendmail|smtp (see setup --help)")
PROBE_FAILED = "connection test failed: {advice}; nothing was saved (--save-anyway saves it all the same)"
SAVED_ANYWAY = "warning: saved although the connection test failed (--save-anyway): {advice}"
STOPPED = "Setup stopped; nothing was saved."
SYSTEM_NEEDS_ROOT = "setup --system writes /etc/ssh-alert/config.ini: run it as root"


def add_parser(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    from app.commands.setup_channel import add_arguments as add_channel_arguments

    parser = subparsers.add_parser("setup", help="guided configuration: recipients, delivery, password, first check",
                                   usage="%(prog)s [--non-interactive] [OPTION ...]\n"
                                         "       %(prog)s --channel NAME [--NAME-KEY VALUE ...] [--SECRET-stdin]")
    add_arguments(parser)
    parser.add_argument("--system", action="store_true", help="root: configure the system-wide mode (/etc/ssh-alert/config.ini)")
    add_channel_arguments(parser)


def run(paths: Paths, arguments: argparse.Namespace) -> Result:
    """setup, asking at a terminal."""
    return setup(paths, arguments, terminal_prompter())


def setup(paths: Paths, arguments: argparse.Namespace, prompter: Optional[Prompter]) -> Result:
    """Run setup; returns the lines to print and the exit code (1 when it stopped or its test failed).

    Raises UserError: exit 2 for missing or invalid answers without a terminal, exit 1 when the
    connection test fails non-interactively (nothing is saved then).
    """
    if paths.system and os.geteuid() != 0:
        raise UserError(SYSTEM_NEEDS_ROOT)
    from app.system.files import require_private_dir

    require_private_dir(paths.state_dir)  # setup writes hook_wait and seeds the store there: ours alone
    if getattr(arguments, "channel", None):
        from app.commands.setup_channel import setup_channel

        return setup_channel(paths, arguments, prompter)
    legacy = find_legacy(paths)
    dry_run = getattr(arguments, "dry_run", False)
    if arguments.non_interactive:
        plan = plan_from_flags(paths, arguments, legacy, sys.stdin)
        if not dry_run:
            plan = _tested(paths, plan, arguments.save_anyway)
    elif prompter is None:
        raise UserError(NEEDS_TERMINAL)
    else:
        try:
            asked = ask(paths, arguments, prompter, legacy)
        except EOFError:  # Ctrl-D at a question
            asked = None
        except PushOnly:
            return _push_only(paths, arguments, prompter)
        if asked is None:
            return Result([STOPPED], ExitCode.NOT_DONE)
        plan = asked
    result = apply(paths, plan, None if arguments.non_interactive or arguments.yes else prompter, dry_run)
    if prompter is not None and not arguments.non_interactive and not arguments.yes and not dry_run \
            and result.exit_code == ExitCode.OK:
        result = _offer_channel(paths, arguments, prompter, result)
    return result


def _tested(paths: Paths, plan: Plan, save_anyway: bool) -> Plan:
    """The plan after its connection test (smtp) or the local-only check (sendmail); raises UserError (exit 1,
    nothing saved) when it failed, unless save_anyway, which saves it with the failure as a note."""
    advice = None
    if plan.config.method == "smtp":
        advice = probe_advice(plan.config, plan.password, paths)
        if advice is None:
            return plan._replace(notes=plan.notes + (passed_line(plan.config),))
    else:
        advice = local_only_problem(plan.config)
    if advice is None:
        return plan
    if not save_anyway:
        raise UserError("\n".join(plan.notes + (PROBE_FAILED.format(advice=advice),)), ExitCode.NOT_DONE)
    return plan._replace(notes=plan.notes + (SAVED_ANYWAY.format(advice=advice),), send_test=False)


ASK_PUSH_CHANNEL = "Push alerts to which channel"


def _push_only(paths: Paths, arguments: argparse.Namespace, prompter: Prompter) -> Result:
    """No email: one push channel, guided, becomes the only place alerts go."""
    from app.commands.setup_channel import setup_channel
    from app.settings.schema import PUSH_CHANNELS

    arguments.channel = prompter.choose(ASK_PUSH_CHANNEL, PUSH_CHANNELS, PUSH_CHANNELS[0])
    return setup_channel(paths, arguments, prompter, only=True)


ASK_CHANNEL = "Also push alerts to your phone or chat? (none, or one of the channels)"
CHANNELS_KEPT = "Alerts also go to: {channels} (kept; answer with one of them to change its settings)."


def _offer_channel(paths: Paths, arguments: argparse.Namespace, prompter: Prompter, result: Result) -> Result:
    """After email works: offer one push channel, guided (setup --channel NAME adds more later)."""
    from app.commands.setup_channel import setup_channel
    from app.settings.schema import PUSH_CHANNELS

    from app.settings.config import load_config

    try:
        current = [name for name in load_config(paths.config_file).channels if name in PUSH_CHANNELS]
    except UserError:
        current = []
    if current:
        prompter.say(CHANNELS_KEPT.format(channels=", ".join(current)))
    choice = prompter.choose(ASK_CHANNEL, ("none",) + PUSH_CHANNELS, "none")
    if choice == "none":
        return result
    arguments.channel = choice
    try:
        added = setup_channel(paths, arguments, prompter)
    except UserError as error:
        return Result(list(result.lines) + [error.message], result.exit_code, result.data)
    return Result(list(result.lines) + list(added.lines), result.exit_code, result.data)
