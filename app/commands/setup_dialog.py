"""setup at a terminal: every question, its default the previous answer, then the connection test.

Nothing is written here: Ctrl-C (KeyboardInterrupt) or Ctrl-D (EOFError) at any question leaves every
file as it was; ask() returns the plan that setup_apply carries out.
"""

from __future__ import annotations

import argparse
import os

from app.commands.prompt import Prompter
from app.commands.setup_answers import (BAD_PORT, Answers, KnownPassword, Plan, answers_from_config,
                                        answers_from_legacy, build_config, complete_smtp, merge, passed_line,
                                        probe_advice, security_for_port)
from app.commands.setup_flags import answers_from_flags
from app.commands.setup_mail import LOCAL_ONLY_WARNING, local_only_problem
from app.errors import UserError
from app.install.legacy import LegacyFiles, LegacySettings
from app.settings.config import SECURITY_MODES, SENDMAIL_CANDIDATES, Config, find_sendmail, is_loopback_host, \
    load_config, split_addresses
from app.system.paths import Paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional, Sequence, Set, Tuple

ASK_IMPORT = "Import its settings, password and login history"
ASK_TO = "Recipient address(es), comma-separated (none: no email, push only)"
PUSH_ONLY_ANSWER = "none"
ASK_FROM = "Sender address"
ASK_METHOD = "Delivery method"
ASK_SENDMAIL = "sendmail binary"
ASK_HOST = "SMTP server"
ASK_PORT = "SMTP port"
ASK_SECURITY = "Encryption"
ASK_USER = "SMTP user name (empty: no AUTH)"
ASK_CA_FILE = "CA bundle (PEM) to trust instead of the system CAs (empty: system CAs)"
ASK_PASSWORD = "SMTP password for {user}"
KEEP_PASSWORD = " (Enter keeps {what})"
ASK_AFTER_FAILURE = "What now"
AFTER_FAILURE_CHOICES = ("change", "save", "quit")  # change the answers, save anyway, or quit
RETYPE_PASSWORD, GIVE_CA_FILE = "password", "ca-file"  # offered first when they fit the failure
AUTH_REFUSED = "refused the user name or password"  # app.channels.diagnose's words for these failures
UNTRUSTED = "is not trusted ("
ASK_CA_FILE_NOW = "CA bundle (PEM) that signed the server's certificate"
TESTING = "Testing the connection to {host}:{port} (nothing is sent):"
STEP_CONNECT = "connecting to {host}:{port} ..."
STEP_AUTH = "AUTH as {user} ..."
TEST_FAILED_LINE = "Connection test failed: {advice}"
ASK_TEST_EMAIL = "Send a test email after saving"
ASK_KEEP_ADDRESS = "Keep {address} anyway (no: type another)"
ASK_HOST_LABEL = "Name alerts give this host (host_label)"
SMTP_ONLY = "No sendmail on this machine ({candidates}): delivering over SMTP."
LEGACY_FOUND = "Found the original script's files: {names}."
SENDMAIL_CHOSEN = "Delivery: {route}."


class PushOnly(Exception):
    """The answer to ASK_TO was "none": alerts go to a push channel only (setup asks which)."""


