"""What went wrong with the mail server, in one line naming the SMTP stage and reply, with advice that fits.

Pure: takes the exception smtplib/ssl/socket raised and the stage the session was in; returns the line.
A server's reply text is shown escaped (an ESC or OSC sequence in it never reaches a terminal raw).
"""

from __future__ import annotations

import smtplib
import socket

from app.settings.config import SmtpSettings
from app.system.text import printable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

# Stages of one SMTP session, as failures name them.
CONNECT, GREETING, EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA, FINAL_DOT = (
    "connect", "greeting", "EHLO", "STARTTLS", "AUTH", "MAIL FROM", "RCPT TO", "DATA", "end of data")


class SessionError(Exception):
    """A stage of the session failed in a way smtplib does not raise itself; str() is the line."""


class SessionDeadline(TimeoutError):
    """The session's overall deadline passed (a server that trickles its replies); seconds is that deadline."""

    def __init__(self, seconds: float) -> None:
        super().__init__("session deadline")
        self.seconds = seconds


def reply_text(code: int, text: object) -> str:
    """'550 5.1.1 no such user' from a reply, whitespace folded, control characters escaped, cut."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return printable(" ".join("{} {}".format(code, text).split()), 200)


def explain(error: BaseException, smtp: Optional[SmtpSettings], timeout: float, stage: str = CONNECT,
            password_from_command: bool = False) -> str:
    """Turn an exception from smtplib/ssl/socket at stage into a one-line reason with advice."""
    import ssl  # here: a run without TLS never loads it (app.system.lazy)

    where = "{}:{}".format(smtp.host, smtp.port) if smtp else "the server"
    if isinstance(error, SessionError):
        return str(error)
    if isinstance(error, smtplib.SMTPServerDisconnected) and isinstance(error.__context__, (socket.timeout,
                                                                                            TimeoutError)):
        error = error.__context__  # smtplib reports a read timeout as a disconnect
    if isinstance(error, smtplib.SMTPAuthenticationError):
        advice = ("check what password_command prints" if password_from_command
                  else "re-run setup to store the right password")
        return "{} refused the user name or password for {} at {} ({}); {}".format(
            where, smtp.user if smtp else "?", AUTH, reply_text(error.smtp_code, error.smtp_error), advice)
    if isinstance(error, ssl.SSLCertVerificationError):
        detail = error.verify_message or str(error)
        if "mismatch" in detail.lower() or "hostname" in detail.lower():
            return "the certificate of {} is not valid for that name ({}); use the host name the certificate " \
                   "names".format(where, detail)
        return "the certificate of {} is not trusted ({}); if the server uses a private CA, set ca_file " \
               "= its PEM file".format(where, detail)
    if isinstance(error, ssl.SSLError):
        hint = ""
        if smtp and smtp.security == "ssl" and "WRONG_VERSION_NUMBER" in str(error).upper():
            hint = "; port {} may expect STARTTLS: set security = starttls".format(smtp.port)
        return "TLS with {} failed ({}){}".format(where, error.reason or error, hint)
    if isinstance(error, TimeoutError) and str(error) == "session deadline":
        seconds: float = getattr(error, "seconds", timeout * 3)
        return "{} had not finished {} after {:g} s (a server that trickles its replies); the alert stays " \
               "pending".format(where, stage, seconds)
    if isinstance(error, (socket.timeout, TimeoutError)):
        if stage == GREETING and smtp and smtp.security != "ssl" and smtp.port == 465:
            return "{} sent no greeting within {:g} s: port 465 expects implicit TLS; set security = ssl".format(
                where, timeout)
        if stage == CONNECT:
            return "no answer from {} within {:g} s (server down, or a firewall dropping the port)".format(
                where, timeout)
        if stage == GREETING:
            return "no answer from {} within {:g} s at {}: it took the connection but sent no greeting (an " \
                   "overloaded server, or not an SMTP port)".format(where, timeout, GREETING)
        return "{} stopped answering at {} (no reply within {:g} s)".format(where, stage, timeout)
    if isinstance(error, ConnectionRefusedError):
        return "{} refused the connection (wrong port, or the server is down)".format(where)
    if isinstance(error, socket.gaierror):
        return "host name {} not found ({})".format(smtp.host if smtp else "?", error.strerror)
    if isinstance(error, smtplib.SMTPHeloError):
        return "{} refused our EHLO ({}); its policy rejects this host's name".format(
            where, reply_text(error.smtp_code, error.smtp_error))
    if isinstance(error, smtplib.SMTPNotSupportedError):
        if stage == AUTH:
            return "{} does not offer AUTH{}; check user and security".format(
                where, " even after STARTTLS" if smtp and smtp.security == "starttls" else "")
        return "{} does not offer STARTTLS; refusing to continue unencrypted (security = starttls)".format(where)
    if isinstance(error, smtplib.SMTPSenderRefused):
        return "{} refused the sender {} at {} ({}); set [alert] from to an address it accepts".format(
            where, printable(str(error.sender), 2000), MAIL, reply_text(error.smtp_code, error.smtp_error))
    if isinstance(error, smtplib.SMTPResponseException):
        temporary = 400 <= error.smtp_code < 500
        return "{} answered {} at {}{}".format(where, reply_text(error.smtp_code, error.smtp_error), stage,
                                               " (temporary: retried)" if temporary else "")
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return "{} closed the connection at {} ({})".format(where, stage, error or "no reason given")
    if isinstance(error, OSError):
        return "cannot reach {}: {}".format(where, error.strerror or error)
    return "{}: {}".format(type(error).__name__, error)
