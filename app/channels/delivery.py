"""Delivery: hand a rendered message to sendmail or to an SMTP server with verified TLS.

Every failure becomes a DeliveryError whose text names the SMTP stage and reply and says what to change
(app.channels.diagnose); nothing here ever includes the password. An SMTP session gets an overall deadline until
DATA (a server that trickles its banner cannot hold the run), then waits for the reply to the final dot as
long as RFC 5321 §4.5.3.2.6 says (10 minutes), or ten times ``timeout`` when that is shorter: giving up early
risks a duplicate of a message the server already queued, which the retry's same Message-ID makes recognisable.
A timeout at any stage is a DeliveryError naming the stage; the message stays in the outbox. Recipients are
delivered one by one: each accepting recipient gets exactly one copy.
"""

from typing import Callable, List, NamedTuple, Optional, Sequence, Tuple

from app.system.lazy import import_deferring

# ssl and hmac load when TLS or CRAM-MD5 is used; email.* (send_message, address parsing) not at all (_Envelope)
import_deferring("smtplib", ("ssl", "hmac", "email.utils", "email.message", "email.generator"))
import smtplib  # noqa: E402
from app.system.alarm import alarm
from app.settings.config import Config, is_loopback_host
from app.channels.diagnose import AUTH, CONNECT, DATA, EHLO, FINAL_DOT, GREETING, MAIL, RCPT, STARTTLS, \
    SessionDeadline, SessionError, explain, reply_text
from app.system.text import printable
from app.channels.mailname import needs_smtputf8, wire_address

SENDMAIL_FLAGS = ("-t", "-oi")  # recipients from the headers; a lone "." line is not the end of input
FINAL_DOT_SECONDS = 600.0  # RFC 5321 §4.5.3.2.6, the most the reply to the final dot is waited for
FINAL_DOT_TIMES_TIMEOUT = 10  # ... and at most this many timeouts: a short timeout is a wish to be told sooner
DEADLINE_TIMES_TIMEOUT = 3  # the whole session until DATA, in multiples of timeout


class DeliveryError(Exception):
    """The message was not accepted; str() is a one-line reason with advice."""


class AllDeferred(DeliveryError):
    """Every recipient answered 4xx at RCPT: the server works, each recipient is retried on its own (result)."""

    def __init__(self, reason: str, result: "SendResult") -> None:
        super().__init__(reason)
        self.result = result


class SendResult(NamedTuple):
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


def final_dot_seconds(timeout: float) -> float:
    """How long the reply to the final dot is waited for, given the configured timeout (pure)."""
    return max(timeout, min(FINAL_DOT_SECONDS, timeout * FINAL_DOT_TIMES_TIMEOUT))


def deadline(seconds: float):  # type: ignore[no-untyped-def]
    """The session's overall deadline: TimeoutError("session deadline") when it runs longer than seconds."""
    return alarm(seconds, lambda: SessionDeadline(seconds))


def quoted_data(message: bytes) -> bytes:
    """The DATA payload: lines starting with a dot doubled, ended by CRLF . CRLF (what smtplib's data() does)."""
    import re

    body = re.sub(br"(?m)^\.", b"..", message)
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    return body + b".\r\n"


AUTH_PREFERENCE = ("PLAIN", "LOGIN", "CRAM-MD5")  # over TLS, PLAIN is one round trip every server knows


def best_mechanism(offered: str) -> Optional[str]:
    """The one AUTH mechanism to try from the server's AUTH line (pure); None when none is usable."""
    words = offered.upper().split()
    return next((mechanism for mechanism in AUTH_PREFERENCE if mechanism in words), None)


