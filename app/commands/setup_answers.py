"""setup's answers: their shape, how layers of them merge, the config they make, and the connection test.

Answers come from flags, the current config and the original script's config (in that order of precedence);
nothing here asks or writes.
"""

from __future__ import annotations

from pathlib import Path

from app.errors import UserError
from app.install.legacy import LegacyFiles, LegacySettings
from app.settings.schema import complete_port_security
from app.settings.config import DEFAULT_TIMEOUT, AlertPolicy, Config, SmtpSettings, load_config, parse_config
from app.settings.configwrite import render_config
from app.system.paths import Paths
from app.system.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Optional, Tuple

BAD_PORT = "{port} is not a port number (1-65535)"
UNWRITABLE_VALUE = "{problem}"
PROBE_PASSED = "Connection test passed: {route}; nothing was sent."


class Answers(Record):
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
    password_store: str = ""  # where the current password is kept; "" for a new one (setup stores it)
    host_label: str = ""
    timeout: float = DEFAULT_TIMEOUT
    policy: AlertPolicy = AlertPolicy()  # not asked: kept from the existing config


class KnownPassword(Record):
    """A password setup already has (stored, imported or typed before): Enter at the prompt keeps it."""

    user: str
    password: str
    what: str  # how the prompt names it


class Plan(Record):
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
    return complete_port_security(port, "")[1]


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


def answers_from_config(config: Config) -> Answers:
    smtp = config.smtp
    answers = Answers(recipients=config.recipients, sender=config.sender, method=config.method,
                      sendmail_path=config.sendmail_path, host_label=config.host_label, timeout=config.timeout,
                      policy=config.policy)
    if smtp is None:
        return answers
    return answers._replace(host=smtp.host, port=smtp.port, security=smtp.security, user=smtp.user,
                            ca_file=smtp.ca_file, password_command=smtp.password_command,
                            password_store=smtp.password_store)


def answers_from_legacy(settings: LegacySettings) -> Answers:
    return Answers(recipients=settings.recipients, sender=settings.sender, method=settings.method,
                   host=settings.host, port=settings.port, security=settings.security, user=settings.user)


def complete_smtp(answers: Answers) -> Answers:
    """Fill the port from the encryption or the encryption from the port (587 and STARTTLS when neither)."""
    port, security = complete_port_security(answers.port, answers.security)
    return answers._replace(port=port, security=security)


def build_config(answers: Answers, path: Path) -> Config:
    """Render the answers and validate them as check would read them; raises UserError listing every problem."""
    smtp = None
    if answers.method == "smtp":
        smtp = SmtpSettings(host=answers.host, port=answers.port or 0, security=answers.security, user=answers.user,
                            password_store=answers.password_store or "auto",
                            password_command=answers.password_command if answers.user else "",
                            plaintext_password="", ca_file=answers.ca_file)
    draft = Config(path=path, recipients=answers.recipients, sender=answers.sender, method=answers.method,
                   sendmail_path=answers.sendmail_path, host_label=answers.host_label, timeout=answers.timeout,
                   smtp=smtp, warnings=(), policy=answers.policy)
    try:
        text = render_config(draft)
    except ValueError as error:
        raise UserError(UNWRITABLE_VALUE.format(problem=error)) from None
    return parse_config(text, path)


def existing_policy(paths: Paths) -> AlertPolicy:
    """The alert policy keys (notify, trusted, ...) of the current config, kept when setup rewrites it."""
    try:
        return load_config(paths.config_file).policy
    except UserError:
        return AlertPolicy()


def current_answers(paths: Paths) -> Answers:
    """The current config's answers (setup's defaults), or none when there is no valid config."""
    try:
        return answers_from_config(load_config(paths.config_file))
    except UserError:
        return Answers()


# --- connection test --------------------------------------------------------------------------------------

def probe_advice(config: Config, password: Optional[str], paths: Paths,
                 progress: Optional[Callable[[str], None]] = None) -> Optional[str]:
    """Connect, TLS, AUTH and QUIT; return None when that worked, else the advice line. progress is told
    each stage as it starts."""
    from app.channels.delivery import DeliveryError
    from app.channels.smtp import probe
    from app.channels.mailname import local_ehlo_name

    assert config.smtp is not None
    try:
        if config.smtp.user and password is None:
            from app.settings.credentials import resolve_password

            password = resolve_password(config, paths)  # password_command
        probe(config, password, local_ehlo_name(config.policy.ehlo_name), progress)
    except DeliveryError as error:
        return str(error)
    except UserError as error:
        return error.message
    return None


def passed_line(config: Config) -> str:
    from app.channels.delivery import describe

    return PROBE_PASSED.format(route=describe(config))

