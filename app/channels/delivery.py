"""Delivery: hand a rendered message to sendmail or to an SMTP server with verified TLS (app.channels.smtp).

Every failure becomes a DeliveryError whose text says what to change; nothing here ever includes the
password. The transport of a run is chosen by open_transport; the sendmail route never loads smtplib.
"""

from __future__ import annotations

from app.settings.config import Config
from app.system.record import Record
from app.system.text import printable
from app.channels.mailname import wire_address

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, List, Optional, Sequence, Tuple, TypeAlias, Union

    from app.channels.smtp import SmtpTransport

SENDMAIL_FLAGS = ("-t", "-oi")  # recipients from the headers; a lone "." line is not the end of input


class DeliveryError(Exception):
    """The message was not accepted; str() is a one-line reason with advice."""


class AllDeferred(DeliveryError):
    """Every recipient answered 4xx at RCPT: the server works, each recipient is retried on its own (result)."""

    def __init__(self, reason: str, result: "SendResult") -> None:
        super().__init__(reason)
        self.result = result


class SendResult(Record):
    """What one attempt did for each recipient."""

    accepted: Tuple[str, ...] = ()
    refused: Tuple[Tuple[str, str], ...] = ()  # permanently (5xx): (address, reply)
    deferred: Tuple[Tuple[str, str], ...] = ()  # temporarily (4xx): retried


def sendmail_argv(path: str, sender: str) -> List[str]:
    """The sendmail command line: -f sets the envelope sender (else it is the Unix user, and Exim adds a
    Sender: header that spam filters score); recipients and every secret travel in the message, not argv."""
    return [path, *SENDMAIL_FLAGS, "-f", sender]


NO_EMAIL = "no email: alerts go to {channels}"


def describe(config: Config) -> str:
    """One line naming the delivery route, e.g. ``smtp mail.example.com:587 (STARTTLS, verified certificate)``."""
    if not config.emails:
        return NO_EMAIL.format(channels=", ".join(config.channels))
    if config.method == "sendmail":
        return "sendmail ({})".format(config.sendmail_path)
    smtp = config.smtp
    assert smtp is not None
    security = {"ssl": "implicit TLS, verified certificate", "starttls": "STARTTLS, verified certificate",
                "none": "unencrypted"}[smtp.security]
    return "smtp {}:{} ({}{})".format(smtp.host, smtp.port, security, ", AUTH as " + smtp.user if smtp.user else "")


class SendmailTransport:
    """Pipe each message to a sendmail-compatible binary (``-t -oi``)."""

    def __init__(self, config: Config) -> None:
        self.config = config

    def send(self, message: bytes, recipients: Sequence[str]) -> SendResult:
        """Deliver message (wire bytes) through sendmail; raises DeliveryError on a failure or a non-zero exit.
        sendmail takes the message for every recipient or for none."""
        from app.system import proc  # subprocess: only the sendmail route pays for it

        path = self.config.sendmail_path
        from app.settings.mta import local_only_problem

        problem = local_only_problem(path, recipients)  # it would accept, then bounce: nothing would arrive
        if problem:
            raise DeliveryError(problem)
        data = message.replace(b"\r\n", b"\n")  # sendmail reads local line ends
        try:
            finished = proc.run(sendmail_argv(path, wire_address(self.config.sender)), stdin=data,
                                timeout=self.config.timeout)
        except proc.TimedOut as error:
            raise DeliveryError(str(error)) from None
        except OSError as error:
            raise DeliveryError("cannot run {}: {}".format(path, error.strerror or error)) from None
        if finished.returncode != 0:
            detail = proc.first_line(finished.stderr) or proc.first_line(finished.stdout) or "no message"
            raise DeliveryError("{} exited with status {}: {}".format(path, finished.returncode, printable(
                detail, 200)))
        return SendResult(accepted=tuple(recipients))

    def close(self) -> None:
        pass


class NoMailTransport:
    """The transport of a config whose alerts do not go by email (push only): nothing is ever queued for it."""

    def send(self, message: bytes, recipients: Sequence[str]) -> SendResult:
        raise DeliveryError("alerts do not go by email here ([alert] channels has no email)")

    def close(self) -> None:
        pass


Transport: TypeAlias = "Union[SmtpTransport, SendmailTransport, NoMailTransport]"


def open_transport(config: Config, password: Callable[[], Optional[str]], local_hostname: str) -> Transport:
    """Return a transport for config's method (one that sends nothing when alerts do not go by email);
    password is called only if the server needs AUTH."""
    if not config.emails:
        return NoMailTransport()
    if config.method == "sendmail":
        return SendmailTransport(config)
    from app.channels.smtp import SmtpTransport

    return SmtpTransport(config, password, local_hostname)
