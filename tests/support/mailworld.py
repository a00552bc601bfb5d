"""Mail servers on a bad day, on loopback: a slow reply to the final dot, recipients deferred (4xx) or refused
(5xx), SMTPUTF8 offered or not, a UTF-8 password, and a tarpit that trickles its banner forever. The EHLO
name each client used is recorded."""

import asyncio
import socket
import threading
import time
from typing import Iterable, List, NamedTuple, Optional, Set

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Received(NamedTuple):
    envelope_to: List[str]
    mail_options: List[str]
    raw: bytes
    ehlo: str


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _Handler:
    def __init__(self, server: "WorldServer") -> None:
        self.server = server

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # type: ignore[no-untyped-def]
        session.host_name = hostname
        self.server.ehlo_names.append(hostname)
        if self.server.password is None:
            responses = [line for line in responses if not line.startswith("250-AUTH")]
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore
        if address in self.server.defer:
            return "450 4.2.0 <{}>: mailbox busy, try later".format(address)
        if address in self.server.refuse:
            return "550 5.1.1 <{}>: no such user".format(address)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.server.received.append(Received(list(envelope.rcpt_tos), list(envelope.mail_options),
                                             envelope.original_content or b"", session.host_name or ""))
        if self.server.final_dot_delay:
            await asyncio.sleep(self.server.final_dot_delay)  # stored, but the reply comes late
        return "250 2.0.0 OK: queued"


class WorldServer:
    """An aiosmtpd server on 127.0.0.1 with the faults asked for; a context manager."""

    def __init__(self, final_dot_delay: float = 0.0, defer: Iterable[str] = (), refuse: Iterable[str] = (),
                 smtputf8: bool = False, password: Optional[str] = None) -> None:
        self.final_dot_delay = final_dot_delay
        self.defer: Set[str] = set(defer)
        self.refuse: Set[str] = set(refuse)
        self.password = password
        self.received: List[Received] = []
        self.ehlo_names: List[str] = []
        self.logins: List[str] = []
        self.port = free_port()
        options = {}
        if password is not None:
            options = dict(authenticator=self._authenticate, auth_require_tls=False)
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port,
                                     enable_SMTPUTF8=smtputf8, **options)

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:  # type: ignore
        if isinstance(auth_data, LoginPassword) and auth_data.password.decode("utf-8") == self.password:
            self.logins.append(auth_data.login.decode("utf-8"))
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    def __enter__(self) -> "WorldServer":
        self.controller.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.controller.stop()


class Tarpit:
    """Accepts connections and trickles an endless multi-line 220- banner, one line every interval."""

    def __init__(self, interval: float = 0.3) -> None:
        self.interval = interval
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = int(self.listener.getsockname()[1])
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        self.listener.settimeout(0.2)
        while not self.stopping.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:
                continue
            threading.Thread(target=self._trickle, args=(connection,), daemon=True).start()

    def _trickle(self, connection: socket.socket) -> None:
        with connection:
            while not self.stopping.is_set():
                try:
                    connection.sendall(b"220-slow.example.net still greeting\r\n")
                except OSError:
                    return
                time.sleep(self.interval)

    def __enter__(self) -> "Tarpit":
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stopping.set()
        self.listener.close()