def login(session: smtplib.SMTP, user: str, password: str) -> None:
    """AUTH with one mechanism, the best offered: smtplib's login() tries every mechanism in turn, so one wrong
    password would count as two or three failed logins at the server (and towards its lockout). A user name
    or password beyond ASCII goes as UTF-8 with PLAIN or LOGIN (smtplib would crash)."""
    if (user + password).isascii():
        mechanism = best_mechanism(session.esmtp_features.get("auth", ""))
        if mechanism is None:
            raise smtplib.SMTPException("No suitable authentication method found.")
        session.user, session.password = user, password  # what smtplib's auth_* methods read
        session.auth(mechanism, getattr(session, "auth_" + mechanism.lower().replace("-", "_")))
        return
    import base64

    mechanisms = session.esmtp_features.get("auth", "").upper().split()

    def encoded(text: bytes) -> str:
        return base64.b64encode(text).decode("ascii")

    if "PLAIN" in mechanisms:
        code, reply = session.docmd("AUTH", "PLAIN " + encoded(b"\0" + user.encode() + b"\0" + password.encode()))
    elif "LOGIN" in mechanisms:
        code, reply = session.docmd("AUTH", "LOGIN " + encoded(user.encode()))
        if code == 334:
            code, reply = session.docmd(encoded(password.encode()))
    else:
        raise smtplib.SMTPException("no UTF-8 capable AUTH mechanism (PLAIN, LOGIN) offered")
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, reply)


class _Envelope:
    """smtplib.SMTP's mail() and rcpt() writing a plain address (an addr-spec: what the config holds) as
    <address>, which is what smtplib's quoteaddr returns for it, without email.utils.parseaddr: importing it
    costs about 7 ms of every login (app.system.lazy). Anything else goes through smtplib's own."""

    def mail(self, sender: str, options: Sequence[str] = ()) -> Tuple[int, bytes]:
        session: smtplib.SMTP = self  # type: ignore[assignment]
        if not plain_address(sender):
            return super().mail(sender, options)  # type: ignore[misc]
        if any(option.lower() == "smtputf8" for option in options) and session.does_esmtp:
            if not session.has_extn("smtputf8"):
                raise smtplib.SMTPNotSupportedError("SMTPUTF8 not supported by server")
            session.command_encoding = "utf-8"
        session.putcmd("mail", "FROM:<{}>{}".format(sender, _option_list(session, options)))
        return session.getreply()

    def rcpt(self, recipient: str, options: Sequence[str] = ()) -> Tuple[int, bytes]:
        session: smtplib.SMTP = self  # type: ignore[assignment]
        if not plain_address(recipient):
            return super().rcpt(recipient, options)  # type: ignore[misc]
        session.putcmd("rcpt", "TO:<{}>{}".format(recipient, _option_list(session, options)))
        return session.getreply()


_ATOM = "[^\\x00-\\x20\\x7f()<>\\[\\]:;@\\\\,.\"]+"  # RFC 5322 atext, and any non-ASCII (RFC 6531)
_PLAIN_ADDRESS = "{atom}(?:\\.{atom})*@[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)*".format(atom=_ATOM)


def plain_address(address: str) -> bool:
    """True for a dot-atom local part @ a host name: smtplib's quoteaddr returns it as <address> (pure)."""
    import re

    return re.fullmatch(_PLAIN_ADDRESS, address) is not None


def _option_list(session: smtplib.SMTP, options: Sequence[str]) -> str:
    return " " + " ".join(options) if options and session.does_esmtp else ""


class _StagedSMTP(_Envelope, smtplib.SMTP):
    """smtplib.SMTP that says when its socket is connected, so a silent server is told from an unreachable one."""

    connected: Callable[[], None] = staticmethod(lambda: None)  # type: ignore[assignment]

    def _get_socket(self, host, port, timeout):  # type: ignore[no-untyped-def]
        sock = super()._get_socket(host, port, timeout)
        self.connected()
        return sock


class _StagedSMTPSSL(_Envelope, smtplib.SMTP_SSL):
    """smtplib.SMTP_SSL that says when its socket (TLS included) is connected."""

    connected: Callable[[], None] = staticmethod(lambda: None)  # type: ignore[assignment]

    def _get_socket(self, host, port, timeout):  # type: ignore[no-untyped-def]
        sock = super()._get_socket(host, port, timeout)
        self.connected()
        return sock


