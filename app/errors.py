"""The one user-facing error type, its exit codes, and the message texts tests import."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Exit codes every command uses."""

    OK = 0  # done (check: nothing to do, or all sent)
    NOT_DONE = 1  # not done: alerts still pending, status unhealthy, a test not sent or not arrived, a "no"
    DELIVERY_FAILED = 1  # alias of NOT_DONE for check's failed delivery (the alerts stay pending; next check retries)
    USAGE = 2  # bad command line, bad configuration, unusable file
    INTERNAL = 3  # a bug: the traceback goes to the operational log, not to the terminal
    INTERRUPTED = 130  # Ctrl-C, as a shell reports SIGINT


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
UNKNOWN_KEY = "unknown key{hint}; remove it or fix its name (ssh_alert.pyz help configuration lists every key)"
UNKNOWN_SECTION = ("{path}: unknown section [{section}]{hint}; remove it or fix its name (ssh_alert.pyz help "
                   "configuration lists every section)")
SECRETS_TOO_OPEN = (
    "{path} is readable by group or others (mode {mode:04o}); ssh_alert will not use it: run chmod 600 {path}"
)
SECRETS_NOT_OWNED = "{path} belongs to another user (uid {uid}); ssh_alert will not use it: remove it and re-run setup"
SECRETS_UNREADABLE = "cannot read the password file {path}: {reason}"
PASSWORD_MISSING = (
    "no SMTP password for {user} in the {backend}; run: ssh_alert.pyz setup (or set password_command in {path})"
)
PASSWORD_COMMAND_FAILED = "password_command in {path} failed: {reason}"
CHANNEL_SECRET_MISSING = ("no {secret} for the {channel} channel; run: ssh_alert.pyz setup --channel {channel} "
                          "--{flag}-stdin (or set {secret}_command in [{channel}] of {path})")
KEYRING_TIMEOUT = "the system keyring did not answer within {seconds:g} s (locked?); set password_store = file in {path}"
LOCK_TIMEOUT = "another check has held {path} for {seconds:g} s; alerts stay pending and the next check retries"
LOG_UNREADABLE = "cannot read the login log {path}: {reason}; alerts stay pending: fix its permissions (chmod 600)"
STATE_UNWRITABLE = "cannot write {path}: {reason}; alerts stay pending: check the directory's permissions and free space"
STORE_UNWRITABLE = ("cannot write the store {path}: {reason}; alerts stay pending and nothing is sent until it can "
                    "be written: free disk space or fix the directory's permissions")
NO_SQLITE = ("this Python ({python}) was built without its sqlite3 module, which ssh_alert keeps its state in; "
             "install it (Debian: python3 is complete; a self-built Python needs libsqlite3-dev) or run "
             "ssh_alert with another python3")
STORE_NOT_REGULAR = "{path} is {kind}, not a regular file; ssh_alert will not use it: remove it (check re-creates it)"
STORE_UNUSABLE = "{reason}; it was moved to {moved}"  # why a store was taken as reset (app.check.reset)
LOG_NOT_REGULAR = ("the login log {path} is {kind}, not a regular file; ssh_alert will not read it: remove it "
                   "(the next login re-creates it)")
DELIVERY_FAILED = "delivery failed: {reason}; {pending} alert(s) stay pending and the next check retries"
STATE_PROBLEM_NOTICE = "state file {path} was unusable ({reason}); re-seeded at the end of the login log"
INTERNAL_ERROR = "internal error ({kind}: {detail}); the traceback is in {path}"
SEEDED = "first run: {count} earlier login(s) in {path} skipped; alerts start with the next login"
# Files ssh_alert opens must be regular files: a FIFO would block, a device never ends, a symlink points elsewhere.
NOT_REGULAR_FILE = "{path} is {kind}, not a regular file; ssh_alert will not open it"
NOT_REGULAR_REASON = "it is {kind}, not a regular file"
NOT_A_DIRECTORY = "{path} is {kind}, not a directory; ssh_alert will not {use}"
# Files and directories another user could change (like ssh's StrictModes): exit 2, one line each.
UNSAFE_WRITABLE = "{path} is writable by {who} (mode {mode:04o}); ssh_alert will not {use}: run chmod go-w {path}"
UNSAFE_OWNER = ("{path} belongs to uid {uid} ({owner}), not to {user}; ssh_alert will not {use}: "
                "remove it, or have root run: chown {user} {path}")
UNSAFE_PARENT_OWNER = ("{path} belongs to uid {uid} ({owner}), not to {user} or root; ssh_alert will not {use}: "
                       "keep its files in directories you own")
USE_SETTINGS = "read settings from it"  # the configuration file and its directories
USE_CODE = "run code from it"  # SHIV_ROOT and this build's extraction (build/zipmain.py has its own copy)
USE_STATE = "keep its state in it"  # the state directory
USE_PASSWORD_COMMAND = "run the password_command it sets"  # the configuration file, checked again before running
# The config's inline comments (a ; or # after a blank): a password_command they cut short, a value setup cannot write.
COMMAND_CUT = ("runs {command!r}: the rest of the line is a comment (a ; or # after a blank starts one); put "
               "the command in a script if it needs them")
UNWRITABLE_COMMENT = ("[{section}] {key}: {value!r} cannot be written: a ; or # after a blank starts a comment in "
                      "the config file; remove the blank before it (or put a command in a script)")
