"""The SMTP client session: smtplib, imported without what the login path never uses, and what ssh_alert does
differently from it: one AUTH mechanism, MAIL and RCPT without the email package's address parser, the
host resolved without loading the idna codec, and a word when the socket is connected (app.channels.smtp).
"""

from __future__ import annotations

from app.system.lazy import import_deferring

# ssl and hmac load when TLS or CRAM-MD5 is used; email.* (address parsing, send_message) and copy (with
# weakref: send_message) not at all (mail_from), nor datetime (smtplib's debug output alone; 2 ms)
import_deferring("smtplib", ("ssl", "hmac", "email.utils", "email.message", "email.generator", "copy", "datetime"))
import smtplib  # noqa: E402

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Optional, Sequence, Tuple, Union

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


# An atom's characters are RFC 5322 atext and any non-ASCII one (RFC 6531): all but these. Sets, not a regular
# expression: compiling one cost about 1 ms of every login.
_NOT_IN_ATOMS = frozenset("".join(map(chr, range(0x21))) + "\x7f()<>[]:;@\\,.\"")
_IN_HOST_LABELS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")


def plain_address(address: str) -> bool:
    """True for a dot-atom local part @ a host name: smtplib's quoteaddr returns it as <address> (pure)."""
    local, at, host = address.partition("@")
    return bool(at) and all(atom and _NOT_IN_ATOMS.isdisjoint(atom) for atom in local.split(".")) \
        and all(label and _IN_HOST_LABELS.issuperset(label) for label in host.split("."))


def _option_list(session: smtplib.SMTP, options: Sequence[str]) -> str:
    return " " + " ".join(options) if options and session.does_esmtp else ""


def mail_from(session: smtplib.SMTP, sender: str, options: Sequence[str] = ()) -> Tuple[int, bytes]:
    """session.mail(sender, options), writing a plain address (an addr-spec: what the config holds) as
    <address>, which is what smtplib's quoteaddr returns for it, without email.utils.parseaddr: importing it
    costs about 7 ms of every login. Anything else goes through smtplib's own."""
    if not plain_address(sender):
        return session.mail(sender, options)
    if session.does_esmtp and any(option.lower() == "smtputf8" for option in options):
        if not session.has_extn("smtputf8"):
            raise smtplib.SMTPNotSupportedError("SMTPUTF8 not supported by server")
        session.command_encoding = "utf-8"
    session.putcmd("mail", "FROM:<{}>{}".format(sender, _option_list(session, options)))
    return session.getreply()


def rcpt_to(session: smtplib.SMTP, recipient: str, options: Sequence[str] = ()) -> Tuple[int, bytes]:
    """session.rcpt(recipient, options), a plain address written as mail_from writes it."""
    if not plain_address(recipient):
        return session.rcpt(recipient, options)
    session.putcmd("rcpt", "TO:<{}>{}".format(recipient, _option_list(session, options)))
    return session.getreply()


def resolvable(host: str) -> Union[str, bytes]:
    """host as getaddrinfo is given it: an ASCII name as its bytes, which is what the idna codec gives for it
    (socket encodes a str with that codec, whose import costs about 1 ms of every login); anything else as it
    is (pure)."""
    labels = host.split(".")
    if labels[-1] == "":  # one trailing dot, as the codec allows
        labels.pop()
    if host.isascii() and all(0 < len(label) < 64 for label in labels):
        return host.encode("ascii")
    return host


class StagedSMTP(smtplib.SMTP):
    """smtplib.SMTP that says when its socket is connected, so a silent server is told from an unreachable one."""

    connected: Callable[[], None] = staticmethod(lambda: None)
    _host: str  # what __init__ sets when given a host: TLS checks the certificate against it

    def _get_socket(self, host: str, port: int, timeout: float) -> object:
        sock = super()._get_socket(resolvable(host), port, timeout)  # type: ignore[misc]
        self.connected()
        return sock


class StagedSMTPSSL(smtplib.SMTP_SSL):
    """smtplib.SMTP_SSL that says when its socket (TLS included) is connected."""

    connected: Callable[[], None] = staticmethod(lambda: None)
    _host: str

    def _get_socket(self, host: str, port: int, timeout: float) -> object:
        sock = super()._get_socket(resolvable(host), port, timeout)  # type: ignore[misc]
        self.connected()
        return sock