class SmtpTransport:
    """One SMTP session, opened on the first send and reused for the rest of the run."""

    def __init__(self, config: Config, password: Callable[[], Optional[str]], local_hostname: str) -> None:
        assert config.smtp is not None
        self.config = config
        self.smtp = config.smtp
        self.password = password
        self.local_hostname = local_hostname
        self.session: Optional[smtplib.SMTP] = None
        self.on_stage: Optional[Callable[[str], None]] = None  # told each stage as it starts (setup's test)
        self._stage = CONNECT

    @property
    def stage(self) -> str:
        return self._stage

    @stage.setter
    def stage(self, stage: str) -> None:
        self._stage = stage
        if self.on_stage is not None:
            self.on_stage(stage)

    def _connect(self) -> smtplib.SMTP:
        smtp, timeout = self.smtp, self.config.timeout
        context = None
        if smtp.security != "none":  # ssl and the system CA store (~30 ms): only TLS sessions pay for them
            import ssl

            context = ssl.create_default_context(cafile=smtp.ca_file or None)
        self.stage = CONNECT
        kind = _StagedSMTPSSL if smtp.security == "ssl" else _StagedSMTP
        session = kind(local_hostname=self.local_hostname, timeout=timeout,
                       **({"context": context} if smtp.security == "ssl" else {}))
        session.connected = self._connected
        session._host = smtp.host  # what __init__ would set: TLS checks the certificate against it
        try:
            code, reply = session.connect(smtp.host, smtp.port)
            if code != 220:
                raise smtplib.SMTPConnectError(code, reply)
            self.stage = EHLO
            self._ehlo(session)
            if smtp.security == "starttls":
                self.stage = STARTTLS
                if not session.has_extn("starttls"):
                    raise smtplib.SMTPNotSupportedError("STARTTLS extension not supported by server.")
                session.starttls(context=context)
                self.stage = EHLO
                self._ehlo(session)
            if smtp.user:
                self.stage = AUTH
                if smtp.security == "none" and not is_loopback_host(smtp.host):
                    raise SessionError("refusing to send a password unencrypted to {}".format(smtp.host))
                if not session.has_extn("auth"):
                    raise smtplib.SMTPNotSupportedError("AUTH not offered")
                login(session, smtp.user, self.password() or "")
        except BaseException:
            session.close()
            raise
        return session

    def _connected(self) -> None:
        self.stage = GREETING  # connect() reads the greeting once the socket (and implicit TLS) is up

    @staticmethod
    def _ehlo(session: smtplib.SMTP) -> None:
        code, reply = session.ehlo()
        if code != 250:
            raise smtplib.SMTPHeloError(code, reply)

    def send(self, message: bytes, recipients: Sequence[str]) -> SendResult:
        """Deliver message (wire bytes, CRLF) to each recipient that accepts it; returns who accepted, who
        refused for good (5xx) and who is to be retried (4xx). Raises DeliveryError when nobody accepted and
        some are to be retried, or the session failed."""
        try:
            with deadline(self.config.timeout * DEADLINE_TIMES_TIMEOUT):
                if self.session is None:
                    self.session = self._connect()
                session = self.session
                accepted, refused, deferred = self._envelope(session, recipients)
            if accepted:
                self._data(session, message)
            else:
                session.rset()
        except (smtplib.SMTPException, OSError, SessionError) as error:
            self.close()
            waited = final_dot_seconds(self.config.timeout) if self.stage == FINAL_DOT else self.config.timeout
            raise DeliveryError(explain(error, self.smtp, waited, self.stage,
                                        bool(self.smtp.password_command))) from None
        result = SendResult(tuple(accepted), tuple(refused), tuple(deferred))
        if deferred and not accepted:
            raise AllDeferred("{} deferred every recipient at {}: {} (temporary: retried)".format(
                self._where(), RCPT, "; ".join("{} ({})".format(*item) for item in deferred)), result)
        return result

    def _data(self, session: smtplib.SMTP, message: bytes) -> None:
        """DATA, the message and the reply to its final dot, all under one deadline (a reply that trickles in,
        line after line, cannot hold the run either); a timeout closes the session: nothing half-read is reused."""
        timeout = self.config.timeout
        with deadline(final_dot_seconds(timeout) + timeout * DEADLINE_TIMES_TIMEOUT):
            self.stage = DATA
            code, reply = session.docmd("DATA")
            if code != 354:
                raise smtplib.SMTPDataError(code, reply)
            self.stage = FINAL_DOT
            session.send(quoted_data(message))
            if session.sock is not None:
                session.sock.settimeout(final_dot_seconds(timeout))
            code, reply = session.getreply()
            if session.sock is not None:
                session.sock.settimeout(timeout)
        if code != 250:
            raise smtplib.SMTPDataError(code, reply)

    def _envelope(self, session: smtplib.SMTP, recipients: Sequence[str]
                  ) -> Tuple[List[str], List[Tuple[str, str]], List[Tuple[str, str]]]:
        self.stage = MAIL
        options = []
        if any(needs_smtputf8(address) for address in list(recipients) + [self.config.sender]):
            if not session.has_extn("smtputf8"):
                raise SessionError("{} does not offer SMTPUTF8, which an address with a non-ASCII local part "
                                   "needs ({}); use an ASCII address in [alert]".format(
                                       self._where(), ", ".join(address for address in recipients
                                                                if needs_smtputf8(address))))
            options = ["SMTPUTF8", "BODY=8BITMIME"]
        code, reply = session.mail(wire_address(self.config.sender), options)
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, reply, self.config.sender)
        self.stage = RCPT
        accepted, refused, deferred = [], [], []
        for address in recipients:
            code, reply = session.rcpt(wire_address(address))
            if code in (250, 251):
                accepted.append(address)
            else:
                (deferred if 400 <= code < 500 else refused).append((address, reply_text(code, reply)))
        return accepted, refused, deferred

    def _where(self) -> str:
        return "{}:{}".format(self.smtp.host, self.smtp.port)

    def close(self) -> None:
        """End the session politely if it is open; never raises."""
        session, self.session = self.session, None
        if session is not None:
            try:
                session.quit()
            except (smtplib.SMTPException, OSError):
                session.close()