class _Asker:
    """The questions, one method each; every answer's default is the previous answer."""

    def __init__(self, arguments: argparse.Namespace, prompter: Prompter) -> None:
        self.arguments, self.prompter = arguments, prompter
        self.dns = not arguments.no_dns_check
        self.looked_up: Set[str] = set()  # domains already checked: asking again does not repeat the warning

    def confirm(self, question: str, default: bool = True) -> bool:
        return default if self.arguments.yes else self.prompter.confirm(question, default)

    def addresses(self, question: str, default: Sequence[str], single: bool,
                  allow_none: bool = False) -> Tuple[str, ...]:
        """Ask until the addresses are valid and kept: a domain DNS says is missing can be typed again.
        With allow_none, the answer "none" gives no address."""
        from app.settings.validate import address_notes, normalize_addresses

        def problem(answer: str) -> Optional[str]:
            if allow_none and answer.strip().lower() == PUSH_ONLY_ANSWER:
                return None
            parts = split_addresses(answer)
            if single and len(parts) > 1:
                return "one address only"
            return "; ".join(normalize_addresses(parts, special_use=True)[1]) or None

        shown = ", ".join(default)
        while True:
            answer = self.prompter.ask(question, shown, problem)
            if allow_none and answer.strip().lower() == PUSH_ONLY_ANSWER:
                return ()
            normalized = normalize_addresses(split_addresses(answer), special_use=True)[0]
            for note in address_notes(normalized, self.dns, self.looked_up):
                self.prompter.say(note.line)
                if not (note.definite or note.special_use and self.dns):
                    continue
                # A domain DNS says is missing looks like a typo (default: type it again); a special-use
                # name is usually meant (default: keep it).
                if not self.confirm(ASK_KEEP_ADDRESS.format(address=note.address), note.special_use):
                    self.looked_up.discard(note.address.rpartition("@")[2].lower())
                    shown = ""  # typing again starts empty, not from the address refused
                    break
            else:
                return normalized

    def host_label(self, current: str) -> str:
        """Asked only when this host has no FQDN (alerts would name it by a bare or local name)."""
        import socket

        from app.check.context import machine_name
        from app.settings.names import is_fqdn

        if current or is_fqdn(socket.getfqdn()):
            return current
        return self.prompter.ask(ASK_HOST_LABEL, machine_name(), lambda answer: None if answer and not any(
            character.isspace() or ord(character) < 32 for character in answer) else "a name without blanks")

    def method(self, answers: Answers) -> Answers:
        sendmail = answers.sendmail_path or find_sendmail("")
        if not sendmail:
            self.prompter.say(SMTP_ONLY.format(candidates=", ".join(SENDMAIL_CANDIDATES)))
            return answers._replace(method="smtp")
        method = self.prompter.choose(ASK_METHOD, ("sendmail", "smtp"), answers.method or "sendmail")
        if method == "smtp":
            return answers._replace(method="smtp")
        path = self.prompter.ask(ASK_SENDMAIL, sendmail, lambda answer: None if os.access(
            os.path.expanduser(answer), os.X_OK) and os.path.isfile(os.path.expanduser(answer))
            else "{} is not an executable file".format(answer))
        return answers._replace(method="sendmail", sendmail_path=os.path.abspath(os.path.expanduser(path)))

    def smtp(self, answers: Answers) -> Answers:
        host = self.prompter.ask(ASK_HOST, answers.host, lambda answer: None if answer and not any(
            character.isspace() for character in answer) else "a host name or address, like mail.example.com")
        port = int(self.prompter.ask(ASK_PORT, str(answers.port or 587), _port_problem))
        default_security = answers.security if answers.security and port == answers.port \
            else security_for_port(port)
        security = self.prompter.choose(ASK_SECURITY, SECURITY_MODES, default_security)
        user = self.prompter.ask(ASK_USER, answers.user)
        if user and security == "none" and not is_loopback_host(host):
            self.prompter.say("  {} would get the password unencrypted: using starttls".format(host))
            security = "starttls"
        ca_file = ""
        if security != "none":
            ca_file = self.prompter.ask(ASK_CA_FILE, answers.ca_file, lambda answer: None if not answer or os.access(
                os.path.expanduser(answer), os.R_OK) else "{} does not exist or is not readable".format(answer))
            ca_file = os.path.abspath(os.path.expanduser(ca_file)) if ca_file else ""
        return answers._replace(host=host, port=port, security=security, user=user, ca_file=ca_file)

    def password(self, answers: Answers, known: Optional[KnownPassword]) -> Tuple[Optional[str], str]:
        """Return (password to store or None, password_command); Enter keeps what is known already."""
        if not answers.user:
            return None, ""
        if self.arguments.password_command:
            return None, self.arguments.password_command
        kept = known if known is not None and known.user == answers.user else None
        question = ASK_PASSWORD.format(user=answers.user)
        if kept is not None:
            question += KEEP_PASSWORD.format(what=kept.what)
        elif answers.password_command:
            question += KEEP_PASSWORD.format(what="password_command")
        typed = self.prompter.secret(question, allow_empty=kept is not None or bool(answers.password_command))
        if typed:
            return typed, ""
        return (kept.password, "") if kept is not None else (None, answers.password_command)


