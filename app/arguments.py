"""The command line's grammar: every command, flag and help text (argparse), built only when needed."""

import argparse

from app import __version__
from app.errors import UserError

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
