"""The command line: parse arguments, run one command, print its result. The one place errors are caught."""

import os
import sys
from types import SimpleNamespace
from typing import List, Optional

from app.errors import INTERNAL_ERROR, ExitCode, UserError
from app.system.paths import Paths

def _hook_call(argv: List[str]) -> Optional[SimpleNamespace]:
    """The login hook's own calls, ``check`` and ``check --hook-wait N``, read without argparse: importing
    and building the full parser costs about 2 ms, on every login. Anything else goes to argparse."""
    if argv[:1] == ["check"] and (len(argv) == 1 or (len(argv) == 3 and argv[1] == "--hook-wait")):
        return SimpleNamespace(command="check", cron=False, hook_wait=argv[2] if len(argv) == 3 else None)
    return None


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command line; returns the exit code. Prints errors on stderr, one line per problem."""
    os.umask(0o077)  # everything ssh_alert creates is private
    paths = Paths.from_environ()
    command = None
    try:
        arguments = _hook_call(sys.argv[1:] if argv is None else list(argv))
        if arguments is None:
            from app.arguments import build_parser

            arguments = build_parser().parse_args(argv)
        command = arguments.command
        if command is None:
            from app.arguments import build_parser

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
        from app.system import oplog

        oplog.logger(paths.oplog_file).error(message)
    except OSError:
        pass


def _dispatch(arguments: SimpleNamespace, paths: Paths) -> int:
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
            import json

            print(json.dumps({"healthy": healthy(checks), "checks": [item._asdict() for item in checks]},
                             indent=2))
        else:
            for item in checks:
                print("{:<5} {:<13} {}".format(item.status.upper(), item.name, item.detail))
        return ExitCode.OK if healthy(checks) else ExitCode.DELIVERY_FAILED
    if arguments.command in ("setup", "install", "uninstall", "history"):
        from importlib import import_module

        from app.commands.prompt import terminal_prompter

        command = import_module("app.commands." + arguments.command)
        result = command.run(paths, arguments, terminal_prompter())
        for line in result.lines:
            print(line)
        return result.exit_code
    raise UserError("unknown command {}".format(arguments.command))
