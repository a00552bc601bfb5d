"""check with email and push channels, against a real SMTP server and real HTTPS servers on loopback (trustme CA):
every login reaches every channel once; a failing channel is retried alone; secrets never reach the log."""

import json
import shutil
import time
import urllib.parse
from typing import Dict, Iterator

import pytest

from app.store import eventstore
from app.store.store import opened
from app.channels.webhook import verify_standard
from app.commands.check import run_check
from app.commands.status import run_status
from app.errors import ExitCode, UserError
from app.system.paths import Paths
from helpers import append_log, login_line, smtp_settings, write_config
from support.httpsworld import HttpsWorld, without_proxies
from support.mailsink import MailSink

SIGNING_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NTFY_TOKEN = "tk_secret_ntfy_token_123"


@pytest.fixture
def worlds(monkeypatch: pytest.MonkeyPatch) -> Iterator[Dict[str, HttpsWorld]]:
    without_proxies(monkeypatch)
    made = {name: HttpsWorld(api=name) for name in ("ntfy", "webhook", "discord")}
    try:
        yield made
    finally:
        for world in made.values():
            world.close()


def configure(paths: Paths, sink: MailSink, worlds: Dict[str, HttpsWorld], **alert: str) -> None:
    write_config(paths, alert=dict({"channels": "email, ntfy, webhook, discord"}, **alert), smtp=smtp_settings(sink))
    discord = worlds["discord"].url + "/api/webhooks/1/discord-token-456"
    for name, world in worlds.items():  # kept where the test puts them: a world closed mid-test deletes its own
        shutil.copy(world.ca_file, str(paths.home / "{}-ca.pem".format(name)))
    ca = {name: paths.home / "{}-ca.pem".format(name) for name in worlds}
    with open(str(paths.config_file), "a") as handle:
        handle.write("[ntfy]\nurl = {}/alerts\ntoken_command = echo {}\nca_file = {}\n".format(
            worlds["ntfy"].url, NTFY_TOKEN, ca["ntfy"]))
        handle.write("[webhook]\nurl = {}/hook\nsigning_secret_command = echo {}\nca_file = {}\n".format(
            worlds["webhook"].url, SIGNING_SECRET, ca["webhook"]))
        handle.write("[discord]\nwebhook_url_command = echo {}\nca_file = {}\n".format(
            discord, ca["discord"]))
    run_check(paths)  # seed


def login(paths: Paths, number: int, ip: str = "203.0.113.7") -> None:
    append_log(paths, login_line(ip=ip, extras="cport={} saddr=10.0.0.1 sport=22 tty=/dev/pts/0 epoch={}".format(
        40000 + number, int(time.time()) - 600 + number)))


def allow_retry_now(paths: Paths) -> None:
    """Time passes: every channel's backoff is over."""
    with opened(paths.store_file) as store, store.transaction():
        store.connection.execute("UPDATE channels SET not_before = NULL")


def test_one_login_reaches_email_and_every_push_channel_once_with_one_event_id(
        paths: Paths, sink: MailSink, worlds: Dict[str, HttpsWorld]) -> None:
    configure(paths, sink, worlds)
    login(paths, 1)
    assert run_check(paths).sent == 1  # one alert, counted once however many channels carried it
    run_check(paths)
    assert len(sink.messages) == 1
    ntfy, = worlds["ntfy"].requests
    hook, = worlds["webhook"].requests
    discord, = worlds["discord"].requests
    event = json.loads(hook.body)
    assert event["version"] == 1 and event["logins"][0]["ip"] == "203.0.113.7"
    assert verify_standard(SIGNING_SECRET, hook.headers["webhook-id"], int(hook.headers["webhook-timestamp"]),
                           hook.body, hook.headers["webhook-signature"])
    assert hook.headers["webhook-id"] == event["id"] == ntfy.headers["x-sequence-id"]
    assert ntfy.headers["authorization"] == "Bearer " + NTFY_TOKEN
    assert "203.0.113.7" in ntfy.body.decode() and "203.0.113.7" in json.loads(discord.body)["content"]
    assert discord.path.startswith("/api/webhooks/1/discord-token-456")