def probe(config: Config, password: Optional[str], local_hostname: str,
          progress: Optional[Callable[[str], None]] = None) -> None:
    """Connect to config's SMTP server, do TLS and AUTH exactly as sending would, then QUIT without sending.

    progress is told each stage as it starts. Raises DeliveryError with advice (wrong password, untrusted
    certificate, timeout, refused, unknown host).
    """
    transport = SmtpTransport(config, lambda: password, local_hostname)
    transport.on_stage = progress
    try:
        with deadline(config.timeout * DEADLINE_TIMES_TIMEOUT):
            transport.session = transport._connect()
            wide = [address for address in [config.sender, *config.recipients] if needs_smtputf8(address)]
            if wide and not transport.session.has_extn("smtputf8"):
                raise SessionError("{}:{} does not offer SMTPUTF8, which {} needs (a non-ASCII local part); use an "
                                   "ASCII address, or a server that offers SMTPUTF8".format(
                                       config.smtp.host, config.smtp.port, ", ".join(wide)))
    except (smtplib.SMTPException, OSError, SessionError) as error:
        raise DeliveryError(explain(error, config.smtp, config.timeout, transport.stage,
                                    bool(config.smtp and config.smtp.password_command))) from None
    finally:
        transport.close()


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


def open_transport(config: Config, password: Callable[[], Optional[str]], local_hostname: str):  # type: ignore
    """Return a transport for config's method (one that sends nothing when alerts do not go by email);
    password is called only if the server needs AUTH."""
    if not config.emails:
        return NoMailTransport()
    if config.method == "sendmail":
        return SendmailTransport(config)
    return SmtpTransport(config, password, local_hostname)