HOST_NAMES = "Alerts name this host {shown}; mail servers see it as {ehlo}."
HOST_NAMES_NO_FQDN = (" It has no fully qualified name ({fqdn}): set host_label in [alert] to a name you recognise "
                      "(the mail server still sees a valid name).")


def host_names_line(host_label: str) -> str:
    """What alerts call this host and the EHLO name mail servers see; advice when it has no FQDN."""
    import socket

    from app.check.context import machine_name
    from app.channels.mailname import local_ehlo_name
    from app.settings.names import is_fqdn

    fqdn = socket.getfqdn()
    line = HOST_NAMES.format(shown=host_label or machine_name(fqdn), ehlo=local_ehlo_name())
    return line + (HOST_NAMES_NO_FQDN.format(fqdn=fqdn) if not host_label and not is_fqdn(fqdn) else "")


def _port_problem(answer: str) -> Optional[str]:
    return None if answer.isdigit() and 0 < int(answer) < 65536 else BAD_PORT.format(port=answer)


def ask(paths: Paths, arguments: argparse.Namespace, prompter: Prompter, legacy: LegacyFiles) -> Optional[Plan]:
    """Ask every question, test the connection, and return the plan; None when the user quits.

    Nothing is written here: Ctrl-C (KeyboardInterrupt) or Ctrl-D (EOFError) at any question leaves
    every file as it was.
    """
    from app.install.legacy import read_legacy_config

    asker = _Asker(arguments, prompter)
    notes: List[str] = []
    importing = LegacyFiles(None, None, None)
    legacy_settings = LegacySettings()
    if legacy.found:
        prompter.say(LEGACY_FOUND.format(names=", ".join(legacy.names())))
        if asker.confirm(ASK_IMPORT, True):
            importing = legacy
            if legacy.config is not None:
                legacy_settings, warning = read_legacy_config(legacy.config)
                if warning:
                    prompter.say(warning)
    current, known = _current(paths, prompter)
    answers = merge(answers_from_flags(arguments), current, answers_from_legacy(legacy_settings))
    if known is None and legacy_settings.password:
        known = KnownPassword(legacy_settings.user, legacy_settings.password,
                              "the password from " + str(legacy.config))
    while True:
        recipients = asker.addresses(ASK_TO, answers.recipients, single=False, allow_none=True)
        if not recipients:
            raise PushOnly()
        sender = asker.addresses(ASK_FROM, (answers.sender,) if answers.sender else (), single=True)[0]
        answers = asker.method(answers._replace(recipients=recipients, sender=sender))
        prompter.say(host_names_line(answers.host_label))
        answers = answers._replace(host_label=asker.host_label(answers.host_label))
        password: Optional[str] = None
        if answers.method == "smtp":
            answers = asker.smtp(complete_smtp(answers))
            password, command = asker.password(answers, known)
            answers = answers._replace(password_command=command)
        try:
            config = build_config(answers, paths.config_file)
        except UserError as error:
            for line in error.message.splitlines():
                prompter.say("  " + line)
            continue
        if config.method == "smtp":
            choice, advice, config, password = _tested(asker, paths, answers, config, password)
            if choice == "change":
                if password is not None and (known is None or password != known.password):
                    known = KnownPassword(answers.user, password, "the password typed before")
                answers = answers._replace(ca_file=config.smtp.ca_file if config.smtp else answers.ca_file)
                continue
            if choice == "quit":
                return None
            if choice == "save":
                notes.append("Saved although the connection test failed: " + advice)
        else:
            from app.channels.delivery import describe

            prompter.say(SENDMAIL_CHOSEN.format(route=describe(config)))
            problem = local_only_problem(config)
            if problem is not None:
                prompter.say(LOCAL_ONLY_WARNING.format(problem=problem))
                choice = prompter.choose(ASK_AFTER_FAILURE, AFTER_FAILURE_CHOICES, AFTER_FAILURE_CHOICES[0])
                if choice == "quit":
                    return None
                if choice == "change":
                    continue
                return Plan(config, password, importing, bool(legacy_settings.password), False, tuple(notes))
        send_test = asker.confirm(ASK_TEST_EMAIL, True)
        return Plan(config, password, importing, bool(legacy_settings.password), send_test, tuple(notes))