def test_a_failing_channel_is_retried_alone_and_delivers_once_when_back(
        paths: Paths, sink: MailSink, worlds: Dict[str, HttpsWorld]) -> None:
    configure(paths, sink, worlds)
    worlds["ntfy"].respond(503, b'{"code":50001,"http":503,"error":"down"}', times=1)
    login(paths, 1)
    with pytest.raises(UserError) as raised:  # exit 1: ntfy failed and its event stays pending
        run_check(paths)
    assert raised.value.exit_code == ExitCode.NOT_DONE
    assert "ntfy: HTTP 503" in raised.value.message and "1 alert(s) stay pending" in raised.value.message
    assert len(sink.messages) == 1 and len(worlds["webhook"].requests) == 1 and len(worlds["ntfy"].requests) == 1
    login(paths, 2, ip="203.0.113.8")
    run_check(paths)  # ntfy is backing off: email and the others get the second login now
    assert len(sink.messages) == 2 and len(worlds["webhook"].requests) == 2 and len(worlds["ntfy"].requests) == 1
    allow_retry_now(paths)
    run_check(paths)
    run_check(paths)
    assert len(sink.messages) == 2 and len(worlds["webhook"].requests) == 2 and len(worlds["discord"].requests) == 2
    retried = [request.body.decode() for request in worlds["ntfy"].requests[1:]]
    assert len(retried) == 2 and "203.0.113.7" in retried[0] and "203.0.113.8" in retried[1]


def test_429_waits_for_retry_after(paths: Paths, sink: MailSink, worlds: Dict[str, HttpsWorld]) -> None:
    configure(paths, sink, worlds)
    worlds["discord"].respond(429, b'{"message":"slow down","retry_after":120.0,"global":false}',
                              {"Retry-After": "120"}, times=1)
    login(paths, 1)
    with pytest.raises(UserError):
        run_check(paths)
    run_check(paths)  # discord waits for Retry-After: not tried, so not failed in this run
    assert len(worlds["discord"].requests) == 1
    with opened(paths.store_file) as store:
        state = eventstore.channel_state(store, "discord")
    assert state.not_before is not None and state.not_before - (state.last_error_time or 0) >= 119


def test_a_refused_token_is_not_retried_shows_in_status_and_is_told_once_by_email(
        paths: Paths, sink: MailSink, worlds: Dict[str, HttpsWorld]) -> None:
    configure(paths, sink, worlds)
    worlds["ntfy"].respond(401, b'{"code":40101,"http":401,"error":"unauthorized"}')
    login(paths, 1)
    run_check(paths)
    allow_retry_now(paths)
    run_check(paths)
    assert len(worlds["ntfy"].requests) == 1  # the login; never again, and never the notice about ntfy itself
    subjects = [received.message["Subject"] for received in sink.messages]
    assert len(subjects) == 2 and "the ntfy channel refused" in subjects[1]
    notices = [json.loads(request.body) for request in worlds["webhook"].requests[1:]]
    assert [notice["title"] for notice in notices] == ["ssh_alert on web1.example.com: the ntfy channel refused"]
    checks = {check.name: check for check in run_status(paths)}
    assert checks["ntfy"].status == "fail" and "401" in checks["ntfy"].detail
    assert checks["ntfy"].detail.startswith("refused for good")
    assert checks["webhook"].status == "ok"


def test_secrets_never_reach_the_log_or_status(paths: Paths, sink: MailSink, worlds: Dict[str, HttpsWorld]) -> None:
    configure(paths, sink, worlds)
    worlds["discord"].close()  # connection refused: the URL with its token is in the error
    login(paths, 1)
    with pytest.raises(UserError) as raised:  # exit 1: discord failed, its event stays pending
        run_check(paths)
    assert "discord" in raised.value.message and "discord-token-456" not in raised.value.message
    text = paths.oplog_file.read_text()
    assert "discord" in text and "discord-token-456" not in text
    assert not any("discord-token-456" in check.detail for check in run_status(paths))


