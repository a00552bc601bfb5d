"""``setup``: the guided configuration. Recipients, delivery, password, a connection test, then the first check.

Everything is asked (or taken from flags) and the connection tested before anything is written, so
Ctrl-C or a failed test leaves the previous configuration as it was. Then, in order: the password
goes to the OS keyring or the password file, the config is written (0600, atomically), the original
script's password and log are migrated, a test alert is sent, and ``check`` runs once (it seeds, or
alerts what the original script had not alerted yet).
"""

import argparse
import os
import sys
from pathlib import Path
from typing import List, NamedTuple, Optional, Sequence, TextIO, Tuple

from app.settings.config import (DEFAULT_PORTS, AlertPolicy, DEFAULT_TIMEOUT, SECURITY_MODES, SENDMAIL_CANDIDATES, Config, SmtpSettings,
                        find_sendmail, is_loopback_host, load_config, parse_config, render_config, split_addresses)
from app.errors import ExitCode, UserError
from app.install.legacy import LegacyFiles, LegacySettings, find_legacy
from app.system.paths import Paths
from app.commands.prompt import CommandResult, Prompter
from app.commands.setup_mail import (  # noqa: F401 (message texts tests import from here)
    ASK_ARRIVED, CHECK_FAILED, LOCAL_ONLY_WARNING, NOT_ARRIVED, PENDING_SENT, SEEDED_LINE, TEST_FAILED, TEST_NOT_SENT,
    TEST_SENT, first_check, local_only_problem, say_all, test_email)

# --- message texts (tests import them) -------------------------------------------------------------------

NEEDS_TERMINAL = ("setup needs a terminal to ask its questions; without one, run: ssh_alert.pyz setup "
                  "--non-interactive --to ADDR --from ADDR --method sendmail|smtp (see setup --help)")
MISSING_FLAG = "missing {flag}: {why}"
PASSWORD_FLAGS = "--password-stdin or --password-command"
PASSWORD_WITHOUT_USER = "{flag} needs --smtp-user (without a user there is no AUTH and no password)"
EMPTY_STDIN_PASSWORD = "--password-stdin: the first line of standard input is empty; pipe the password in"
NO_SENDMAIL = "no sendmail found at {candidates}"
BAD_PORT = "{port} is not a port number (1-65535)"
UNWRITABLE_VALUE = "{problem}"
PROBE_FAILED = "connection test failed: {advice}; nothing was saved"
PROBE_PASSED = "Connection test passed: {route}; nothing was sent."
SENDMAIL_CHOSEN = "Delivery: {route}."
PASSWORD_STORED = "Password stored in {description}."
PASSWORD_COMMAND = "Password: from password_command, run each time a mail is sent (not stored)."
CONFIG_WRITTEN = "Configuration written to {path} (mode 0600)."
HOOK_WAIT_CHOSEN = ("Each login waits up to {seconds:g} s until its alert has left (hook_wait): the alert leaves before "
                    "the session starts, so an intruder's first command cannot stop it, at the cost of the delivery "
                    "time per login; hook_wait = 0 in [alert] starts the session at once instead.")
HOOK_WAIT_OFF = ("hook_wait = 0: logins do not wait for their alert; an intruder's first command could stop it "
                 "(set hook_wait = 3 in [alert] to make the alert leave before the session starts).")
CONFIG_UNWRITABLE = "cannot write {path}: {reason}; check the directory's permissions and free space"
SUGGEST_INSTALL = ("Next: run ssh_alert.pyz install to add the login hooks and the every-minute cron fallback "
                   "(nothing alerts until then).")
SUGGEST_INSTALL_LEGACY = ("Next: run ssh_alert.pyz install now: it replaces the original script's hook in "
                          "~/.bash_profile and its cron line.")
STOPPED = "Setup stopped; nothing was saved."

LEGACY_FOUND = "Found the original script's files: {names}."
LEGACY_PASSWORD_MOVED = "The plaintext password was removed from {path} (it is in the store now)."
LEGACY_PASSWORD_NOT_REMOVED = "warning: cannot remove the plaintext password from {path} ({reason}); delete that line"
LEGACY_PASSWORD_LEFT = "Note: {path} still holds a plaintext password that ssh_alert does not use; delete that line."
LEGACY_LOG_IMPORTED = ("Imported {total} login(s) from {log} into {ours}: {alerted} already alerted by the "
                       "original script, {pending} to alert now.")
