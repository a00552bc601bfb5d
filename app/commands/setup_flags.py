"""setup --non-interactive: the flags (the contract scripts and fleets rely on) and the plan made from them.

Every answer comes from a flag (or, with --import-legacy, the original script's config); nothing is asked.
A missing or invalid answer is an error naming the flag, one line each (exit 2).
"""

from __future__ import annotations

import argparse
import os

from app.commands.setup_answers import (BAD_PORT, Answers, Plan, answers_from_legacy, build_config, complete_smtp,
                                        current_answers, existing_policy, merge)
from app.errors import UserError
from app.install.legacy import LegacyFiles, LegacySettings
from app.settings.config import SENDMAIL_CANDIDATES, find_sendmail, split_addresses
from app.system.paths import Paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional, TextIO, Tuple

MISSING_FLAG = "missing {flag}: {why}"
PASSWORD_FLAGS = "--password-stdin or --password-command"
PASSWORD_WITHOUT_USER = "{flag} needs --smtp-user (without a user there is no AUTH and no password)"
EMPTY_STDIN_PASSWORD = "--password-stdin: the first line of standard input is empty; pipe the password in"
NO_SENDMAIL = "no sendmail found at {candidates}"
LEGACY_NOT_IMPORTED = "The original script's files were found but not imported (--import-legacy imports them)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """setup's flags: answers (what --non-interactive needs) and switches."""
    parser.add_argument("--non-interactive", action="store_true",
                        help="take every answer from flags; never prompt (for scripts and fleets)")
    parser.add_argument("--yes", action="store_true", help="accept defaults for yes/no questions")
    parser.add_argument("--to", metavar="ADDR[,ADDR]", help="recipient address(es)")
    parser.add_argument("--from", dest="sender", metavar="ADDR", help="sender address")
    parser.add_argument("--method", choices=("sendmail", "smtp"), help="how to deliver")
    parser.add_argument("--sendmail-path", metavar="PATH", help="sendmail binary (default: the first found)")
    parser.add_argument("--smtp-host", metavar="HOST")
    parser.add_argument("--smtp-port", metavar="N", type=int)
    parser.add_argument("--smtp-security", choices=("ssl", "starttls", "none"))
    parser.add_argument("--smtp-user", metavar="USER")
    password = parser.add_mutually_exclusive_group()
    password.add_argument("--password-stdin", action="store_true",
                          help="read the SMTP password from standard input (never from argv)")
    password.add_argument("--password-command", metavar="CMD",
                          help="a command that prints the password (stored in the config; run when sending)")
    parser.add_argument("--ca-file", metavar="PEM", help="trust this CA bundle instead of the system CAs")
    parser.add_argument("--host-label", metavar="NAME", help="the name alerts give this host (default: its FQDN)")
    parser.add_argument("--no-dns-check", action="store_true", help="skip the DNS deliverability check")
    parser.add_argument("--no-test-email", action="store_true", help="do not send a test email")
    parser.add_argument("--save-anyway", action="store_true",
                        help="write the config even when its connection test fails (it is not saved otherwise)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the changes setup would make to the config file as a diff; change nothing")
    parser.add_argument("--import-legacy", action="store_true",
                        help="import ~/.ssh_login_monitor.conf, ~/.ssh_logins and its state")


def answers_from_flags(arguments: argparse.Namespace) -> Answers:
    """The answers given on the command line (paths made absolute: check runs from other directories)."""
    def absolute(path: Optional[str]) -> str:
        return os.path.abspath(os.path.expanduser(path)) if path else ""

    return Answers(recipients=split_addresses(arguments.to or ""), sender=(arguments.sender or "").strip(),
                   method=arguments.method or "", sendmail_path=absolute(arguments.sendmail_path),
                   host=(arguments.smtp_host or "").strip(), port=arguments.smtp_port,
                   security=arguments.smtp_security or "", user=(arguments.smtp_user or "").strip(),
                   ca_file=absolute(arguments.ca_file), password_command=arguments.password_command or "",
                   host_label=(getattr(arguments, "host_label", None) or "").strip())


