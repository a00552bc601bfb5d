"""Delivery: hand a rendered message to sendmail or to an SMTP server with verified TLS.

Every failure becomes a DeliveryError whose text says what went wrong and what to change; nothing
here ever includes the password.
"""

import smtplib
import socket
import ssl
from typing import Callable, List, Optional, Sequence

from app.config import Config, SmtpSettings, is_loopback_host

SENDMAIL_FLAGS = ("-t", "-oi")  # recipients from the headers; a lone "." line is not the end of input


class DeliveryError(Exception):
    """The message was not accepted; str() is a one-line reason with advice."""


def sendmail_argv(path: str) -> List[str]:
    """The sendmail command line: never any address or secret in argv, they travel in the message."""
    return [path, *SENDMAIL_FLAGS]


def describe(config: Config) -> str:
    """One line naming the delivery route, e.g. ``smtp mail.example.com:587 (STARTTLS, verified certificate)``."""
    if config.method == "sendmail":
        return "sendmail ({})".format(config.sendmail_path)
    smtp = config.smtp
    assert smtp is not None
    security = {"ssl": "implicit TLS, verified certificate", "starttls": "STARTTLS, verified certificate",
                "none": "unencrypted"}[smtp.security]
    return "smtp {}:{} ({}{})".format(smtp.host, smtp.port, security, ", AUTH as " + smtp.user if smtp.user else "")


def explain(error: BaseException, smtp: Optional[SmtpSettings], timeout: float) -> str:
    """Turn an exception from smtplib/ssl/socket into a one-line reason with advice (pure)."""
    where = "{}:{}".format(smtp.host, smtp.port) if smtp else "the server"
    if isinstance(error, smtplib.SMTPServerDisconnected) and isinstance(error.__context__, (socket.timeout,
                                                                                            TimeoutError)):
        error = error.__context__  # smtplib reports a read timeout as a disconnect
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return "{} refused the user name or password for {} ({}); re-run setup to store the right password".format(
            where, smtp.user if smtp else "?", _smtp_text(error.smtp_code, error.smtp_error))
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
    if isinstance(error, (socket.timeout, TimeoutError)):
        return "no answer from {} within {:g} s (server down, or a firewall dropping the port)".format(where, timeout)
    if isinstance(error, ConnectionRefusedError):
        return "{} refused the connection (wrong port, or the server is down)".format(where)
    if isinstance(error, socket.gaierror):
        return "host name {} not found ({})".format(smtp.host if smtp else "?", error.strerror)
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return "{} does not offer STARTTLS; refusing to continue unencrypted (security = starttls)".format(where)
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        refused = ", ".join("{} ({})".format(address, _smtp_text(*reply))
                            for address, reply in sorted(error.recipients.items()))
        return "{} refused recipient(s): {}; fix [alert] to".format(where, refused)
    if isinstance(error, smtplib.SMTPSenderRefused):
        return "{} refused the sender {} ({}); set [alert] from to an address it accepts".format(
            where, error.sender, _smtp_text(error.smtp_code, error.smtp_error))
    if isinstance(error, smtplib.SMTPResponseException):
        return "{} answered {}".format(where, _smtp_text(error.smtp_code, error.smtp_error))
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return "{} closed the connection ({})".format(where, error or "no reason given")
    if isinstance(error, OSError):
        return "cannot reach {}: {}".format(where, error.strerror or error)
    return "{}: {}".format(type(error).__name__, error)


def _smtp_text(code: int, text: object) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return " ".join("{} {}".format(code, text).split())[:200]


