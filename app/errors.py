"""The one user-facing error type, its exit codes, and the message texts tests import."""

import enum


class ExitCode(enum.IntEnum):
    """Exit codes every command uses."""

    OK = 0
    DELIVERY_FAILED = 1  # alerts stay pending; the next check retries
    USAGE = 2  # bad command line, bad configuration, unusable file
    INTERNAL = 3  # a bug: the traceback goes to the operational log, not to the terminal


class UserError(Exception):
    """A problem the user can fix; the CLI prints it on one line (per problem) and exits."""

    def __init__(self, message: str, exit_code: ExitCode = ExitCode.USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


# Message texts: the tests import these, so wording changes in one place.
NO_CONFIG = "no configuration at {path}; run: ssh_alert.pyz setup"
CONFIG_UNREADABLE = "cannot read {path}: {reason}"
CONFIG_SYNTAX = "{path}: not a valid INI file ({reason}); fix the file or re-run: ssh_alert.pyz setup"
CONFIG_PROBLEM = "{path}: [{section}] {key}: {problem}"
SECRETS_TOO_OPEN = (
    "{path} is readable by group or others (mode {mode:04o}); ssh_alert will not use it: run chmod 600 {path}"
)
SECRETS_NOT_OWNED = "{path} belongs to another user (uid {uid}); ssh_alert will not use it: remove it and re-run setup"
SECRETS_UNREADABLE = "cannot read the password file {path}: {reason}"
PASSWORD_MISSING = (
    "no SMTP password for {user} in the {backend}; run: ssh_alert.pyz setup (or set password_command in {path})"
)
PASSWORD_COMMAND_FAILED = "password_command in {path} failed: {reason}"
KEYRING_TIMEOUT = "the system keyring did not answer within {seconds:g} s (locked?); set password_store = file in {path}"
LOCK_TIMEOUT = "another check has held {path} for {seconds:g} s; alerts stay pending and the next check retries"
LOG_UNREADABLE = "cannot read the login log {path}: {reason}; alerts stay pending: fix its permissions (chmod 600)"
STATE_UNWRITABLE = "cannot write {path}: {reason}; alerts stay pending: check the directory's permissions and free space"
DELIVERY_FAILED = "delivery failed: {reason}; {pending} alert(s) stay pending and the next check retries"
STATE_PROBLEM_NOTICE = "state file {path} was unusable ({reason}); re-seeded at the end of the login log"
INTERNAL_ERROR = "internal error ({kind}: {detail}); the traceback is in {path}"
SEEDED = "first run: {count} earlier login(s) in {path} skipped; alerts start with the next login"