LEGACY_LOG_SKIPPED = "Not importing {log}: {reason}."
LEGACY_STATE_UPDATED = ("Set {state} to {count} so the original script, until install replaces it, does not "
                        "alert those logins again.")
LEGACY_NOT_IMPORTED = "The original script's files were found but not imported (--import-legacy imports them)."

# --- questions ------------------------------------------------------------------------------------------

ASK_IMPORT = "Import its settings, password and login history"
ASK_TO = "Recipient address(es), comma-separated"
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
ASK_AFTER_FAILURE = "Change the answers, save anyway, or quit"
AFTER_FAILURE_CHOICES = ("change", "save", "quit")
ASK_TEST_EMAIL = "Send a test email after saving"
ASK_KEEP_ADDRESS = "Keep {address} anyway (no: type another)"
SMTP_ONLY = "No sendmail on this machine ({candidates}): delivering over SMTP."

HOOK_FILES = (".ssh/rc", ".bash_profile", ".bash_login", ".profile", ".bashrc")


class Answers(NamedTuple):
    """Every setup answer but the password; empty values mean "not answered"."""

    recipients: Tuple[str, ...] = ()
    sender: str = ""
    method: str = ""
    sendmail_path: str = ""
    host: str = ""
    port: Optional[int] = None
    security: str = ""
    user: str = ""
    ca_file: str = ""
    password_command: str = ""
    host_label: str = ""
    timeout: float = DEFAULT_TIMEOUT
    policy: AlertPolicy = AlertPolicy()  # not asked: kept from the existing config


class KnownPassword(NamedTuple):
    """A password setup already has (stored, imported or typed before): Enter at the prompt keeps it."""

    user: str
    password: str
    what: str  # how the prompt names it


class Plan(NamedTuple):
    """What setup will do, decided before anything is written."""

    config: Config  # validated; password_store is settled when the password is stored
    password: Optional[str]  # to store; None when there is no AUTH or password_command supplies it
    legacy: LegacyFiles  # the original script's files to import (all None: no import)
    legacy_password: bool  # the legacy config's password line is to be removed once the password is stored
    send_test: bool
    notes: Tuple[str, ...]  # warnings gathered while deciding, printed first


# --- pure helpers ---------------------------------------------------------------------------------------

def security_for_port(port: int) -> str:
    """The encryption a port usually means: 465 implicit TLS, anything else STARTTLS."""
    return "ssl" if port == 465 else "starttls"


def merge(*layers: Answers) -> Answers:
    """The first non-empty value of each field, earlier layers winning (flags, then config, then legacy)."""
    values = {}
    for field in Answers._fields:
        chosen = getattr(Answers(), field)
        for layer in layers:
            value = getattr(layer, field)
            if value not in ((), "", None) and not (field == "timeout" and value == DEFAULT_TIMEOUT) \
                    and not (field == "policy" and value == AlertPolicy()):
                chosen = value
                break
        values[field] = chosen
    return Answers(**values)


def answers_from_flags(arguments: argparse.Namespace) -> Answers:
    """The answers given on the command line (paths made absolute: check runs from other directories)."""
    def absolute(path: Optional[str]) -> str:
        return os.path.abspath(os.path.expanduser(path)) if path else ""

    return Answers(recipients=split_addresses(arguments.to or ""), sender=(arguments.sender or "").strip(),
                   method=arguments.method or "", sendmail_path=absolute(arguments.sendmail_path),
                   host=(arguments.smtp_host or "").strip(), port=arguments.smtp_port,
                   security=arguments.smtp_security or "", user=(arguments.smtp_user or "").strip(),
                   ca_file=absolute(arguments.ca_file), password_command=arguments.password_command or "")


def answers_from_config(config: Config) -> Answers:
    smtp = config.smtp
    answers = Answers(recipients=config.recipients, sender=config.sender, method=config.method,
                      sendmail_path=config.sendmail_path, host_label=config.host_label, timeout=config.timeout,
                      policy=config.policy)
    if smtp is None:
        return answers
    return answers._replace(host=smtp.host, port=smtp.port, security=smtp.security, user=smtp.user,
                            ca_file=smtp.ca_file, password_command=smtp.password_command)


def answers_from_legacy(settings: LegacySettings) -> Answers:
    return Answers(recipients=settings.recipients, sender=settings.sender, method=settings.method,
                   host=settings.host, port=settings.port, security=settings.security, user=settings.user)


