"""Each push API's emulator (a real HTTPS server on loopback answering as that API does) given every bad answer
of issue 18's table, driven through check on a push-only account: after the server recovers, every login reaches
every channel exactly once; what is refused for good, or must wait more than an hour, is named in status and told
once through the other channel, never through the channel it is about."""

import json
import time
from typing import Dict, Iterator, List, Tuple

import pytest

from app.store import eventstore
from app.store.store import opened
from app.channels.base import MAX_WAIT
from app.commands.check import run_check
from app.commands.status import run_status
from app.errors import ExitCode, UserError
from app.system.paths import Paths
from helpers import append_log, login_line
from support.httpsworld import API_REPLIES, HTML_PORTAL, HttpsWorld, without_proxies

CHANNELS = ("ntfy", "telegram", "slack", "discord", "matrix", "gotify", "pushover", "webhook")
SECTIONS = {
    "ntfy": "url = {url}/alerts\nsecret_store = none",
    "telegram": "chat_id = 42\napi_base = {url}\ntoken_command = echo 123:telegram-token",
    "slack": "webhook_url_command = echo {url}/services/T/B/slack-token",
    "discord": "webhook_url_command = echo {url}/api/webhooks/1/discord-token",
    "matrix": "homeserver = {url}\nroom_id = !room:example.org\naccess_token_command = echo matrix-token",
    "gotify": "url = {url}\napp_token_command = echo gotify-token",
    "pushover": "user_key = u123\napi_base = {url}\napp_token_command = echo pushover-token",
    "webhook": "url = {url}/hook\nformat = plain"}
TEMPORARY = {"html 200": HTML_PORTAL, "302": (302, {"Location": "https://example.net/maintenance"}, b""),
             "303": (303, {"Location": "https://example.net/other"}, b""),
             "307": (307, {"Location": "https://example.net/maintenance"}, b""),
             "503": (503, {}, b"<html>Service Unavailable</html>"), "408": (408, {}, b""), "425": (425, {}, b"")}
PERMANENT = {"301": (301, {"Location": "https://example.net/moved"}, b""),
             "308": (308, {"Location": "https://example.net/moved"}, b""),
             "401": (401, {}, b'{"error":"unauthorized"}'), "404": (404, {}, b"not found")}


def observer_of(channel: str) -> str:
    return "ntfy" if channel == "webhook" else "webhook"


@pytest.fixture
def make_worlds(monkeypatch: pytest.MonkeyPatch) -> Iterator:
    without_proxies(monkeypatch)
    made: List[HttpsWorld] = []

    def make(paths: Paths, *names: str) -> Dict[str, HttpsWorld]:
        worlds = {name: HttpsWorld(api=name) for name in names}
        made.extend(worlds.values())
        paths.config_dir.mkdir(parents=True, exist_ok=True)
        text = ("[alert]\nchannels = {}\nreverse_dns = no\nhost_label = web1\ndigest_after = 1000\n"
                "max_per_hour = 10000\n").format(", ".join(names))
        for name, world in worlds.items():
            text += "[{}]\n{}\nca_file = {}\n".format(name, SECTIONS[name].format(url=world.url), world.ca_file)
        paths.config_file.write_text(text)
        paths.config_file.chmod(0o600)
        run_check(paths)  # seed
        return worlds

    yield make
    for world in made:
        world.close()


def login(paths: Paths, number: int) -> str:
    ip = "203.0.113.{}".format(number)
    append_log(paths, login_line(ip=ip, extras="cport={} saddr=10.0.0.1 sport=22 epoch={}".format(
        40000 + number, int(time.time()) - 60 + number)))
    return ip


def check(paths: Paths) -> str:
    """One check run; returns "" when it succeeded, else its one-line failure (exit 1: something stays pending)."""
    try:
        run_check(paths)
    except UserError as error:
        assert error.exit_code == ExitCode.NOT_DONE and "\n" not in error.message
        return error.message
    return ""


def allow_retry_now(paths: Paths) -> None:
    """Time passes: every channel's wait is over."""
    with opened(paths.store_file) as store, store.transaction():
        store.connection.execute("UPDATE channels SET not_before = NULL")


def channel_state(paths: Paths, name: str) -> eventstore.ChannelState:
    with opened(paths.store_file) as store:
        return eventstore.channel_state(store, name)


def carried(world: HttpsWorld) -> List[str]:
    """What each request carried, as text (JSON and form bodies decoded), for looking up an address or a title."""
    import urllib.parse

    texts = []
    for request in world.requests:
        body = request.body.decode("utf-8", "replace")
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            body = urllib.parse.unquote_plus(body)
        elif body.startswith("{"):
            body = json.dumps(json.loads(body), ensure_ascii=False)
        texts.append(body + " " + request.headers.get("x-title", ""))
    return texts


def count(world: HttpsWorld, needle: str) -> int:
    return sum(needle in text for text in carried(world))


# The webhook takes any 2xx as delivered: it has no API answer to prove, so an HTML 200 is no failure there.
@pytest.mark.parametrize("channel, case", [(channel, case) for case in sorted(TEMPORARY) for channel in CHANNELS
                                           if (channel, case) != ("webhook", "html 200")])
