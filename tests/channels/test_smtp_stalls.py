"""Slow servers never crash a run: a real loopback SMTP server that stops answering at one stage of the session
(greeting, EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA, the final dot) gives a DeliveryError naming that stage."""

import socket
import threading
import time
from pathlib import Path
from typing import List

import pytest

from app.channels.delivery import DeliveryError
from app.channels.smtp import SmtpTransport, final_dot_seconds
from app.channels.diagnose import AUTH, DATA, EHLO, FINAL_DOT, GREETING, MAIL, RCPT, STARTTLS
from app.settings.config import load_config
from app.system.paths import Paths
from helpers import write_config

MESSAGE = b"Subject: test\r\nMessage-ID: <x@example.com>\r\n\r\nbody\r\n"


class StallingServer:
    """A scripted SMTP server on 127.0.0.1 that answers like a relay until the stage it stalls at, then says
    nothing more (the connection stays open until stop())."""

    def __init__(self, stall: str, trickle: bool = False) -> None:
        self.stall = stall
        self.trickle = trickle  # at the stall, send a continuation line every half second instead of nothing
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.port = self.listener.getsockname()[1]
        self.connections: List[socket.socket] = []
        self.commands: List[str] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> "StallingServer":
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.listener.close()
        for connection in self.connections:
            connection.close()

    def _serve(self) -> None:
        try:
            connection, _ = self.listener.accept()
        except OSError:
            return
        self.connections.append(connection)
        reader = connection.makefile("rb")
        try:
            self._session(connection, reader)
        except OSError:
            pass

    def _session(self, connection: socket.socket, reader) -> None:  # type: ignore[no-untyped-def]
        if self.stall == GREETING:
            return
        connection.sendall(b"220 stall.localhost ESMTP\r\n")
        while True:
            line = reader.readline()
            if not line:
                return
            verb = line.split(b" ", 1)[0].strip().upper().decode()
            self.commands.append(verb)
            stalls = {"EHLO": EHLO, "STARTTLS": STARTTLS, "AUTH": AUTH, "MAIL": MAIL, "RCPT": RCPT, "DATA": DATA}
            if stalls.get(verb) == self.stall:
                continue  # never answered
            if verb == "EHLO":
                connection.sendall(b"250-stall.localhost\r\n250-STARTTLS\r\n250 AUTH PLAIN LOGIN\r\n")
            elif verb == "DATA":
                connection.sendall(b"354 go ahead\r\n")
                while reader.readline() not in (b".\r\n", b""):
                    pass
                if self.stall != FINAL_DOT:
                    connection.sendall(b"250 queued\r\n")
                while self.trickle:
                    connection.sendall(b"250-still thinking\r\n")
                    time.sleep(0.5)
            elif verb == "QUIT":
                connection.sendall(b"221 bye\r\n")
                return
            else:
                connection.sendall(b"250 ok\r\n" if verb != "AUTH" else b"235 ok\r\n")


def config_for(paths: Paths, server: StallingServer, stage: str):  # type: ignore[no-untyped-def]
    smtp = {"host": "127.0.0.1", "port": str(server.port), "security": "none", "timeout": "1"}
    if stage == STARTTLS:
        smtp["security"] = "starttls"
    if stage == AUTH:  # a password to loopback without TLS is allowed
        smtp.update(user="alice", password="s3cret")
    write_config(paths, smtp=smtp)
    return load_config(paths.config_file)


@pytest.mark.parametrize("stage", [GREETING, EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA, FINAL_DOT])
def test_a_server_that_stops_answering_at_any_stage_is_a_diagnosis_naming_the_stage(paths: Paths, stage: str):
    with StallingServer(stage) as server:
        config = config_for(paths, server, stage)
        transport = SmtpTransport(config, lambda: "s3cret", "client.localhost")
        try:
            with pytest.raises(DeliveryError) as raised:
                transport.send(MESSAGE, ["owner@example.com"])
        finally:
            transport.close()
    reason = str(raised.value)
    assert "127.0.0.1:{}".format(server.port) in reason
    assert stage in reason
    waited = final_dot_seconds(1.0) if stage == FINAL_DOT else 1.0
    assert "{:g} s".format(waited) in reason


def test_after_a_final_dot_timeout_the_transport_opens_a_new_session_for_the_next_message(paths: Paths):
    with StallingServer(FINAL_DOT) as server:
        transport = SmtpTransport(config_for(paths, server, FINAL_DOT), lambda: None, "client.localhost")
        with pytest.raises(DeliveryError):
            transport.send(MESSAGE, ["owner@example.com"])
        assert transport.session is None  # closed: nothing half-read is reused
        transport.close()


def test_the_final_dot_waits_ten_timeouts_but_never_beyond_rfc_5321s_ten_minutes() -> None:
    assert final_dot_seconds(1.0) == 10.0
    assert final_dot_seconds(20.0) == 200.0
    assert final_dot_seconds(600.0) == 600.0


def test_a_reply_to_the_final_dot_that_trickles_in_forever_ends_at_the_deadline(paths: Paths):
    with StallingServer(FINAL_DOT, trickle=True) as server:
        transport = SmtpTransport(config_for(paths, server, FINAL_DOT), lambda: None, "client.localhost")
        started = time.monotonic()
        with pytest.raises(DeliveryError) as raised:
            transport.send(MESSAGE, ["owner@example.com"])
        transport.close()
    assert time.monotonic() - started < final_dot_seconds(1.0) + 3 + 5
    assert "had not finished end of data after 13 s" in str(raised.value)