def complete_smtp(answers: Answers) -> Answers:
    """Fill the port from the encryption or the encryption from the port (587 and STARTTLS when neither)."""
    port, security = answers.port, answers.security
    if port is None:
        port = DEFAULT_PORTS.get(security, 587)
    if not security:
        security = security_for_port(port)
    return answers._replace(port=port, security=security)


def build_config(answers: Answers, path: Path) -> Config:
    """Render the answers and validate them as check would read them; raises UserError listing every problem."""
    smtp = None
    if answers.method == "smtp":
        smtp = SmtpSettings(host=answers.host, port=answers.port or 0, security=answers.security, user=answers.user,
                            password_store="auto", password_command=answers.password_command if answers.user else "",
                            plaintext_password="", ca_file=answers.ca_file)
    draft = Config(path=path, recipients=answers.recipients, sender=answers.sender, method=answers.method,
                   sendmail_path=answers.sendmail_path, host_label=answers.host_label, timeout=answers.timeout,
                   smtp=smtp, warnings=(), policy=answers.policy)
    try:
        text = render_config(draft)
    except ValueError as error:
        raise UserError(UNWRITABLE_VALUE.format(problem=error)) from None
    return parse_config(text, path)


def _existing_policy(paths: Paths) -> AlertPolicy:
    """The alert policy keys (notify, trusted, ...) of the current config, kept when setup rewrites it."""
    try:
        return load_config(paths.config_file).policy
    except UserError:
        return AlertPolicy()


def with_store(config: Config, store: str) -> Config:
    assert config.smtp is not None
    return config._replace(smtp=config.smtp._replace(password_store=store))


# --- entry point ----------------------------------------------------------------------------------------

def run(paths: Paths, arguments: argparse.Namespace, prompter: Optional[Prompter]) -> CommandResult:
    """Run setup; returns the lines to print and the exit code.

    Raises UserError: exit 2 for missing or invalid answers without a terminal, exit 1 when the
    connection test fails non-interactively (nothing is saved then).
    """
    legacy = find_legacy(paths)
    if arguments.non_interactive:
        plan = plan_from_flags(paths, arguments, legacy, sys.stdin)
        if plan.config.method == "smtp":
            advice = probe_advice(plan.config, plan.password, paths)
            if advice is not None:
                raise UserError("\n".join(plan.notes + (PROBE_FAILED.format(advice=advice),)),
                                ExitCode.DELIVERY_FAILED)
            plan = plan._replace(notes=plan.notes + (_passed(plan.config),))
    elif prompter is None:
        raise UserError(NEEDS_TERMINAL)
    else:
        try:
            asked = ask(paths, arguments, prompter, legacy)
        except EOFError:  # Ctrl-D at a question
            asked = None
        if asked is None:
            return CommandResult([STOPPED], ExitCode.DELIVERY_FAILED)
        plan = asked
    return apply(paths, plan, None if arguments.non_interactive or arguments.yes else prompter)


# --- non-interactive --------------------------------------------------------------------------------------

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
    answers = merge(answers_from_flags(arguments), answers_from_legacy(legacy_settings))
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
        password, password_problems = _flag_password(arguments, answers, legacy_settings, stdin)
        problems += password_problems
    recipients, sender, address_problems = _normalized(answers, special_use=arguments.no_dns_check)
    problems += address_problems
    if problems:
        raise UserError("\n".join(notes + problems))
    answers = answers._replace(recipients=recipients, sender=sender, policy=_existing_policy(paths))
    from app.settings.validate import address_notes

    notes += [note.line for note in address_notes(recipients + (sender,), dns=not arguments.no_dns_check)]
    config = build_config(answers, paths.config_file)  # UserError: exit 2, one line per problem
    return Plan(config, password, importing, bool(legacy_settings.password), not arguments.no_test_email,
                tuple(notes))


def _flag_password(arguments: argparse.Namespace, answers: Answers, legacy: LegacySettings,
                   stdin: Optional[TextIO]) -> Tuple[Optional[str], List[str]]:
    """The password from --password-stdin (first line), else the legacy config's; plus problems."""
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


# --- connection test --------------------------------------------------------------------------------------

def probe_advice(config: Config, password: Optional[str], paths: Paths) -> Optional[str]:
    """Connect, TLS, AUTH and QUIT; return None when that worked, else the advice line."""
    from app.channels.delivery import DeliveryError, probe
    from app.channels.mailname import local_ehlo_name

    assert config.smtp is not None
    try:
        if config.smtp.user and password is None:
            from app.settings.credentials import resolve_password

            password = resolve_password(config, paths)  # password_command
        probe(config, password, local_ehlo_name(config.policy.ehlo_name))
    except DeliveryError as error:
        return str(error)
    except UserError as error:
        return error.message
    return None


