"""Real loopback SMTP servers and helpers for testing ssh_alert's mail delivery.

Everything here listens on 127.0.0.1 only and never touches the network:

* ``MailSink``: an aiosmtpd server (plain, STARTTLS or implicit TLS, optional
  AUTH, optional refused recipients) that records every message it accepts.
* ``HangingServer``: accepts TCP connections and never says anything, for
  timeout tests.
* ``TestCA``: a throwaway trustme certificate authority plus the bad
  certificates negative tests need.

Debian's msmtp relaying to a ``MailSink`` is in ``support.msmtp``.
"""

from __future__ import annotations

import asyncio
import email.policy
import logging
import os
import selectors
import socket
import ssl
import threading
import time
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import (
    Any,
    Dict,
    FrozenSet,
    Iterable,
    List,
    Mapping,
    NamedTuple,
    Optional,
    Set,
    Tuple,
    Union,
)

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

__all__ = [
    "LOOPBACK_HOST",
    "MODES",
    "HangingServer",
    "MailSink",
    "ReceivedMessage",
    "TestCA",
    "server_ssl_context",
]

LOOPBACK_HOST = "127.0.0.1"
MODES = ("plain", "starttls", "ssl")

# A fixed greeting name: aiosmtpd's default is socket.getfqdn(), which may do
# a DNS lookup.
_GREETING_HOSTNAME = "mailsink.localhost"
_SHUTDOWN_TIMEOUT_SECONDS = 5.0


class _DropLoginDataDeprecation(logging.Filter):
    """Drops the warning aiosmtpd 1.4 logs on its *own* every successful AUTH."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Session.login_data is deprecated")


logging.getLogger("mail.log").addFilter(_DropLoginDataDeprecation())


class ReceivedMessage(NamedTuple):
    """One message accepted by a ``MailSink`` (DATA completed with 250)."""

    envelope_from: str
    envelope_to: List[str]
    raw: bytes
    message: EmailMessage
    received_at: float
    auth_user: Optional[str]
    tls: bool
    helo: str = ""  # the name the client gave in EHLO/HELO


def _bind_loopback_socket(host: str) -> socket.socket:
    """Return a TCP socket bound to (host, free port); not yet listening."""
    # proto must be IPPROTO_TCP, not 0: asyncio only sets TCP_NODELAY on
    # accepted sockets whose proto says TCP, and without it every multi-line
    # reply (EHLO) stalls ~40 ms on Nagle + delayed ACK.
    listen_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        listen_socket.bind((host, 0))
    except BaseException:
        listen_socket.close()
        raise
    return listen_socket


def server_ssl_context(leaf: trustme.LeafCert) -> ssl.SSLContext:
    """Return a server-side SSLContext presenting ``leaf`` (no client certs asked)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(context)
    return context


# --------------------------------------------------------------------------- #
# MailSink
# --------------------------------------------------------------------------- #


class _TrackingSMTP(SMTP):
    """aiosmtpd SMTP protocol that registers its live connection with the sink.

    Python 3.11's Server.close() leaves accepted connections open, and
    Controller.stop() closes the loop before aborted transports finish
    closing their sockets, so the sink aborts and awaits them itself.
    """

    def __init__(self, handler: Any, live_connections: Set["_TrackingSMTP"], **kwargs: Any):
        super().__init__(handler, **kwargs)
        self._live_connections = live_connections
        self._first_transport: Optional[asyncio.BaseTransport] = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Called a second time after STARTTLS with the TLS transport; the first
        # (socket) transport is the one whose abort() really closes the socket.
        if self._first_transport is None:
            self._first_transport = transport
            self._live_connections.add(self)
        super().connection_made(transport)

    def connection_lost(self, error: Optional[Exception]) -> None:
        self._live_connections.discard(self)
        super().connection_lost(error)

    def abort(self) -> None:
        """Drop the connection immediately, without a TLS close_notify exchange."""
        if self._first_transport is not None:
            self._first_transport.abort()

    def is_tls(self) -> bool:
        """Return True if the session is currently encrypted (STARTTLS or implicit)."""
        transport = self.transport
        return transport is not None and transport.get_extra_info("ssl_object") is not None


class _SinkController(Controller):
    """Controller serving on an already bound socket, so no port race and no port=0."""

    def __init__(
        self,
        handler: "_SinkHandler",
        listen_socket: socket.socket,
        live_connections: Set[_TrackingSMTP],
        **kwargs: Any,
    ):
        host, port = listen_socket.getsockname()[:2]
        super().__init__(handler, hostname=host, port=port, **kwargs)
        self._listen_socket = listen_socket
        self._live_connections = live_connections

    def _create_server(self) -> Any:
        return self.loop.create_server(
            self._factory_invoker, sock=self._listen_socket, ssl=self.ssl_context
        )

    def factory(self) -> SMTP:
        return _TrackingSMTP(self.handler, self._live_connections, **self.SMTP_kwargs)