class SmtpTransport:
    """One SMTP session, opened on the first send and reused for the rest of the run."""

    def __init__(self, config: Config, password: Callable[[], Optional[str]], local_hostname: str) -> None:
        assert config.smtp is not None
        self.config = config
        self.smtp = config.smtp
        self.password = password
        self.local_hostname = local_hostname
        self.session: Optional[smtplib.SMTP] = None

    def _connect(self) -> smtplib.SMTP:
        smtp, timeout = self.smtp, self.config.timeout
        # Loading the system CA store costs ~30 ms: only TLS sessions pay for it.
        context = ssl.create_default_context(cafile=smtp.ca_file or None) if smtp.security != "none" else None
        if smtp.security == "ssl":
            session: smtplib.SMTP = smtplib.SMTP_SSL(smtp.host, smtp.port, local_hostname=self.local_hostname,
                                                     timeout=timeout, context=context)
        else:
            session = smtplib.SMTP(smtp.host, smtp.port, local_hostname=self.local_hostname, timeout=timeout)
        try:
            session.ehlo()
            if smtp.security == "starttls":
                if not session.has_extn("starttls"):
                    raise smtplib.SMTPNotSupportedError("STARTTLS extension not supported by server.")
                session.starttls(context=context)
                session.ehlo()
            if smtp.user:
                if smtp.security == "none" and not is_loopback_host(smtp.host):
                    raise DeliveryError("refusing to send a password unencrypted to {}".format(smtp.host))
                session.login(smtp.user, self.password() or "")
        except BaseException:
            session.close()
            raise
        return session

    def send(self, message: bytes, recipients: Sequence[str]) -> None:
        """Deliver message (wire bytes, CRLF) to every recipient or to none; raises DeliveryError."""
        try:
            if self.session is None:
                self.session = self._connect()
            session = self.session
            code, reply = session.mail(self.config.sender)
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, reply, self.config.sender)
            refused = {}
            for address in recipients:
                code, reply = session.rcpt(address)
                if code not in (250, 251):
                    refused[address] = (code, reply)
            if refused:
                # All or nothing: a retry must not give the accepted recipients a second copy.
                session.rset()
                raise smtplib.SMTPRecipientsRefused(refused)
            code, reply = session.data(message)
            if code != 250:
                raise smtplib.SMTPDataError(code, reply)
        except DeliveryError:
            self.close()
            raise
        except (smtplib.SMTPException, OSError) as error:
            self.close()
            raise DeliveryError(explain(error, self.smtp, self.config.timeout)) from None

    def close(self) -> None:
        """End the session politely if it is open; never raises."""
        session, self.session = self.session, None
        if session is not None:
            try:
                session.quit()
            except (smtplib.SMTPException, OSError):
                session.close()


def probe(config: Config, password: Optional[str], local_hostname: str) -> None:
    """Connect to config's SMTP server, do TLS and AUTH exactly as sending would, then QUIT without sending.

    Raises DeliveryError with advice (wrong password, untrusted certificate, timeout, refused, unknown host).
    """
    transport = SmtpTransport(config, lambda: password, local_hostname)
    try:
        transport.session = transport._connect()
    except DeliveryError:
        raise
    except (smtplib.SMTPException, OSError) as error:
        raise DeliveryError(explain(error, config.smtp, config.timeout)) from None
    finally:
        transport.close()


class SendmailTransport:
    """Pipe each message to a sendmail-compatible binary (``-t -oi``)."""

    def __init__(self, config: Config) -> None:
        self.config = config

    def send(self, message: bytes, recipients: Sequence[str]) -> None:
        """Deliver message (wire bytes) through sendmail; raises DeliveryError on a failure or a non-zero exit."""
        from app import proc  # subprocess: only the sendmail route pays for it

        path = self.config.sendmail_path
        data = message.replace(b"\r\n", b"\n")  # sendmail reads local line ends
        try:
            finished = proc.run(sendmail_argv(path), stdin=data, timeout=self.config.timeout)
        except proc.TimedOut as error:
            raise DeliveryError(str(error)) from None
        except OSError as error:
            raise DeliveryError("cannot run {}: {}".format(path, error.strerror or error)) from None
        if finished.returncode != 0:
            detail = proc.first_line(finished.stderr) or proc.first_line(finished.stdout) or "no message"
            raise DeliveryError("{} exited with status {}: {}".format(path, finished.returncode, detail))

    def close(self) -> None:
        pass


def open_transport(config: Config, password: Callable[[], Optional[str]], local_hostname: str):  # type: ignore
    """Return a transport for config's method; password is called only if the server needs AUTH."""
    if config.method == "sendmail":
        return SendmailTransport(config)
    return SmtpTransport(config, password, local_hostname)
