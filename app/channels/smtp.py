"""SMTP delivery: one session per run, verified TLS, one AUTH mechanism, a deadline at every stage.

Every failure becomes a DeliveryError whose text names the SMTP stage and reply and says what to change
(app.channels.diagnose); nothing here ever includes the password. An SMTP session gets an overall deadline until
DATA (a server that trickles its banner cannot hold the run), then waits for the reply to the final dot as
long as RFC 5321 §4.5.3.2.6 says (10 minutes), or ten times ``timeout`` when that is shorter: giving up early
risks a duplicate of a message the server already queued, which the retry's same Message-ID makes recognisable.
A timeout at any stage is a DeliveryError naming the stage; the message stays in the outbox. Recipients are
delivered one by one: each accepting recipient gets exactly one copy.
"""

from __future__ import annotations

from app.channels.smtpsession import StagedSMTP, StagedSMTPSSL, login, mail_from, rcpt_to, resolvable
import smtplib  # noqa: E402,I100  (after app.channels.smtpsession, which imports it deferring what it never uses)
from app.channels.delivery import AllDeferred, DeliveryError, SendResult
from app.channels.diagnose import AUTH, CONNECT, DATA, EHLO, FINAL_DOT, GREETING, MAIL, RCPT, STARTTLS, \
    SessionDeadline, SessionError, explain, reply_text
from app.channels.mailname import needs_smtputf8, wire_address
from app.settings.config import Config, is_loopback_host
from app.system.alarm import alarm

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ssl
    from typing import Callable, ContextManager, List, Optional, Sequence, Tuple

FINAL_DOT_SECONDS = 600.0  # RFC 5321 §4.5.3.2.6, the most the reply to the final dot is waited for
FINAL_DOT_TIMES_TIMEOUT = 10  # ... and at most this many timeouts: a short timeout is a wish to be told sooner
DEADLINE_TIMES_TIMEOUT = 3  # the whole session until DATA, in multiples of timeout


def final_dot_seconds(timeout: float) -> float:
    """How long the reply to the final dot is waited for, given the configured timeout (pure)."""
    return max(timeout, min(FINAL_DOT_SECONDS, timeout * FINAL_DOT_TIMES_TIMEOUT))


def deadline(seconds: float) -> ContextManager[None]:
    """The session's overall deadline: TimeoutError("session deadline") when it runs longer than seconds."""
    return alarm(seconds, lambda: SessionDeadline(seconds))


def quoted_data(message: bytes) -> bytes:
    """The DATA payload: lines starting with a dot doubled, ended by CRLF . CRLF (what smtplib's data() does, with
    re.sub(br"(?m)^\\.", b"..", message), whose compiling costs more than the send)."""
    body = (b"." if message.startswith(b".") else b"") + message.replace(b"\n.", b"\n..")
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    return body + b".\r\n"


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
        """A session through the greeting, STARTTLS and AUTH. A certificate the system's hashed CA directory
        cannot verify is tried once more against the full system store (app.channels.tlscontext)."""
        if self.smtp.security == "none":
            return self._open(None)
        from app.channels.tlscontext import client_context, verified  # ssl: only TLS sessions load it

        return verified(client_context(self.smtp.ca_file), self._open)

    def _open(self, context: Optional[ssl.SSLContext]) -> smtplib.SMTP:
        smtp, timeout = self.smtp, self.config.timeout
        self.stage = CONNECT
        session: "StagedSMTP | StagedSMTPSSL"
        if smtp.security == "ssl":
            session = StagedSMTPSSL(local_hostname=self.local_hostname, timeout=timeout, context=context)
        else:
            session = StagedSMTP(local_hostname=self.local_hostname, timeout=timeout)
        session.connected = self._connected
        # What __init__ would set: TLS checks the certificate against it. ssl takes an ASCII name as its bytes
        # too (SSLContext._encode_hostname, Python 3.7 on), which spares a TLS login the idna codec's import.
        session._host = resolvable(smtp.host)  # type: ignore[assignment]
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
        code, reply = mail_from(session, wire_address(self.config.sender), options)
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, reply, self.config.sender)
        self.stage = RCPT
        accepted: List[str] = []
        refused: List[Tuple[str, str]] = []
        deferred: List[Tuple[str, str]] = []
        for address in recipients:
            code, reply = rcpt_to(session, wire_address(address))
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
                                       transport.smtp.host, transport.smtp.port, ", ".join(wide)))
    except (smtplib.SMTPException, OSError, SessionError) as error:
        raise DeliveryError(explain(error, transport.smtp, config.timeout, transport.stage,
                                    bool(transport.smtp.password_command))) from None
    finally:
        transport.close()