class _SinkHandler:
    """aiosmtpd handler hooks; runs on the sink's event-loop thread."""

    def __init__(self, sink: "MailSink"):
        self._sink = sink

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: List[str]
    ) -> List[str]:
        session.host_name = hostname
        if self._sink.auth is None:
            # aiosmtpd always advertises AUTH (failing every login); hide it so
            # a sink without auth looks like a relay that has none.
            responses = [line for line in responses if not line.startswith("250-AUTH")]
        return responses

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: List[str]
    ) -> str:
        # Enforced here rather than with aiosmtpd's auth_required, which warns
        # unless auth_require_tls is on, and auth_require_tls cannot be on for
        # implicit TLS (aiosmtpd 1.4 only counts STARTTLS as TLS).
        if self._sink.auth is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: List[str]
    ) -> str:
        if address.casefold() in self._sink.refuse:
            return "550 5.1.1 <{}>: Recipient address rejected".format(address)
        if address.casefold() in {deferred.casefold() for deferred in self._sink.defer}:
            return "452 4.2.2 <{}>: Mailbox full".format(address)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        while self._sink.stall_data and self._sink.running:  # the reply to the final dot never comes
            await asyncio.sleep(0.02)
        raw = envelope.original_content
        if raw is None:
            raw = envelope.content if isinstance(envelope.content, bytes) else b""
        auth_user = session.auth_data if session.authenticated else None
        received = ReceivedMessage(
            envelope_from=envelope.mail_from or "",
            envelope_to=list(envelope.rcpt_tos),
            raw=raw,
            message=BytesParser(policy=email.policy.default).parsebytes(raw),  # type: ignore[arg-type]
            received_at=time.monotonic(),
            auth_user=auth_user if isinstance(auth_user, str) else None,
            tls=isinstance(server, _TrackingSMTP) and server.is_tls(),
            helo=session.host_name or "",
        )
        self._sink._record(received)
        return "250 2.0.0 OK: queued"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        """aiosmtpd authenticator: check a LoginPassword against the sink's users."""
        accounts = self._sink.auth or {}
        self._sink.auth_attempts.append(mechanism)
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user = auth_data.login.decode("utf-8", "surrogateescape")
        password = auth_data.password.decode("utf-8", "surrogateescape")
        if user in accounts and accounts[user] == password:
            return AuthResult(success=True, auth_data=user)
        return AuthResult(success=False, handled=False)


