"""A real HTTPS server on loopback for the push channel tests, and a tiny CONNECT proxy.

``HttpsWorld``: ThreadingHTTPServer behind TLS with a trustme certificate for 127.0.0.1 and localhost
(clean under Python 3.13's VERIFY_X509_STRICT). It records every request and answers from a queue, a
responder or its default: the success answer of one API (api="ntfy": API_REPLIES), else 200 ``{"ok":true}``;
``stall`` and ``trickle`` make it a bad server.
``ConnectProxy``: plain-HTTP proxy on loopback that tunnels CONNECT to loopback targets and records them.
``event``/``hostile_event``: events as the outbox stores them, the second carrying HOSTILE in title and text.
"""

import http.server
import json
import os
import select
import shutil
import socket
import socketserver
import ssl
import tempfile
import threading
import time
from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Tuple, TypeVar

import trustme

from app.system.text import printable

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                   "NO_PROXY", "REQUEST_METHOD")
DEFAULT_REPLY = (200, {"Content-Type": "application/json"}, b'{"ok":true}')
_JSON = {"Content-Type": "application/json"}
# Each API's answer to a message it took: what proves delivery (app.channels.<name>.classify)
API_REPLIES = {
    "ntfy": (200, _JSON, b'{"id":"hwQ2YpKdmg","time":1764111303,"event":"message","topic":"alerts"}'),
    "telegram": (200, _JSON, b'{"ok":true,"result":{"message_id":4711}}'),
    "slack": (200, {"Content-Type": "text/html"}, b"ok"),
    "discord": (200, _JSON, b'{"id":"1200000000000000000","type":0,"content":"x"}'),
    "matrix": (200, _JSON, b'{"event_id":"$YUwRidLecu:example.org"}'),
    "gotify": (200, _JSON, b'{"id":25,"appid":5,"message":"x","title":"t","priority":8}'),
    "pushover": (200, _JSON, b'{"status":1,"request":"647d2300-702c-4b38-8b2f-d56326ae460b"}'),
    "webhook": (204, {}, b""),
}
# What goes wrong in front of or at an API (issue 18's table), each a reply the channel must not count as delivered
HTML_PORTAL = (200, {"Content-Type": "text/html"}, b"<html><body>Sign in to the hotel Wi-Fi</body></html>")
# What an attacker can put in a user name, key comment or reverse DNS name: every channel's markup, mentions,
# a header injection, a bidi override, NUL, an escape sequence, an RFC 2047 word that decodes to CR LF,
# non-Latin-1 text and an emoji.
HOSTILE = ("<!channel> <!here> <@U024BE7LH> <https://evil.example|click me> @everyone @here <@&123> "
           "*bold* _it_ ~strike~ `code` ||spoiler|| [link](https://evil.example) # heading > quote -# small "
           "&amp; \\ back \r\nX-Injected: 1 \u202egnp.exe \x00 \x1b[31m =?utf-8?q?=0D=0AX-Evil:_1?= "
           "\u0141\u00f3d\u017a \U0001f680")


class Recorded(NamedTuple):
    method: str
    path: str
    headers: Dict[str, str]  # lower-case names
    body: bytes


Reply = Tuple[int, Mapping[str, str], bytes]


def event(title: str = "SSH login: alice@web1 from 203.0.113.7",
          text: str = "Key: ED25519 SHA256:abc\nfrom a new IP", **fields: Any) -> Dict[str, Any]:
    """An event as the outbox stores it; title and text (each line) made printable as the real code does."""
    made = {"version": 1, "id": "evt_" + "0123456789abcdef" * 2, "type": "login", "host": "web1",
            "time": 1764111303.0, "time_iso": "2025-11-25T22:55:03Z", "urgent": False, "logins": [],
            "title": printable(title), "text": "\n".join(printable(line) for line in text.split("\n"))}
    made.update(fields)
    return made


def hostile_event(**fields: Any) -> Dict[str, Any]:
    """An event whose title and text carry HOSTILE made printable, as the renderer does with each value."""
    return event("SSH login: " + HOSTILE + "@web1 from 203.0.113.7",
                 "Key comment: " + printable(HOSTILE) + "\nsecond line", **fields)