def _passed(config: Config) -> str:
    from app.channels.delivery import describe

    return PROBE_PASSED.format(route=describe(config))


# --- interactive ------------------------------------------------------------------------------------------

class _Asker:
    """The questions, one method each; every answer's default is the previous answer."""

    def __init__(self, arguments: argparse.Namespace, prompter: Prompter) -> None:
        self.arguments, self.prompter = arguments, prompter
        self.dns = not arguments.no_dns_check
        self.looked_up: set = set()  # domains already checked: asking again does not repeat the warning

    def confirm(self, question: str, default: bool = True) -> bool:
        return default if self.arguments.yes else self.prompter.confirm(question, default)

    def addresses(self, question: str, default: Sequence[str], single: bool) -> Tuple[str, ...]:
        """Ask until the addresses are valid and kept: a domain DNS says is missing can be typed again."""
        from app.settings.validate import address_notes, normalize_addresses

        def problem(answer: str) -> Optional[str]:
            parts = split_addresses(answer)
            if single and len(parts) > 1:
                return "one address only"
            return "; ".join(normalize_addresses(parts, special_use=not self.dns)[1]) or None

        shown = ", ".join(default)
        while True:
            answer = self.prompter.ask(question, shown, problem)
            normalized = normalize_addresses(split_addresses(answer), special_use=not self.dns)[0]
            for note in address_notes(normalized, self.dns, self.looked_up):
                self.prompter.say(note.line)
                if note.definite and not self.confirm(ASK_KEEP_ADDRESS.format(address=note.address), True):
                    self.looked_up.discard(note.address.rpartition("@")[2].lower())
                    shown = answer
                    break
            else:
                return normalized

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
        kept = known.password if known is not None and known.user == answers.user else None
        question = ASK_PASSWORD.format(user=answers.user)
        if kept is not None:
            question += KEEP_PASSWORD.format(what=known.what)  # type: ignore[union-attr]
        elif answers.password_command:
            question += KEEP_PASSWORD.format(what="password_command")
        typed = self.prompter.secret(question, allow_empty=kept is not None or bool(answers.password_command))
        if typed:
            return typed, ""
        return (kept, "") if kept is not None else (None, answers.password_command)


HOST_NAMES = "Alerts name this host {shown}; mail servers see it as {ehlo}."
HOST_NAMES_NO_FQDN = (" It has no fully qualified name ({fqdn}): set host_label in [alert] to a name you recognise "
                      "(the mail server still sees a valid name).")


def host_names_line(host_label: str) -> str:
    """What alerts call this host and the EHLO name mail servers see; advice when it has no FQDN."""
    import socket

    from app.channels.mailname import is_fqdn, local_ehlo_name

    fqdn = socket.getfqdn()
    line = HOST_NAMES.format(shown=host_label or fqdn, ehlo=local_ehlo_name())
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
        recipients = asker.addresses(ASK_TO, answers.recipients, single=False)
        sender = asker.addresses(ASK_FROM, (answers.sender,) if answers.sender else (), single=True)[0]
        answers = asker.method(answers._replace(recipients=recipients, sender=sender))
        prompter.say(host_names_line(answers.host_label))
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
            advice = probe_advice(config, password, paths)
            if advice is not None:
                prompter.say("Connection test failed: " + advice)
                choice = prompter.choose(ASK_AFTER_FAILURE, AFTER_FAILURE_CHOICES, AFTER_FAILURE_CHOICES[0])
                if choice == "change":
                    if password is not None and (known is None or password != known.password):
                        known = KnownPassword(answers.user, password, "the password typed before")
                    continue
                if choice == "quit":
                    return None
                notes.append("Saved although the connection test failed: " + advice)
            else:
                prompter.say(_passed(config))
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


# --- effects ---------------------------------------------------------------------------------------------