def test_a_temporary_failure_is_retried_and_the_login_arrives_once_when_the_server_recovers(
        paths: Paths, make_worlds, channel: str, case: str) -> None:
    worlds = make_worlds(paths, channel, observer_of(channel))
    world, observer = worlds[channel], worlds[observer_of(channel)]
    world.answer(TEMPORARY[case], times=1)
    ip = login(paths, 1)
    failure = check(paths)
    assert failure.startswith("delivery failed: {}: HTTP {}".format(channel, TEMPORARY[case][0])), failure
    state = channel_state(paths, channel)
    assert state.failures == 1 and state.not_before is not None, "retried later, not refused"
    checks = {check.name: check for check in run_status(paths)}
    assert checks[channel].status == "fail"
    if case == "html 200":
        assert "Sign in to the hotel Wi-Fi" in checks[channel].detail  # the reply's start, escaped
    check(paths)  # backing off: nothing sent again yet
    assert len(world.requests) == 1
    allow_retry_now(paths)
    assert (check(paths), check(paths)) == ("", "")
    assert len(world.requests) == 2 and count(world, ip) == 2  # the failed try, then one delivery
    assert count(observer, ip) == 1 and len(observer.requests) == 1  # no notice: nothing to tell
    assert {check.name: check for check in run_status(paths)}[channel].status == "ok"


@pytest.mark.parametrize("case", sorted(PERMANENT))
@pytest.mark.parametrize("channel", CHANNELS)
def test_a_permanent_refusal_is_named_and_told_once_through_the_other_channel_never_itself(
        paths: Paths, make_worlds, channel: str, case: str) -> None:
    worlds = make_worlds(paths, channel, observer_of(channel))
    world, observer = worlds[channel], worlds[observer_of(channel)]
    world.answer(PERMANENT[case], times=1)
    first = login(paths, 1)
    check(paths)
    allow_retry_now(paths)
    check(paths)
    assert len(world.requests) == 1, "refused for good: that event is not retried, and no notice goes there"
    checks = {check.name: check for check in run_status(paths)}
    assert checks[channel].status == "fail" and checks[channel].detail.startswith("refused for good")
    assert "HTTP " + case in checks[channel].detail
    notices = [text for text in carried(observer) if "the {} channel refused".format(channel) in text]
    assert len(notices) == 1 and count(observer, first) == 1, carried(observer)
    second = login(paths, 2)  # fixed: the next login goes through, once
    assert (check(paths), check(paths)) == ("", "")
    assert len(world.requests) == 2 and count(world, second) == 1 and count(observer, second) == 1
    assert {check.name: check for check in run_status(paths)}[channel].status == "ok"


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_retry_after_beyond_an_hour_waits_an_hour_and_is_told_once_through_the_other_channel(
        paths: Paths, make_worlds, channel: str) -> None:
    worlds = make_worlds(paths, channel, observer_of(channel))
    world, observer = worlds[channel], worlds[observer_of(channel)]
    world.respond(429, b'{"error":"slow down"}', {"Retry-After": "999999999"}, times=1)
    ip = login(paths, 1)
    assert check(paths).startswith("delivery failed: {}: HTTP 429".format(channel))
    state = channel_state(paths, channel)
    assert state.not_before is not None and state.last_error_time is not None
    assert state.not_before - state.last_error_time == pytest.approx(MAX_WAIT, abs=5)
    check(paths)
    told = [text for text in carried(observer) if "the {} channel asks to wait".format(channel) in text]
    assert len(told) == 1 and "999999999" in told[0]
    allow_retry_now(paths)
    assert (check(paths), check(paths)) == ("", "")
    assert len(world.requests) == 2 and count(world, ip) == 2  # the 429, then one delivery; never the notice
    assert len([text for text in carried(observer) if "asks to wait" in text]) == 1


@pytest.mark.parametrize("channel", CHANNELS)
def test_every_channel_backs_off_the_same_way_after_server_errors(paths: Paths, make_worlds, channel: str) -> None:
    worlds = make_worlds(paths, channel, observer_of(channel))
    world = worlds[channel]
    world.respond(500, b"<html>Internal Server Error</html>", times=2)
    ip = login(paths, 1)
    waits: List[Tuple[int, float]] = []
    for _ in range(2):
        for _ in range(3):  # runs a minute apart, as cron's: no extra request while the back-off lasts
            check(paths)
        state = channel_state(paths, channel)
        waits.append((len(world.requests), round((state.not_before or 0) - (state.last_error_time or 0))))
        allow_retry_now(paths)
    assert waits == [(1, 30), (2, 60)]
    assert check(paths) == ""
    assert len(world.requests) == 3 and count(world, ip) == 3 and channel_state(paths, channel).failures == 0


def test_each_emulator_answers_as_its_api_does_and_that_answer_proves_delivery() -> None:
    from app.channels.base import SENT, HttpReply
    from app.channels.push import channel_module

    for name in CHANNELS:
        status, headers, body = API_REPLIES[name]
        reply = HttpReply(status, {key.lower(): value for key, value in headers.items()}, body)
        assert channel_module(name).classify(reply).state == SENT, name