class MailSink:
    """A real SMTP server on 127.0.0.1:<free port> that records what it accepts.

    mode: "plain" (no TLS), "starttls" (STARTTLS offered, required unless
    require_starttls=False) or "ssl" (implicit TLS from the first byte).
    cert: trustme LeafCert presented in starttls/ssl modes (required there).
    auth: None (AUTH not offered) or {user: password}; then AUTH PLAIN/LOGIN is
    offered and MAIL FROM is refused with 530 until the client authenticated.
    In "plain" mode AUTH is allowed without TLS (ssh_alert permits that to
    loopback); in "starttls" mode AUTH is only offered after STARTTLS.
    refuse: recipient addresses answered with 550 at RCPT (case-insensitive).
    defer: recipient addresses answered with 452 (mailbox full) at RCPT; a set the test may change.
    stall_data: while True, the reply to the final dot is held back (the message is recorded once it is
    given, as a server that queued it late would).
    """

    def __init__(
        self,
        mode: str = "plain",
        cert: Optional[trustme.LeafCert] = None,
        require_starttls: Optional[bool] = None,
        auth: Optional[Mapping[str, str]] = None,
        refuse: Iterable[str] = (),
        *,
        host: str = LOOPBACK_HOST,
        defer: Iterable[str] = (),
        stall_data: bool = False,
    ):
        """Configure the sink; raises ValueError for inconsistent arguments."""
        if mode not in MODES:
            raise ValueError("mode must be one of {}, not {!r}".format(MODES, mode))
        if mode in ("starttls", "ssl") and cert is None:
            raise ValueError("mode {!r} needs cert= (a trustme LeafCert)".format(mode))
        if require_starttls and mode != "starttls":
            raise ValueError("require_starttls only makes sense with mode='starttls'")
        self.mode = mode
        self.cert = cert
        self.require_starttls = (mode == "starttls") if require_starttls is None else require_starttls
        self.auth: Optional[Dict[str, str]] = dict(auth) if auth is not None else None
        self.auth_attempts: List[str] = []  # the mechanism of every AUTH the server checked, in order
        self.refuse: FrozenSet[str] = frozenset(address.casefold() for address in refuse)
        self.defer: Set[str] = set(defer)
        self.stall_data = stall_data
        self.host = host
        self.port = 0
        self._messages: List[ReceivedMessage] = []
        self._condition = threading.Condition()
        self._controller: Optional[_SinkController] = None
        self._live_connections: Set[_TrackingSMTP] = set()

    def __repr__(self) -> str:
        return "<MailSink {} {}:{} auth={} running={}>".format(
            self.mode, self.host, self.port, self.auth is not None, self.running
        )

    @property
    def running(self) -> bool:
        """True between start() and stop()."""
        return self._controller is not None

    def start(self) -> "MailSink":
        """Bind a free port, start serving and return self; raises if already running."""
        if self._controller is not None:
            raise RuntimeError("MailSink already running on port {}".format(self.port))
        handler = _SinkHandler(self)
        smtp_arguments: Dict[str, Any] = {"server_hostname": _GREETING_HOSTNAME}
        server_context = server_ssl_context(self.cert) if self.cert is not None else None
        if self.mode == "starttls":
            smtp_arguments["tls_context"] = server_context
            smtp_arguments["require_starttls"] = self.require_starttls
        elif self.mode == "ssl":
            smtp_arguments["ssl_context"] = server_context
        if self.auth is not None:
            smtp_arguments["authenticator"] = handler.authenticate
            smtp_arguments["auth_require_tls"] = self.mode == "starttls"
        listen_socket = _bind_loopback_socket(self.host)
        self._live_connections = set()
        controller = _SinkController(handler, listen_socket, self._live_connections, **smtp_arguments)
        try:
            controller.start()
        except BaseException:
            _stop_controller(controller)
            listen_socket.close()
            raise
        self.port = listen_socket.getsockname()[1]
        self._controller = controller
        return self

    def stop(self) -> None:
        """Drop open client connections, stop the server thread; idempotent."""
        controller = self._controller
        if controller is None:
            return
        self._controller = None
        try:
            if controller.loop.is_running():
                asyncio.run_coroutine_threadsafe(
                    _abort_connections(self._live_connections), controller.loop
                ).result(_SHUTDOWN_TIMEOUT_SECONDS + 1)
        finally:
            _stop_controller(controller)

    def __enter__(self) -> "MailSink":
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def _record(self, received: ReceivedMessage) -> None:
        with self._condition:
            self._messages.append(received)
            self._condition.notify_all()

    @property
    def messages(self) -> List[ReceivedMessage]:
        """A snapshot (copy) of the messages received so far, oldest first."""
        with self._condition:
            return list(self._messages)

    def wait_for(self, count: int = 1, timeout: float = 5.0) -> List[ReceivedMessage]:
        """Block until at least ``count`` messages arrived; return all messages.

        Raises AssertionError naming the sink and what did arrive on timeout.
        """
        deadline = time.monotonic() + timeout
        with self._condition:
            while len(self._messages) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        "{!r}: expected at least {} message(s) within {:g} s, got {}: {}".format(
                            self,
                            count,
                            timeout,
                            len(self._messages),
                            [(m.envelope_from, m.envelope_to, m.message["Subject"]) for m in self._messages],
                        )
                    )
                self._condition.wait(remaining)
            return list(self._messages)

    def clear(self) -> None:
        """Forget all received messages."""
        with self._condition:
            self._messages.clear()


async def _abort_connections(live_connections: Set[_TrackingSMTP]) -> None:
    """Abort every open client connection and wait until their sockets are closed."""
    for connection in list(live_connections):
        connection.abort()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _SHUTDOWN_TIMEOUT_SECONDS
    while live_connections and loop.time() < deadline:
        await asyncio.sleep(0.005)


def _stop_controller(controller: Controller) -> None:
    """Stop a controller whose start() may have failed half way, closing its loop."""
    if controller._thread is not None:
        controller.stop()
    if not controller.loop.is_closed():
        controller.loop.close()


# --------------------------------------------------------------------------- #
# HangingServer
# --------------------------------------------------------------------------- #