def without_proxies(monkeypatch: Any) -> None:
    """Clear every proxy variable so a proxy in the environment cannot intercept loopback tests."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def headers_of(request: Any) -> Dict[str, str]:
    """A built HttpRequest's headers by lower-case name."""
    return {name.lower(): value for name, value in request.headers}


def sent_json(body: bytes) -> Dict[str, Any]:
    """A JSON request body as the server reads it."""
    return dict(json.loads(body.decode("utf-8")))


class _Handler(http.server.BaseHTTPRequestHandler):
    server: "_Server"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        pass

    def _serve(self) -> None:
        world = self.server.world
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if len(body) < length:  # the client died mid-request (kill -9): a receiver never sees a cut request
            self.close_connection = True
            return
        recorded = Recorded(self.command, self.path, {name.lower(): value for name, value in self.headers.items()},
                            body)
        world._record(recorded)
        if world._stall_seconds:
            world._closing.wait(world._stall_seconds)
            self.close_connection = True
            return
        status, headers, reply_body = world._reply_for(recorded)
        reason = http.server.BaseHTTPRequestHandler.responses.get(status, ("Status",))[0]
        lines = ["HTTP/1.1 {} {}".format(status, reason)]
        lines += ["{}: {}".format(name, value) for name, value in headers.items()]
        lines += ["Content-Length: {}".format(len(reply_body)), "Connection: close", "", ""]
        self._write("\r\n".join(lines).encode("latin-1") + reply_body, world._trickle_rate)
        self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def _write(self, data: bytes, bytes_per_second: float) -> None:
        if not bytes_per_second:
            self.wfile.write(data)
            return
        step = max(1, int(bytes_per_second / 10))
        for start in range(0, len(data), step):
            if self.server.world._closing.wait(step / bytes_per_second):
                return
            self.wfile.write(data[start:start + step])
            self.wfile.flush()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, world: "HttpsWorld", context: ssl.SSLContext) -> None:
        self.world = world
        self.context = context
        super().__init__(("127.0.0.1", 0), _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The handshake happens here, in the request's thread, so a client that never finishes it blocks nobody.
        request.settimeout(30)
        try:
            request = self.context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return  # the client refused our certificate, or went away
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up mid-reply is what several tests do on purpose


_Self = TypeVar("_Self", bound="_Serving")


class _Serving:
    """A socketserver running in a daemon thread; a context manager that stops it."""

    def _serve(self, server: socketserver.BaseServer, scheme: str) -> None:
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = server
        self.port = int(server.server_address[1])  # type: ignore[index]
        self.url = "{}://127.0.0.1:{}".format(scheme, self.port)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self: _Self) -> _Self:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