def test_email_down_does_not_hold_the_push_channels(paths: Paths, sink: MailSink, worlds: Dict[str, HttpsWorld]) -> None:
    configure(paths, sink, worlds)
    sink.stop()
    login(paths, 1)
    login(paths, 2, ip="203.0.113.8")
    with pytest.raises(Exception):
        run_check(paths)  # exit 1: email failed, the logins stay pending for it
    assert len(worlds["ntfy"].requests) == 2 and len(worlds["webhook"].requests) == 2


HOSTILE_COMMENT = "<!channel> @everyone @room <b>x</b> *bold* [link](https://evil.example) \u202egpj.exe\u200b"
HOSTILE_TTY = "/dev/pts/0\r\nX-Injected: yes"
BLOB = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


def test_attacker_fields_arrive_inert_in_every_channel(paths: Paths, sink: MailSink,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    without_proxies(monkeypatch)
    names = ("ntfy", "telegram", "slack", "discord", "matrix", "gotify", "pushover", "webhook")
    worlds = {name: HttpsWorld(api=name) for name in names}
    try:
        write_config(paths, alert={"channels": "email, " + ", ".join(names)}, smtp=smtp_settings(sink))
        sections = {
            "ntfy": "url = {url}/alerts\nsecret_store = none",
            "telegram": "chat_id = 42\napi_base = {url}\ntoken_command = echo 123:telegram-token",
            "slack": "webhook_url_command = echo {url}/services/T/B/slack-token",
            "discord": "webhook_url_command = echo {url}/api/webhooks/1/discord-token",
            "matrix": "homeserver = {url}\nroom_id = !room:example.org\naccess_token_command = echo matrix-token",
            "gotify": "url = {url}\napp_token_command = echo gotify-token",
            "pushover": "user_key = u123\napi_base = {url}\napp_token_command = echo pushover-token",
            "webhook": "url = {url}/hook\nformat = plain"}
        with open(str(paths.config_file), "a") as handle:
            for name, text in sections.items():
                handle.write("[{}]\n{}\nca_file = {}\n".format(name, text.format(url=worlds[name].url),
                                                              worlds[name].ca_file))
        (paths.home / ".ssh").mkdir(parents=True, exist_ok=True)
        (paths.home / ".ssh" / "authorized_keys").write_text("ssh-ed25519 {} {}\n".format(BLOB, HOSTILE_COMMENT))
        run_check(paths)
        append_log(paths, login_line(extras="cport=1 saddr=10.0.0.1 sport=22 keytype=ssh-ed25519 key={} tty={}".format(
            BLOB, HOSTILE_TTY.replace("\r\n", "\\x0d\\x0a").replace(" ", "_"))))
        run_check(paths)
        bodies = {}
        for name in names:
            (request,) = worlds[name].requests
            assert all("\n" not in value and "\r" not in value for value in request.headers.values()), name
            bodies[name] = request.body.decode("utf-8")
            decoded = bodies[name]
            if request.headers.get("content-type", "").startswith("application/json"):
                decoded = json.dumps(json.loads(decoded), ensure_ascii=False)  # escapes undone: the real text
            elif request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                decoded = urllib.parse.unquote_plus(decoded)
            for character in ("\u202e", "\u200b"):
                assert character not in decoded, name
            assert "\\u202egpj.exe" in decoded or "u202egpj.exe" in decoded, name  # shown, escaped
        slack = json.loads(bodies["slack"])
        assert "<!channel>" not in slack["text"] and "&lt;!channel&gt;" in slack["text"]
        discord = json.loads(bodies["discord"])
        assert discord["allowed_mentions"] == {"parse": []}
        matrix = json.loads(bodies["matrix"])
        assert "<b>x</b>" not in matrix["formatted_body"] and matrix["m.mentions"] == {}
        assert "parse_mode" not in json.loads(bodies["telegram"])
        assert "html" not in bodies["pushover"]
        gotify = json.loads(bodies["gotify"])
        assert gotify["extras"]["client::display"]["contentType"] == "text/plain"
        assert "X-Injected" not in str(worlds["ntfy"].requests[0].headers)
    finally:
        for world in worlds.values():
            world.close()
