"""perform() against a real HTTPS server on loopback: verified TLS, no redirects, a deadline that a stalling or
trickling server cannot stretch, environment proxies, and error texts that are one line without secrets."""

import base64
import socket
import time
from typing import Iterator, Tuple

import pytest

from app.channels.base import HttpRequest
from app.channels.http import BODY_LIMIT, USER_AGENT, TransportError, perform, redact
from support.httpsworld import ConnectProxy, HttpsWorld, without_proxies

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    without_proxies(monkeypatch)  # a proxy in the environment must not intercept loopback


@pytest.fixture
def world() -> Iterator[HttpsWorld]:
    with HttpsWorld() as server:
        yield server


def post(url: str, headers: Tuple[Tuple[str, str], ...] = (), body: bytes = b"hello",
         secrets: Tuple[str, ...] = ()) -> HttpRequest:
    return HttpRequest("POST", url, headers, body, secrets)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def failure(request: HttpRequest, **arguments: object) -> str:
    with pytest.raises(TransportError) as caught:
        perform(request, **arguments)  # type: ignore[arg-type]
    text = str(caught.value)
    assert "\n" not in text and "\r" not in text
    return text


def test_perform_posts_the_request_and_returns_the_reply(world: HttpsWorld) -> None:
    world.respond(200, b'{"id":"x1"}', {"X-Custom": "yes"})
    reply = perform(post(world.url + "/topic?a=1", (("X-Title", "hi"),)), ca_file=world.ca_file)
    assert (reply.status, reply.body, reply.headers["x-custom"]) == (200, b'{"id":"x1"}', "yes")
    assert all(name == name.lower() for name in reply.headers)
    [recorded] = world.requests
    assert (recorded.method, recorded.path, recorded.body) == ("POST", "/topic?a=1", b"hello")
    assert recorded.headers["x-title"] == "hi" and recorded.headers["user-agent"] == USER_AGENT


@pytest.mark.parametrize("status", [400, 401, 404, 410, 413, 429, 500, 503])
def test_error_statuses_come_back_as_replies_not_exceptions(world: HttpsWorld, status: int) -> None:
    world.respond(status, b'{"error":"no"}', {"Retry-After": "7"})
    reply = perform(post(world.url + "/"), ca_file=world.ca_file)
    assert (reply.status, reply.body, reply.headers["retry-after"]) == (status, b'{"error":"no"}', "7")


def test_a_body_longer_than_64_kib_is_cut(world: HttpsWorld) -> None:
    world.respond(200, b"a" * (BODY_LIMIT * 3))
    assert perform(post(world.url + "/"), ca_file=world.ca_file).body == b"a" * BODY_LIMIT


def test_a_certificate_from_another_ca_is_refused_and_its_ca_file_makes_it_work(world: HttpsWorld) -> None:
    assert "certificate not trusted" in failure(post(world.url + "/"))
    with HttpsWorld() as stranger:
        assert "set ca_file" in failure(post(world.url + "/"), ca_file=stranger.ca_file)
    assert perform(post(world.url + "/"), ca_file=world.ca_file).status == 200


def test_the_certificate_names_127_0_0_1_and_localhost(world: HttpsWorld) -> None:
    assert perform(post("https://localhost:{}/".format(world.port)), ca_file=world.ca_file).status == 200


def test_a_certificate_for_another_name_is_refused() -> None:
    with HttpsWorld(names=("ntfy.example.org",)) as impostor:
        text = failure(post(impostor.url + "/"), ca_file=impostor.ca_file)
    assert "not valid for this name" in text and impostor.requests == []


def test_a_missing_ca_file_is_a_transport_error(world: HttpsWorld) -> None:
    assert "ca_file" in failure(post(world.url + "/"), ca_file="/nonexistent/ca.pem")


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_returned_and_not_followed(world: HttpsWorld, status: int) -> None:
    with HttpsWorld(world.ca) as elsewhere:
        world.respond(status, headers={"Location": elsewhere.url + "/stolen"})
        reply = perform(post(world.url + "/", (("Authorization", "Bearer " + TOKEN),)), ca_file=world.ca_file)
        assert (reply.status, reply.headers["location"]) == (status, elsewhere.url + "/stolen")
        assert elsewhere.requests == []  # so the Authorization header went nowhere else


def test_a_stalling_server_gives_a_transport_error_after_the_socket_timeout(world: HttpsWorld) -> None:
    world.stall(5)
    started = time.monotonic()
    text = failure(post(world.url + "/"), timeout=0.4, deadline=3, ca_file=world.ca_file)
    assert time.monotonic() - started < 1.5
    assert "no answer within 0.4 s" in text and text.startswith(
        "127.0.0.1:{} (waiting for the reply): ".format(world.port))


def test_a_stalling_server_is_cut_off_at_the_deadline_even_with_a_long_timeout(world: HttpsWorld) -> None:
    world.stall(5)
    started = time.monotonic()
    text = failure(post(world.url + "/"), timeout=5, deadline=0.6, ca_file=world.ca_file)
    assert time.monotonic() - started < 1.5
    assert "no complete reply within 0.6 s" in text


