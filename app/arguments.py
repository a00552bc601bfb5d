"""The command line's grammar: the top-level parser; each command module adds its own subcommand (add_parser)."""

from __future__ import annotations

import argparse
from importlib import import_module

from app import __version__
from app.errors import UserError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn, Optional, Sequence

PROGRAM = "ssh_alert.pyz"
# module names, in --help order
COMMANDS = ("check", "test", "status", "history", "setup", "install", "uninstall", "config", "geoip", "help")


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """Usage errors: one line and exit 2, like every other user error."""
        raise UserError("{} (see {} --help)".format(message, PROGRAM))


def build_parser(argv: Optional[Sequence[str]] = None) -> argparse.ArgumentParser:
    """The parser; when argv starts with a command, only that command's module is imported (cron's check)."""
    parser = Parser(prog=PROGRAM, description="Email the account owner the moment someone logs in over SSH.")
    parser.add_argument("--version", action="version", version="ssh_alert {}".format(__version__))
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    if argv and argv[0] == "--version":
        wanted: Sequence[str] = ()  # argparse prints it before any command is needed
    else:
        wanted = [argv[0]] if argv and argv[0] in COMMANDS else COMMANDS
    for name in wanted:
        import_module("app.commands." + name).add_parser(subparsers)
    return parser
