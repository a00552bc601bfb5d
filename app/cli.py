"""The command line: parse arguments, run one command, print its result. The one place errors are caught."""

import argparse
import json
import os
import sys
from typing import List, Optional

from app import __version__
from app.errors import INTERNAL_ERROR, ExitCode, UserError
from app.paths import Paths

PROGRAM = "ssh_alert.pyz"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> "None":  # type: ignore[override]
        """Usage errors: one line and exit 2, like every other user error."""
        raise UserError("{} (see {} --help)".format(message, PROGRAM))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROGRAM, description="Email the account owner the moment someone logs in over SSH.")
    parser.add_argument("--version", action="version", version="ssh_alert {}".format(__version__))
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    check = commands.add_parser("check", help="alert every login recorded since the last run (login hook, cron)")
    check.add_argument("--cron", action="store_true",
                       help="also alert this account's SSH connections no hook saw (ssh -N); the cron line uses it")
    check.add_argument("--hook-wait", metavar="SECONDS",
                       help="the login hook's call: return once this connection's alert has left, or after SECONDS")
    commands.add_parser("test", help="send a test alert through the configured delivery")
    status = commands.add_parser("status", help="report configuration, credentials, hooks and pending alerts")
    status.add_argument("--json", action="store_true", help="print the same checks as JSON")
    history = commands.add_parser("history", help="recorded logins as a table (alerted or not)")
    history.add_argument("--since", metavar="WHEN", help="only logins since WHEN: 2026-11-01, '2026-11-01 08:00', 7d, 12h")
    history.add_argument("--ip", metavar="ADDR", help="only logins from this address (or CIDR network)")
    history.add_argument("--user", metavar="USER", help="only logins of this user")
    history.add_argument("--summary", action="store_true", help="per source IP: count, first and last seen")
    history.add_argument("--json", action="store_true", help="print the same data as JSON")
    _add_setup(commands)
    install = commands.add_parser("install", help="copy the pyz to ~/bin, add the login hooks and the cron line")
    install.add_argument("--yes", action="store_true", help="do it without asking (needed without a terminal)")
    install.add_argument("--dry-run", action="store_true", help="print each planned change and touch nothing")
    install.add_argument("--bin-dir", metavar="DIR", help="where to put ssh_alert.pyz (default: ~/bin)")
    install.add_argument("--hooks", metavar="LIST",
                         help="comma-separated: ssh-rc, bash-profile, bashrc (default: all that apply)")
    install.add_argument("--no-cron", action="store_true", help="do not add the every-minute cron fallback")
    uninstall = commands.add_parser("uninstall", help="remove exactly what install added")
    uninstall.add_argument("--yes", action="store_true", help="do it without asking (needed without a terminal)")
    uninstall.add_argument("--dry-run", action="store_true", help="print each planned change and touch nothing")
    uninstall.add_argument("--purge", action="store_true",
                           help="also delete the config, state, logs and stored password")
    return parser


def _add_setup(commands: "argparse._SubParsersAction") -> None:
    setup = commands.add_parser("setup", help="guided configuration: recipients, delivery, password, first check")
    setup.add_argument("--non-interactive", action="store_true",
                       help="take every answer from flags; never prompt (for scripts and fleets)")
    setup.add_argument("--yes", action="store_true", help="accept defaults for yes/no questions")
    setup.add_argument("--to", metavar="ADDR[,ADDR]", help="recipient address(es)")
    setup.add_argument("--from", dest="sender", metavar="ADDR", help="sender address")
    setup.add_argument("--method", choices=("sendmail", "smtp"), help="how to deliver")
    setup.add_argument("--sendmail-path", metavar="PATH", help="sendmail binary (default: the first found)")
    setup.add_argument("--smtp-host", metavar="HOST")
    setup.add_argument("--smtp-port", metavar="N", type=int)
    setup.add_argument("--smtp-security", choices=("ssl", "starttls", "none"))
    setup.add_argument("--smtp-user", metavar="USER")
    password = setup.add_mutually_exclusive_group()
    password.add_argument("--password-stdin", action="store_true",
                          help="read the SMTP password from standard input (never from argv)")
    password.add_argument("--password-command", metavar="CMD",
                          help="a command that prints the password (stored in the config; run when sending)")
    setup.add_argument("--ca-file", metavar="PEM", help="trust this CA bundle instead of the system CAs")
    setup.add_argument("--no-dns-check", action="store_true", help="skip the DNS deliverability check")
    setup.add_argument("--no-test-email", action="store_true", help="do not send a test email")
    setup.add_argument("--import-legacy", action="store_true",
                       help="import ~/.ssh_login_monitor.conf, ~/.ssh_logins and its state")


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command line; returns the exit code. Prints errors on stderr, one line per problem."""
    os.umask(0o077)  # everything ssh_alert creates is private
    paths = Paths.from_environ()
    command = None
    try:
        arguments = build_parser().parse_args(argv)
        command = arguments.command
        if command is None:
            build_parser().print_help()
            return ExitCode.USAGE
        return _dispatch(arguments, paths)
    except UserError as error:
        if command == "check":
            _log_error(paths, error.message)
        for line in error.message.splitlines():
            print("ssh_alert: " + line, file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("ssh_alert: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # a bug: keep the traceback for the report, keep the terminal clean
        import traceback

        _log_error(paths, "".join(traceback.format_exc()))
        if command == "check":
            from app.alerting.run import record_failure

            record_failure(paths, INTERNAL_ERROR.format(kind=type(error).__name__, detail=str(error)[:200],
                                                        path=paths.oplog_file))
        print("ssh_alert: " + INTERNAL_ERROR.format(kind=type(error).__name__, detail=str(error)[:200],
                                                    path=paths.oplog_file), file=sys.stderr)
        return ExitCode.INTERNAL


def _log_error(paths: Paths, message: str) -> None:
    try:
        from app import oplog

        oplog.logger(paths.oplog_file).error(message)
    except OSError:
        pass


def _dispatch(arguments: argparse.Namespace, paths: Paths) -> int:
    if arguments.command == "check":
        from app.commands import check

        check.run(paths, arguments.cron, arguments.hook_wait)  # silent when all is well: hook and cron run it
        return ExitCode.OK
    if arguments.command == "test":
        from app.commands.test import run_test

        result = run_test(paths)
        if result.delivered:
            print("Test alert sent to {} via {}.".format(", ".join(result.recipients), result.route))
            return ExitCode.OK
        print("Test alert NOT sent via {}: {}".format(result.route, result.reason), file=sys.stderr)
        return ExitCode.DELIVERY_FAILED
    if arguments.command == "status":
        from app.commands.status import healthy, run_status

        checks = run_status(paths)
        if arguments.json:
            print(json.dumps({"healthy": healthy(checks), "checks": [check._asdict() for check in checks]},
                             indent=2))
        else:
            for check in checks:
                print("{:<5} {:<13} {}".format(check.status.upper(), check.name, check.detail))
        return ExitCode.OK if healthy(checks) else ExitCode.DELIVERY_FAILED
    if arguments.command in ("setup", "install", "uninstall", "history"):
        from importlib import import_module

        from app.prompt import terminal_prompter

        command = import_module("app.commands." + arguments.command)
        result = command.run(paths, arguments, terminal_prompter())
        for line in result.lines:
            print(line)
        return result.exit_code
    raise UserError("unknown command {}".format(arguments.command))