def apply(paths: Paths, plan: Plan, prompter: Optional[Prompter] = None) -> CommandResult:
    """Store the password, write the config, migrate, send the test alert and run the first check.

    With a prompter (a terminal, no --yes), it asks whether the test email arrived.
    """
    from app.system.files import write_private

    lines = list(plan.notes)
    config = plan.config
    stored = False
    if config.smtp is not None and config.smtp.user:
        if plan.password is not None:
            from app.settings.credentials import store_password

            where = store_password(paths, config.smtp.user, plan.password, paths.config_file)
            config = with_store(config, where.store)
            lines.append(PASSWORD_STORED.format(description=where.description))
            stored = True
        elif config.smtp.password_command:
            lines.append(PASSWORD_COMMAND)
    try:
        write_private(paths.config_file, render_config(config).encode("utf-8"))
    except OSError as error:
        raise UserError(CONFIG_UNWRITABLE.format(path=paths.config_file, reason=error.strerror or error)) from None
    lines.append(CONFIG_WRITTEN.format(path=paths.config_file))
    wait = config.policy.hook_wait
    lines.append(HOOK_WAIT_CHOSEN.format(seconds=wait) if wait else HOOK_WAIT_OFF)
    from app.alerting.handoff import sync_hook_wait

    sync_hook_wait(paths.hook_wait_file, wait)
    lines += _migrate(paths, plan, stored)
    exit_code = ExitCode.OK
    if plan.send_test:
        if prompter is not None:
            say_all(prompter, lines)
            lines = []
        test_lines, delivered = test_email(paths, config, prompter)
        lines += test_lines
        exit_code = ExitCode.OK if delivered else ExitCode.DELIVERY_FAILED
    else:
        problem = local_only_problem(config)
        lines += [LOCAL_ONLY_WARNING.format(problem=problem)] if problem else []
    line, checked = first_check(paths)
    lines.append(line)
    if not checked:
        exit_code = ExitCode.DELIVERY_FAILED
    if not hooks_installed(paths):
        lines.append(SUGGEST_INSTALL_LEGACY if find_legacy(paths).found else SUGGEST_INSTALL)
    return CommandResult(lines, exit_code)


def _migrate(paths: Paths, plan: Plan, stored: bool) -> List[str]:
    """Move the legacy password out of its file and import the legacy log; returns what was done."""
    from app.system.files import LockTimeout
    from app.install.legacy import import_log, log_import_blocker, read_log_import, remove_password

    lines = []
    legacy = plan.legacy
    if legacy.config is not None and plan.legacy_password:
        if not stored:
            lines.append(LEGACY_PASSWORD_LEFT.format(path=legacy.config))
        else:
            try:
                remove_password(legacy.config)
                lines.append(LEGACY_PASSWORD_MOVED.format(path=legacy.config))
            except (OSError, UnicodeDecodeError) as error:
                lines.append(LEGACY_PASSWORD_NOT_REMOVED.format(path=legacy.config,
                                                                reason=getattr(error, "strerror", None) or error))
    if legacy.log is None:
        return lines
    blocker = log_import_blocker(paths)
    if blocker:
        return lines + [LEGACY_LOG_SKIPPED.format(log=legacy.log, reason=blocker)]
    try:
        log_import = read_log_import(legacy, paths)
        if log_import.warning:
            lines.append(log_import.warning)
        if log_import.total == 0:
            return lines + [LEGACY_LOG_SKIPPED.format(log=legacy.log, reason="it holds no logins")]
        if not import_log(paths, log_import):
            return lines + [LEGACY_LOG_SKIPPED.format(log=legacy.log, reason=log_import_blocker(paths))]
    except (OSError, LockTimeout) as error:
        reason = getattr(error, "strerror", None) or "another check holds the lock"
        return lines + [LEGACY_LOG_SKIPPED.format(log=legacy.log, reason=reason)]
    lines.append(LEGACY_LOG_IMPORTED.format(total=log_import.total, log=legacy.log, ours=paths.login_log,
                                            alerted=log_import.total - log_import.pending,
                                            pending=log_import.pending))
    lines += _mark_legacy_alerted(paths, log_import.raw_lines)
    return lines


def _mark_legacy_alerted(paths: Paths, count: int) -> List[str]:
    """Tell the original script (still running until install) that every imported line is alerted."""
    from app.install.legacy import write_legacy_state

    try:
        write_legacy_state(paths.legacy_state, count)
    except OSError as error:
        return ["warning: cannot update {}: {}".format(paths.legacy_state, error.strerror or error)]
    return [LEGACY_STATE_UPDATED.format(state=paths.legacy_state, count=count)]


def hooks_installed(paths: Paths) -> bool:
    """True when a login hook block is in one of the files install writes."""
    from app.install.hooks import BEGIN

    for name in HOOK_FILES:
        try:
            if BEGIN in (paths.home / name).read_text(encoding="utf-8", errors="replace"):
                return True
        except OSError:
            continue
    return False