class HttpsWorld(_Serving):
    """An HTTPS server on 127.0.0.1 with its own CA (or the given trustme CA) and a certificate for names; a
    context manager.

    url is "https://127.0.0.1:PORT", ca_file a PEM of the CA, requests the list of Recorded requests.
    """

    def __init__(self, ca: Optional[trustme.CA] = None, names: Tuple[str, ...] = ("127.0.0.1", "localhost"),
                 api: str = "") -> None:
        self.ca = ca or trustme.CA()
        self.default_reply = API_REPLIES[api] if api else DEFAULT_REPLY  # the API's own success answer
        self.requests: List[Recorded] = []
        self.responder: Optional[Callable[[Recorded], Reply]] = None
        self._queue: List[Tuple[Reply, Optional[int]]] = []
        self._stall_seconds = 0.0
        self._trickle_rate = 0.0
        self._directory = tempfile.mkdtemp(prefix="httpsworld-")
        self.ca_file = os.path.join(self._directory, "ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_file)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ca.issue_cert(*names).configure_cert(context)
        self._serve(_Server(self, context), "https")

    def respond(self, status: int, body: bytes = b"", headers: Optional[Mapping[str, str]] = None,
                times: Optional[int] = None) -> None:
        """Queue a reply for the next `times` requests (None: for every request from now on)."""
        with self._lock:
            self._queue.append(((status, dict(headers or {}), body), times))

    def answer(self, reply: Reply, times: Optional[int] = None) -> None:
        """Queue a (status, headers, body) reply, such as HTML_PORTAL, like respond()."""
        self.respond(reply[0], reply[2], reply[1], times)

    def stall(self, seconds: float) -> None:
        """From now on take each request and say nothing for seconds, then hang up (0 ends it)."""
        self._stall_seconds = seconds

    def trickle(self, bytes_per_second: float) -> None:
        """From now on send each whole reply, status line first, at this rate (0 ends it)."""
        self._trickle_rate = bytes_per_second

    def wait_for(self, count: int = 1, timeout: float = 5.0) -> List[Recorded]:
        """The recorded requests once there are count of them; AssertionError after timeout seconds."""
        ends = time.monotonic() + timeout
        while len(self.requests) < count:
            if time.monotonic() > ends:
                raise AssertionError("{} request(s) arrived, expected {}".format(len(self.requests), count))
            time.sleep(0.01)
        return list(self.requests)

    def _record(self, recorded: Recorded) -> None:
        with self._lock:
            self.requests.append(recorded)

    def _reply_for(self, recorded: Recorded) -> Reply:
        with self._lock:
            if self.responder is not None:
                return self.responder(recorded)
            if not self._queue:
                return self.default_reply
            reply, times = self._queue[0]
            if times is not None:
                if times <= 1:
                    self._queue.pop(0)
                else:
                    self._queue[0] = (reply, times - 1)
            return reply

    def close(self) -> None:
        super().close()
        shutil.rmtree(self._directory, ignore_errors=True)


class _ProxyHandler(socketserver.StreamRequestHandler):
    server: "_ProxyServer"

    def handle(self) -> None:
        proxy = self.server.proxy
        request_line = self.rfile.readline(65537).decode("latin-1").strip()
        headers: Dict[str, str] = {}
        while True:
            line = self.rfile.readline(65537).decode("latin-1")
            if line in ("\r\n", "\n", ""):
                break
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        method, _, rest = request_line.partition(" ")
        target = rest.split(" ")[0]
        with proxy._lock:
            proxy.targets.append(target)
            proxy.authorizations.append(headers.get("proxy-authorization", ""))
        if method != "CONNECT":
            self.wfile.write(b"HTTP/1.1 501 Only CONNECT\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        if proxy.authorization is not None and headers.get("proxy-authorization") != proxy.authorization:
            self.wfile.write(b'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="t"\r\n'
                             b"Content-Length: 0\r\nConnection: close\r\n\r\n")
            return
        host, _, port = target.rpartition(":")
        if host not in ("127.0.0.1", "localhost"):
            self.wfile.write(b"HTTP/1.1 403 Loopback only\r\nContent-Length: 0\r\n\r\n")
            return
        with socket.create_connection((host, int(port)), timeout=10) as upstream:
            self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self._pump(self.connection, upstream)

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        while not self.server.proxy._closing.is_set():
            readable, _, _ = select.select([client, upstream], [], [], 0.1)
            for source in readable:
                data = source.recv(65536)
                if not data:
                    return
                (upstream if source is client else client).sendall(data)


class _ProxyServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, proxy: "ConnectProxy") -> None:
        self.proxy = proxy
        super().__init__(("127.0.0.1", 0), _ProxyHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class ConnectProxy(_Serving):
    """A CONNECT proxy on 127.0.0.1 (plain HTTP); a context manager.

    url is "http://127.0.0.1:PORT"; targets lists each "host:port" asked for, authorizations the
    Proxy-Authorization sent with each ("" when none). With authorization set (e.g. "Basic dTpw") any other
    value gets 407.
    """

    def __init__(self, authorization: Optional[str] = None) -> None:
        self.authorization = authorization
        self.targets: List[str] = []
        self.authorizations: List[str] = []
        self._serve(_ProxyServer(self), "http")