class HangingServer:
    """TCP server on 127.0.0.1:<free port> that accepts and then says nothing.

    Connections stay open (no SMTP greeting, no TLS handshake) until stop(),
    which closes them. For connect/greeting timeout tests.
    """

    # Lets msmtp_config() treat it like a plain MailSink by default.
    mode = "plain"

    def __init__(self, *, host: str = LOOPBACK_HOST):
        self.host = host
        self.port = 0
        self._listen_socket: Optional[socket.socket] = None
        self._wake_reader: Optional[socket.socket] = None
        self._wake_writer: Optional[socket.socket] = None
        self._thread: Optional[threading.Thread] = None
        self._connections: List[socket.socket] = []
        self._accepted = 0
        self._condition = threading.Condition()

    def __repr__(self) -> str:
        return "<HangingServer {}:{} accepted={}>".format(self.host, self.port, self.accepted)

    @property
    def accepted(self) -> int:
        """Number of connections accepted since start()."""
        with self._condition:
            return self._accepted

    def wait_accepted(self, count: int = 1, timeout: float = 5.0) -> int:
        """Block until at least ``count`` connections were accepted; return the count.

        Raises AssertionError on timeout.
        """
        with self._condition:
            if not self._condition.wait_for(lambda: self._accepted >= count, timeout):
                raise AssertionError(
                    "{!r}: expected at least {} connection(s) within {:g} s".format(self, count, timeout)
                )
            return self._accepted

    def start(self) -> "HangingServer":
        """Bind a free port, start accepting in a thread and return self."""
        if self._thread is not None:
            raise RuntimeError("HangingServer already running on port {}".format(self.port))
        listen_socket = _bind_loopback_socket(self.host)
        listen_socket.listen(64)
        self._listen_socket = listen_socket
        self.port = listen_socket.getsockname()[1]
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._accepted = 0
        self._thread = threading.Thread(
            target=self._accept_loop, name="HangingServer-{}".format(self.port), daemon=True
        )
        self._thread.start()
        return self

    def _accept_loop(self) -> None:
        assert self._listen_socket is not None and self._wake_reader is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._listen_socket, selectors.EVENT_READ)
            selector.register(self._wake_reader, selectors.EVENT_READ)
            while True:
                for key, _events in selector.select():
                    if key.fileobj is self._wake_reader:
                        return
                    try:
                        connection, _address = self._listen_socket.accept()
                    except OSError:  # client gave up between SYN and accept()
                        continue
                    with self._condition:
                        self._connections.append(connection)
                        self._accepted += 1
                        self._condition.notify_all()

    def stop(self) -> None:
        """Close all accepted connections and the listener; idempotent."""
        thread = self._thread
        if thread is None:
            return
        self._thread = None
        assert self._wake_writer is not None
        self._wake_writer.send(b"x")
        thread.join(_SHUTDOWN_TIMEOUT_SECONDS)
        with self._condition:
            connections, self._connections = self._connections, []
        for open_socket in [*connections, self._listen_socket, self._wake_reader, self._wake_writer]:
            if open_socket is not None:
                open_socket.close()
        self._listen_socket = self._wake_reader = self._wake_writer = None

    def __enter__(self) -> "HangingServer":
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()


# --------------------------------------------------------------------------- #
# Certificates
# --------------------------------------------------------------------------- #


class TestCA:
    """A throwaway CA (trustme) plus the bad certificates negative tests need."""

    __test__ = False  # not a pytest test class despite the name

    DEFAULT_HOSTNAMES: Tuple[str, ...] = ("localhost", "127.0.0.1")

    def __init__(self) -> None:
        self.ca = trustme.CA()
        self._other_ca: Optional[trustme.CA] = None

    def leaf(self, hostnames: Iterable[str] = DEFAULT_HOSTNAMES) -> trustme.LeafCert:
        """Return a new server certificate signed by this CA for ``hostnames``."""
        return self.ca.issue_cert(*hostnames)

    def untrusted_leaf(self, hostnames: Iterable[str] = DEFAULT_HOSTNAMES) -> trustme.LeafCert:
        """Return a certificate for the right hosts but signed by a different CA."""
        if self._other_ca is None:
            self._other_ca = trustme.CA()
        return self._other_ca.issue_cert(*hostnames)

    def wrong_host_leaf(self) -> trustme.LeafCert:
        """Return a certificate signed by this CA for "wrong.example" only."""
        return self.ca.issue_cert("wrong.example")

    @property
    def ca_pem(self) -> bytes:
        """The CA certificate in PEM form."""
        return self.ca.cert_pem.bytes()

    def write_ca_pem(self, path: Union[str, "os.PathLike[str]"]) -> Path:
        """Write the CA certificate PEM to ``path``; return it as a Path."""
        target = Path(path)
        target.write_bytes(self.ca_pem)
        return target

    def server_context(self, leaf: Optional[trustme.LeafCert] = None) -> ssl.SSLContext:
        """Return a server SSLContext presenting ``leaf`` (a fresh default leaf if None)."""
        return server_ssl_context(leaf if leaf is not None else self.leaf())

    def client_context(self) -> ssl.SSLContext:
        """Return a verifying client SSLContext (hostname check on) trusting only this CA."""
        # With cadata, create_default_context() skips the system store, so a
        # successful handshake proves trust in this CA alone.
        return ssl.create_default_context(cadata=self.ca_pem.decode("ascii"))