def test_a_server_that_never_answers_the_tls_handshake_is_cut_off_at_the_deadline() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # the kernel accepts; nobody ever reads the ClientHello
        started = time.monotonic()
        text = failure(post("https://127.0.0.1:{}/".format(silent.getsockname()[1])), timeout=5, deadline=0.5)
    assert time.monotonic() - started < 1.5
    assert "no complete reply within 0.5 s" in text


def test_a_trickling_server_is_cut_off_at_the_deadline(world: HttpsWorld) -> None:
    world.respond(200, b"x" * 2000)
    world.trickle(200)  # every byte arrives well within the socket timeout
    started = time.monotonic()
    text = failure(post(world.url + "/"), timeout=2, deadline=0.8, ca_file=world.ca_file)
    assert time.monotonic() - started < 2.0
    assert "no complete reply within 0.8 s" in text


def test_a_reply_that_trickles_in_before_the_deadline_is_read(world: HttpsWorld) -> None:
    world.trickle(20000)
    assert perform(post(world.url + "/"), timeout=2, deadline=5, ca_file=world.ca_file).body == b'{"ok":true}'


def test_https_proxy_from_the_environment_is_used(world: HttpsWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    with ConnectProxy() as proxy:
        monkeypatch.setenv("https_proxy", proxy.url)
        assert perform(post(world.url + "/"), ca_file=world.ca_file).status == 200
        assert proxy.targets == ["127.0.0.1:{}".format(world.port)]
        assert len(world.requests) == 1


def test_proxy_credentials_go_on_the_connect_and_not_to_the_server(world: HttpsWorld,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    with ConnectProxy("Basic " + base64.b64encode(b"user:pw").decode()) as proxy:
        monkeypatch.setenv("https_proxy", "http://user:pw@127.0.0.1:{}".format(proxy.port))
        assert perform(post(world.url + "/"), ca_file=world.ca_file).status == 200
        assert "proxy-authorization" not in world.requests[0].headers


def test_no_proxy_bypasses_the_proxy(world: HttpsWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    with ConnectProxy() as proxy:
        monkeypatch.setenv("https_proxy", proxy.url)
        monkeypatch.setenv("no_proxy", "localhost,127.0.0.1")
        assert perform(post(world.url + "/"), ca_file=world.ca_file).status == 200
        assert proxy.targets == [] and len(world.requests) == 1


def test_a_proxy_answering_407_gives_a_transport_error_without_the_proxy_password(
        world: HttpsWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    with ConnectProxy("Basic c29tZW9uZTplbHNl") as proxy:
        monkeypatch.setenv("https_proxy", "http://user:hunter2@127.0.0.1:{}".format(proxy.port))
        text = failure(post(world.url + "/"), ca_file=world.ca_file)
    assert "proxy refused" in text and "407" in text and "hunter2" not in text and world.requests == []


def test_an_unreachable_host_gives_a_transport_error_without_the_token(world: HttpsWorld) -> None:
    url = "https://127.0.0.1:{}/bot{}/sendMessage".format(closed_port(), TOKEN)
    text = failure(post(url, secrets=(TOKEN,)), timeout=1, deadline=2)
    assert text.endswith(": connection refused") and TOKEN not in text


def test_a_secret_quoted_by_the_error_is_redacted(world: HttpsWorld) -> None:
    # http.client quotes the whole path when it holds a control character
    text = failure(post(world.url + "/bot{}/send\x01".format(TOKEN), secrets=(TOKEN,)), ca_file=world.ca_file)
    assert TOKEN not in text and "[redacted]" in text


def test_redact_removes_plain_and_percent_encoded_secrets_and_url_passwords() -> None:
    secret = "12:ab/c d+e"
    text = "a 12:ab/c d+e b 12%3Aab%2Fc%20d%2Be c 12:ab/c%20d%2Be d http://bob:pw@proxy:3128 e"
    assert redact(text, (secret, "")) == "a [redacted] b [redacted] c [redacted] d http://[redacted]@proxy:3128 e"


def test_a_non_latin1_header_value_gives_a_transport_error_and_sends_nothing(world: HttpsWorld) -> None:
    text = failure(post(world.url + "/", (("X-Title", "\u0141\u00f3d\u017a"),)), ca_file=world.ca_file)
    assert "X-Title" in text and world.requests == []


def test_a_header_value_with_a_line_break_is_refused(world: HttpsWorld) -> None:
    failure(post(world.url + "/", (("X-Title", "a\r\nX-Evil: 1"),)), ca_file=world.ca_file)
    assert world.requests == []


def test_a_secret_header_value_is_never_quoted(world: HttpsWorld) -> None:
    text = failure(post(world.url + "/", (("Authorization", "Bearer \u20ac" + TOKEN),)), ca_file=world.ca_file)
    assert TOKEN not in text


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/x", "data:,x", "", "https:///nohost",
                                 "https://[::1/", "https://127.0.0.1:99999/", "https://127.0.0.1:x/"])
def test_only_http_and_https_urls_are_sent(url: str) -> None:
    assert "only http and https" in failure(post(url))
