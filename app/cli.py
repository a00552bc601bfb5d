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
    commands.add_parser("check", help="alert every login recorded since the last run (login hook, cron)")
    commands.add_parser("test", help="send a test alert through the configured delivery")
    status = commands.add_parser("status", help="report configuration, credentials, hooks and pending alerts")
    status.add_argument("--json", action="store_true", help="print the same checks as JSON")
    return parser


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
        from app.commands.check import run_check

        run_check(paths)  # silent when all is well: it runs from the login hook and cron
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
    raise UserError("unknown command {}".format(arguments.command))