def _fix_for(advice: str) -> Optional[str]:
    """The one answer that fixes a failed test, offered first: the password, or a CA file (pure)."""
    if AUTH_REFUSED in advice:
        return RETYPE_PASSWORD
    if UNTRUSTED in advice:
        return GIVE_CA_FILE
    return None


def _tested(asker: _Asker, paths: Paths, answers: Answers, config: Config,
            password: Optional[str]) -> Tuple[Optional[str], str, Config, Optional[str]]:
    """Run the connection test, saying each step; after a failure offer the fix that fits (type the password
    again, give a CA file) before change/save/quit. Returns (None when passed, else the choice), the last
    failure's advice, and the config and password tested last."""
    from app.channels.diagnose import CONNECT

    prompter = asker.prompter
    assert config.smtp is not None
    while True:
        smtp = config.smtp
        assert smtp is not None

        def step(stage: str) -> None:
            prompter.say("  " + (STEP_CONNECT.format(host=smtp.host, port=smtp.port) if stage == CONNECT else
                                 STEP_AUTH.format(user=smtp.user) if stage == "AUTH" else stage + " ..."))

        prompter.say(TESTING.format(host=smtp.host, port=smtp.port))
        advice = probe_advice(config, password, paths, step)
        if advice is None:
            prompter.say(passed_line(config))
            return None, "", config, password
        prompter.say(TEST_FAILED_LINE.format(advice=advice))
        fix = _fix_for(advice)
        if fix == RETYPE_PASSWORD and answers.password_command:
            fix = None  # the password comes from password_command: change the answers instead
        choices = ((fix,) if fix else ()) + AFTER_FAILURE_CHOICES
        choice = prompter.choose(ASK_AFTER_FAILURE, choices, choices[0])
        if choice == RETYPE_PASSWORD:
            password = prompter.secret(ASK_PASSWORD.format(user=smtp.user))
            continue
        if choice == GIVE_CA_FILE:
            ca_file = prompter.ask(ASK_CA_FILE_NOW, "", _readable_problem)
            config = build_config(answers._replace(ca_file=os.path.abspath(os.path.expanduser(ca_file))),
                                  config.path)
            continue
        return choice, advice, config, password


def _readable_problem(answer: str) -> Optional[str]:
    return None if answer and os.access(os.path.expanduser(answer), os.R_OK) else \
        "{} does not exist or is not readable".format(answer or "(nothing)")


def _current(paths: Paths, prompter: Prompter) -> Tuple[Answers, Optional[KnownPassword]]:
    """The current config's answers and its password (None when there is none or it cannot be read)."""
    if not paths.config_file.exists():
        return Answers(), None
    try:
        config = load_config(paths.config_file)
    except UserError as error:
        prompter.say("The current configuration has problems; its values are not offered as defaults:")
        for line in error.message.splitlines():
            prompter.say("  " + line)
        return Answers(), None
    answers = answers_from_config(config)
    smtp = config.smtp
    if smtp is None or not smtp.user or smtp.password_command:
        return answers, None
    from app.settings.credentials import describe_source, resolve_password

    try:
        password = resolve_password(config, paths)
        source = describe_source(config, paths)
    except UserError:
        return answers, None
    what = "the one in {} (it moves to the store)".format(config.path) if source.kind == "plaintext" \
        else "the stored one, in the " + source.description
    return answers, KnownPassword(smtp.user, password or "", what)
