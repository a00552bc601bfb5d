"""The one function that sends a push channel's HTTP request: verified TLS, environment proxies, no redirects,
a per-operation timeout and an overall deadline; every failure is a one-line TransportError with secrets redacted.

Imported only when a push channel sends, so the urllib/ssl imports cost nothing otherwise.
"""

from __future__ import annotations

import http.client
import os
import re
import socket
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from app import __version__
from app.channels.base import HttpReply, HttpRequest
from app.channels.tlscontext import client_context, verified
from app.system.text import printable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple, Type

BODY_LIMIT = 64 * 1024
CHUNK = 8192
ERROR_LIMIT = 300
REDACTED = "[redacted]"
USER_AGENT = "ssh_alert/{}".format(__version__)
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]*@")  # a proxy's user:password@


class TransportError(Exception):
    """The request got no usable reply (network, TLS, proxy, timeout, deadline); str() is one redacted line."""


def redact(text: str, secrets: Iterable[str]) -> str:
    """Takes text and the secrets of a request; returns text with each secret, in its plain and percent-encoded
    forms, and the user:password of any URL replaced by [redacted]."""
    forms = set()
    for secret in secrets:
        if secret:
            forms.update({secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote(secret),
                          urllib.parse.quote_plus(secret), urllib.parse.quote(secret, safe="/:")})
    for form in sorted(forms, key=len, reverse=True):  # a whole URL before the token inside it
        text = text.replace(form, REDACTED)
    return _URL_USERINFO.sub(r"\1" + REDACTED + "@", text)


def _error(what: str, reason: Any, request: HttpRequest) -> TransportError:
    text = " ".join("{}: {}".format(what, reason).split())
    return TransportError(printable(redact(text, request.secrets), ERROR_LIMIT))


def _stage(error: BaseException) -> str:
    """Where the exchange broke, in words: connect, TLS handshake, proxy, or waiting for / reading the reply."""
    cause = error.reason if isinstance(error, urllib.error.URLError) else error
    if isinstance(cause, ssl.SSLError):
        return "TLS handshake"
    if str(cause).startswith("Tunnel connection failed"):
        return "proxy"
    if isinstance(cause, (ConnectionRefusedError, socket.gaierror)) or isinstance(error, urllib.error.URLError) \
            and isinstance(cause, OSError) and not isinstance(cause, (socket.timeout, TimeoutError)):
        return "connect"
    if isinstance(cause, (socket.timeout, TimeoutError)):
        return "waiting for the reply"
    return "reading the reply"


def _reason(error: BaseException, timeout: float) -> str:
    """Why a request got no reply, in words, with the fix when there is one."""
    cause = error.reason if isinstance(error, urllib.error.URLError) else error
    if isinstance(cause, ssl.SSLCertVerificationError):
        detail = cause.verify_message or str(cause)
        if "mismatch" in detail.lower() or "hostname" in detail.lower():
            return "certificate not valid for this name ({})".format(detail)
        return "certificate not trusted ({}); for a private CA set ca_file = its PEM file".format(detail)
    if isinstance(cause, (socket.timeout, TimeoutError)):  # socket.timeout is not a TimeoutError before 3.10
        return "no answer within {:g} s".format(timeout)
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    if isinstance(cause, socket.gaierror):
        return "host name not found ({})".format(cause.strerror)
    text = str(cause) or type(cause).__name__
    if text.startswith("Tunnel connection failed"):
        return "the proxy refused to connect us ({}); check https_proxy".format(text)
    return text


