"""setup, once the config is saved: the test email, whether it arrived, and the first check.

A test email counts as delivered only when it can arrive: a sendmail that is Debian's local-only exim4
accepts it, then fails it and freezes the bounce in its queue, so it is not sent and setup says why. At a terminal,
setup asks whether the test email arrived and, if not, where bounces go.
"""

from __future__ import annotations

import os

from app.settings.config import Config
from app.errors import UserError
from app.system.paths import Paths
from app.commands.prompt import Prompter
from app.commands.test import NOT_SENT as TEST_FAILED, SENT as TEST_SENT

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional, Sequence, Tuple

TEST_NOT_SENT = "Test alert NOT sent: {problem}"
LOCAL_ONLY_WARNING = "warning: {problem}"
ASK_ARRIVED = "Did the test email arrive at {recipients} (look in the spam folder too)"
NOT_ARRIVED = ("Not arrived: a bounce goes to the from address (or, where the local MTA cannot deliver it, stays "
               "frozen in its queue: mailq as root; a local one lands in /var/mail/{user}), and the mail server's "
               "log may say why; after a fix, send another with: ssh_alert.pyz test")
SEEDED_LINE = ("First check: {count} earlier login(s) in {path} counted as seen; alerts start with the next "
               "login.")
PENDING_SENT = "First check: sent {count} alert(s) for logins not alerted before."
CHECK_FAILED = "First check failed: {reason}"
NO_RESERVE = ("warning: the disk holding {path} has too little free space for the store's reserve (about 1 MiB), "
              "which lets alerts still be recorded when the disk fills up; free some space, then run "
              "ssh_alert.pyz check")


def local_only_problem(config: Config) -> Optional[str]:
    """Why mail to the recipients would bounce locally (Debian's local-only exim4), else None."""
    if config.method != "sendmail" or not config.sendmail_path:
        return None
    from app.settings.mta import local_only_problem as exim_problem

    return exim_problem(config.sendmail_path, config.recipients)


def account_name() -> str:
    """This account's name, for its mailbox /var/mail/NAME."""
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return os.environ.get("USER") or os.environ.get("LOGNAME") or "$USER"


def test_email(paths: Paths, config: Config, prompter: Optional[Prompter]) -> Tuple[List[str], bool]:
    """Send the test alert unless it would bounce; at a terminal (prompter), ask whether it arrived.

    Returns the lines still to print and whether the test counts as delivered. With a prompter, the test's
    line is shown before the question (the caller shows its earlier lines first).
    """
    problem = local_only_problem(config)
    if problem is not None:
        return [TEST_NOT_SENT.format(problem=problem)], False
    line, delivered = send_test(paths)
    if not delivered or prompter is None:
        return [line], delivered
    prompter.say(line)
    if prompter.confirm(ASK_ARRIVED.format(recipients=", ".join(config.recipients)), True):
        return [], True
    return [NOT_ARRIVED.format(user=account_name())], False


def send_test(paths: Paths) -> Tuple[str, bool]:
    """Send the test alert exactly as ``ssh_alert.pyz test`` does."""
    from app.commands.test import run_test  # sends nothing until called; imports the delivery code

    try:
        result = run_test(paths)
    except UserError as error:
        return TEST_FAILED.format(route="the configured delivery", reason=error.message), False
    if result.delivered:
        return TEST_SENT.format(recipients=", ".join(result.recipients), route=result.route), True
    return TEST_FAILED.format(route=result.route, reason=result.reason), False


def first_check(paths: Paths) -> Tuple[str, bool]:
    """Run check once: it seeds on a first run, or alerts what the original script left pending."""
    from app.commands.check import run_check

    try:
        result = run_check(paths)
    except UserError as error:
        return CHECK_FAILED.format(reason=error.message), False
    warning = "\n" + NO_RESERVE.format(path=paths.store_file) if result.no_reserve else ""
    if result.seeded is not None:
        return SEEDED_LINE.format(count=result.seeded, path=paths.login_log) + warning, True
    return PENDING_SENT.format(count=result.sent) + warning, True


def say_all(prompter: Prompter, lines: Sequence[str]) -> None:
    for line in lines:
        prompter.say(line)