def plan_from_flags(paths: Paths, arguments: argparse.Namespace, legacy: LegacyFiles,
                    stdin: Optional[TextIO]) -> Plan:
    """Build the plan from flags, and from the legacy config with --import-legacy (flags win).

    Reads the password's line from stdin with --password-stdin. Raises UserError (exit 2) naming every
    missing flag and invalid address, one per line.
    """
    from app.install.legacy import read_legacy_config

    notes: List[str] = []
    legacy_settings = LegacySettings()
    importing = legacy if arguments.import_legacy and legacy.found else LegacyFiles(None, None, None)
    if importing.config is not None:
        legacy_settings, warning = read_legacy_config(importing.config)
        notes += [warning] if warning else []
    elif legacy.found and not arguments.import_legacy:
        notes.append(LEGACY_NOT_IMPORTED)
    current = current_answers(paths)  # a re-run: the current config's values stand unless a flag changes them
    # --import-legacy asks for the original script's settings: they win over the current config's
    answers = merge(answers_from_flags(arguments), answers_from_legacy(legacy_settings), current)
    if arguments.password_stdin:
        answers = answers._replace(password_command="", password_store="")
    problems: List[str] = []
    for flag, value, why in (("--to", answers.recipients, "the recipient address(es)"),
                             ("--from", answers.sender, "the sender address"),
                             ("--method", answers.method, "sendmail or smtp")):
        if not value:
            problems.append(MISSING_FLAG.format(flag=flag, why=why))
    if answers.method == "sendmail" and not answers.sendmail_path:
        found = find_sendmail("")
        if found:
            answers = answers._replace(sendmail_path=found)
        else:
            problems.append(MISSING_FLAG.format(flag="--sendmail-path", why=NO_SENDMAIL.format(
                candidates=" or ".join(SENDMAIL_CANDIDATES))))
    password: Optional[str] = None
    if answers.method == "smtp":
        if not answers.host:
            problems.append(MISSING_FLAG.format(flag="--smtp-host", why="the mail server, needed for --method smtp"))
        if answers.port is not None and not 0 < answers.port < 65536:
            problems.append(BAD_PORT.format(port=answers.port))
        answers = complete_smtp(answers)
        password, password_problems = _flag_password(arguments, answers, legacy_settings, stdin,
                                                     kept=bool(current.user) and current.user == answers.user)
        problems += password_problems
    recipients, sender, address_problems = _normalized(answers, special_use=arguments.no_dns_check)
    problems += address_problems
    if problems:
        raise UserError("\n".join(notes + problems))
    answers = answers._replace(recipients=recipients, sender=sender, policy=existing_policy(paths))
    from app.settings.validate import address_notes

    notes += [note.line for note in address_notes(recipients + (sender,), dns=not arguments.no_dns_check)]
    config = build_config(answers, paths.config_file)  # UserError: exit 2, one line per problem
    return Plan(config, password, importing, bool(legacy_settings.password), not arguments.no_test_email,
                tuple(notes))


def _flag_password(arguments: argparse.Namespace, answers: Answers, legacy: LegacySettings,
                   stdin: Optional[TextIO], kept: bool = False) -> Tuple[Optional[str], List[str]]:
    """The password from --password-stdin (first line), else the legacy config's, else (kept) the one the
    current config finds; plus problems."""
    flag = "--password-stdin" if arguments.password_stdin else "--password-command" if arguments.password_command \
        else ""
    if not answers.user:
        return None, [PASSWORD_WITHOUT_USER.format(flag=flag)] if flag else []
    if arguments.password_command:
        return None, []
    if arguments.password_stdin:
        password = (stdin.readline() if stdin is not None else "").rstrip("\r\n")
        return (password, []) if password else (None, [EMPTY_STDIN_PASSWORD])
    if legacy.password and legacy.user == answers.user:
        return legacy.password, []
    if kept:
        return None, []  # the connection test and check find it where the current config says
    return None, [MISSING_FLAG.format(flag=PASSWORD_FLAGS, why="the password for --smtp-user " + answers.user)]


def _normalized(answers: Answers, special_use: bool) -> Tuple[Tuple[str, ...], str, List[str]]:
    """The recipients and sender normalized by email-validator, and one problem line per invalid address."""
    from app.settings.validate import normalize_addresses

    recipients, problems = normalize_addresses(answers.recipients, special_use) if answers.recipients else ((), [])
    sender = ""
    if answers.sender:
        senders, sender_problems = normalize_addresses([answers.sender], special_use)
        sender = senders[0] if senders else ""
        problems += sender_problems
    return recipients, sender, problems