class _KeepStatus(urllib.request.HTTPErrorProcessor):
    """Hands every response back as it is: a 3xx is never followed (urllib would copy Authorization to
    wherever Location points), a 4xx/5xx is a reply for the channel to classify, not an exception."""

    def http_response(self, request: Any, response: Any) -> Any:
        return response

    https_response = http_response


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """The second guard: should a 3xx ever reach the redirect handler, it builds no new request."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class _Watchdog:
    """Shuts the request's sockets when the deadline passes, so a server trickling its TLS handshake, status
    line or headers (all read inside urllib, before we see any of it) cannot hold the request longer.

    It knows each socket by number and inode from the moment it is created: the number survives the TLS
    wrap, and the inode tells it apart from an unrelated socket that got the number after ours closed.
    """

    def __init__(self, seconds: float) -> None:
        self.fired = False
        self._sockets: List[Tuple[int, int]] = []
        self._stopped = False
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(seconds, 0.0), self._fire)
        self._timer.daemon = True

    def connection_class(self, base: Type[http.client.HTTPConnection]) -> Callable[..., http.client.HTTPConnection]:
        watchdog = self

        def make(*args: Any, **kwargs: Any) -> http.client.HTTPConnection:
            connection = base(*args, **kwargs)
            create = getattr(connection, "_create_connection", None)
            if create is not None:  # http.client's hook for tests, there since 3.4: sees the socket first
                setattr(connection, "_create_connection", lambda *a, **k: watchdog._track(create(*a, **k)))
            else:
                connect = connection.connect

                def tracked_connect() -> None:
                    connect()
                    watchdog._track(connection.sock)

                connection.connect = tracked_connect  # type: ignore[method-assign]  # this connection only
            return connection

        return make

    def _track(self, sock: socket.socket) -> socket.socket:
        number = sock.fileno()
        with self._lock:
            self._sockets.append((number, os.fstat(number).st_ino))
        return sock

    def _fire(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self.fired = True
            for number, inode in self._sockets:
                try:
                    if os.fstat(number).st_ino != inode:
                        continue
                    borrowed = socket.socket(fileno=number)
                    try:
                        borrowed.shutdown(socket.SHUT_RDWR)  # wakes the recv blocked in the other thread
                    finally:
                        borrowed.detach()
                except OSError:
                    pass

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
        self._timer.cancel()

    def __enter__(self) -> "_Watchdog":
        self._timer.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()


def _opener(watchdog: _Watchdog, context: ssl.SSLContext) -> urllib.request.OpenerDirector:

    class Http(urllib.request.HTTPHandler):
        def http_open(self, request: Any) -> Any:
            return self.do_open(watchdog.connection_class(http.client.HTTPConnection), request)

    class Https(urllib.request.HTTPSHandler):
        def https_open(self, request: Any) -> Any:
            return self.do_open(watchdog.connection_class(http.client.HTTPSConnection), request,
                                context=context)

    return urllib.request.build_opener(urllib.request.ProxyHandler(), Http(), Https(context=context),
                                       _RefuseRedirects(), _KeepStatus())


def _check_headers(request: HttpRequest) -> None:
    for name, value in request.headers:
        try:
            name.encode("ascii")
            value.encode("latin-1")
        except UnicodeEncodeError:
            raise _error("cannot send header " + printable(name, 40), "value is not latin-1", request) from None
        if "\r" in value or "\n" in value or not re.match(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", name):
            raise _error("cannot send header " + printable(name, 40), "line break or bad name", request)


def perform(request: HttpRequest, timeout: float = 10.0, deadline: float = 20.0, ca_file: str = "") -> HttpReply:
    """Takes a request, the seconds each socket operation may take, the seconds the whole exchange may take and
    an optional CA file; returns the reply (any status, 3xx included, body cut to 64 KiB); raises
    TransportError when there is no reply in time or at all."""
    try:
        parts = urllib.parse.urlsplit(request.url)
        where = (parts.hostname or "") + (":{}".format(parts.port) if parts.port else "")
    except ValueError:
        parts, where = None, ""
    if parts is None or parts.scheme not in ("http", "https") or not where:
        raise _error("cannot send", "only http and https URLs with a host and a valid port are allowed", request)
    try:
        trust = client_context(ca_file)
    except (OSError, ValueError) as error:
        raise _error("cannot use ca_file " + ca_file, getattr(error, "strerror", None) or error, request) from None
    _check_headers(request)
    headers = dict(request.headers)
    if not any(name.lower() == "user-agent" for name in headers):
        headers["User-Agent"] = USER_AGENT  # Cloudflare-fronted APIs (Discord) refuse Python-urllib's
    ends = time.monotonic() + deadline
    try:
        return verified(trust, lambda context: _exchange(request, headers, context, timeout, ends, where), _Untrusted)
    except _Untrusted as untrusted:
        raise untrusted.error from None
    except _OutOfTime:
        raise _error(where, "no complete reply within {:g} s".format(deadline), request) from None


class _Untrusted(Exception):
    """The server's certificate was not verified: error is the TransportError that says so."""

    def __init__(self, error: TransportError) -> None:
        super().__init__(str(error))
        self.error = error


class _OutOfTime(Exception):
    """The request's deadline passed (whatever broke then, the watchdog had shut the socket)."""


def _exchange(request: HttpRequest, headers: Dict[str, str], context: ssl.SSLContext, timeout: float, ends: float,
              where: str) -> HttpReply:
    """One attempt at the request, to end by the monotonic time ends; raises TransportError, _Untrusted or
    _OutOfTime."""
    failure: Optional[TransportError] = None
    untrusted = False
    with _Watchdog(ends - time.monotonic()) as watchdog:
        try:
            opener = _opener(watchdog, context)
            outgoing = urllib.request.Request(request.url, data=request.body, headers=headers,
                                              method=request.method)
            response = opener.open(outgoing, timeout=timeout)
            try:
                body = _read_body(response, ends)
            finally:
                watchdog.stop()  # while our socket still holds its number
                response.close()
        except _DeadlinePassed:
            watchdog.fired = True
        except (OSError, http.client.HTTPException, ValueError) as error:  # URLError is an OSError
            failure = _error("{} ({})".format(where, _stage(error)), _reason(error, timeout), request)
            untrusted = isinstance(getattr(error, "reason", error), ssl.SSLCertVerificationError)
    if watchdog.fired or time.monotonic() > ends:
        raise _OutOfTime()
    if failure is not None:
        raise _Untrusted(failure) if untrusted else failure
    reply_headers: Dict[str, str] = {}
    for name, value in response.headers.items():
        reply_headers.setdefault(name.lower(), value)
    return HttpReply(int(response.status), reply_headers, body)


class _DeadlinePassed(Exception):
    pass


def _read_body(response: Any, ends: float) -> bytes:
    chunks: List[bytes] = []
    size = 0
    while size < BODY_LIMIT:
        chunk = response.read(min(CHUNK, BODY_LIMIT - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if time.monotonic() > ends:
            raise _DeadlinePassed()
    return b"".join(chunks)
