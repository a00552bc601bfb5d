"""The command line: parse arguments, run one command, print its result. The one place errors are caught."""

from __future__ import annotations

import gc
import os
import sys
from types import SimpleNamespace

from app.errors import INTERNAL_ERROR, ExitCode, UserError
from app.system.paths import Paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, List, Optional, Union

    from argparse import Namespace

    from app.commands.result import Result

    # The hook's calls are read without argparse (a SimpleNamespace); every other call is argparse's Namespace.
    Arguments = Union[SimpleNamespace, Namespace]


def _hook_call(argv: List[str]) -> Optional[SimpleNamespace]:
    """The login hook's own calls, ``check`` and ``check --hook-wait N``, read without argparse: importing
    and building the full parser costs about 2 ms, on every login. Anything else goes to argparse."""
    system = argv[1:2] == ["--system"]  # the PAM hook's calls: check --system [--hook-wait N]
    rest = argv[2:] if system else argv[1:]
    if argv[:1] == ["check"] and (not rest or (len(rest) == 2 and rest[0] == "--hook-wait")):
        return SimpleNamespace(command="check", cron=False, hook_wait=rest[1] if rest else None, system=system)
    return None


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command line; returns the exit code. Prints errors on stderr, one line per problem."""
    os.umask(0o077)  # everything ssh_alert creates is private
    paths = Paths.from_environ()
    argv = sys.argv[1:] if argv is None else list(argv)
    command = None
    try:
        arguments: "Optional[Arguments]" = _hook_call(argv)
        if arguments is None:
            from app.arguments import build_parser

            arguments = build_parser(argv).parse_args(argv)
        command = arguments.command
        if getattr(arguments, "system", False):  # --system: root's system-wide mode (app.install.pam)
            paths = Paths.system_wide()
        if command is None:
            from app.arguments import build_parser

            build_parser().print_help()
            return ExitCode.USAGE
        return _run(arguments, paths)
    except UserError as error:
        if command == "check":
            _log_error(paths, error.message)
        for line in error.message.splitlines():
            print("ssh_alert: " + line, file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("ssh_alert: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except Exception as error:  # a bug: keep the traceback for the report, keep the terminal clean
        import traceback

        _log_error(paths, "".join(traceback.format_exc()))
        message = INTERNAL_ERROR.format(kind=type(error).__name__, detail=str(error)[:200], path=paths.oplog_file)
        if command == "check":
            from app.check.run import record_failure

            record_failure(paths, message)
        print("ssh_alert: " + message, file=sys.stderr)
        return ExitCode.INTERNAL


def _log_error(paths: Paths, message: str) -> None:
    try:
        from app.system import oplog

        oplog.logger(paths.oplog_file).error(message)
    except OSError:
        pass


def _collect_from_here() -> None:
    """Turn the garbage collector back on (app.entry turns it off for the imports), leaving out what exists
    now: modules, classes and functions, never garbage, which every later pass would walk again."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def _run(arguments: "Arguments", paths: Paths) -> int:
    """Run the command's module (app.commands.<command>) and print its Result: text, or its data with --json."""
    module = __import__("app.commands." + arguments.command, fromlist=["run"])  # importlib costs the hook time
    _collect_from_here()
    run: "Callable[[Paths, Arguments], Result]" = module.run
    result = run(paths, arguments)
    if getattr(arguments, "json", False):
        import json

        print(json.dumps(result.data, indent=2))
    else:
        for line in result.lines:
            print(line)
    return result.exit_code
