"""RFC 5424 syslog: structured data a collector parses into fields, and a JSON message.

``<86>1 2026-12-07T03:51:15.000000Z web1 ssh_alert - login [ssh_alert@32473 event_id="evt_..." user="alice"
rhost="203.0.113.7" ...] {"event":"login",...}``. 32473 is the documentation Private Enterprise Number
(RFC 5612) until one is registered. With ``syslog_format = rfc5424`` the messages go to the local socket;
``syslog_target = tcp://host:514`` (octet counting, RFC 6587) or ``udp://host:514`` sends them to a
collector. Every transport is at-least-once: the event id is what a collector dedupes on.
"""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit

from app.channels.base import RETRY, SENT, Event, Outcome
from app.system.text import printable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Sequence, Tuple

ENTERPRISE_ID = "ssh_alert@32473"
APP_NAME = "ssh_alert"
MAX_MESSAGE_BYTES = 8000  # RFC 5424 receivers must take 480 bytes, should take 2048; rsyslog's default is 8k
SEVERITY_INFO, SEVERITY_WARNING = 6, 4
FACILITY_CODES = {"authpriv": 10, "user": 1}
PARAMS = (("event_id", "id"), ("user", "user"), ("rhost", "ip"), ("port", "port"), ("key_fp", "key"),
          ("kind", "kind"), ("country", "country"), ("asn", "asn"), ("new_ip", "new_ip"), ("outcome", "outcome"))
CONNECT_TIMEOUT = 5.0


def param_value(value: str) -> str:
    """A PARAM-VALUE (RFC 5424 6.3.3): '"', '\\' and ']' escaped with a backslash."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def structured_data(pairs: Sequence[Tuple[str, str]]) -> str:
    return "[{} {}]".format(ENTERPRISE_ID, " ".join('{}="{}"'.format(name, param_value(value))
                                                   for name, value in pairs))


def _header_word(text: str, limit: int) -> str:
    """A HOSTNAME/APP-NAME/MSGID: printable US-ASCII without spaces, "-" when empty."""
    word = "".join(character for character in text if 33 <= ord(character) <= 126)[:limit]
    return word or "-"


def login_pairs(event: Dict[str, Any], login: Dict[str, Any]) -> List[Tuple[str, str]]:
    """The structured data of one login: event id, user, rhost, port, key fingerprint, kind, country, ASN..."""
    values = {"id": event["id"], "user": login.get("user", ""), "ip": login.get("ip", ""),
              "port": str(login.get("port", "") or ""), "key": login.get("key_fingerprint", ""),
              "kind": login.get("kind", ""), "country": login.get("country", ""),
              "asn": str(login.get("asn") or ""), "new_ip": "yes" if login.get("new_ip") else "no",
              "outcome": login.get("outcome", "")}
    return [(name, printable(str(values[field]), 200)) for name, field in PARAMS if values[field]]


def messages(event: Dict[str, Any], host: str, facility: str = "authpriv") -> List[bytes]:
    """The RFC 5424 messages of one event (one per login, one for a notice), UTF-8, without framing."""
    priority = FACILITY_CODES.get(facility, 10) * 8 + (SEVERITY_WARNING if event.get("urgent") else SEVERITY_INFO)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(float(event.get("time", time.time())))) + "Z"
    head = "<{}>1 {} {} {} - {} ".format(priority, stamp, _header_word(host, 255), APP_NAME,
                                          _header_word(str(event.get("type", "notice")), 32))
    logins = event.get("logins") or [None]
    out = []
    for login in logins:
        if login is None:
            pairs = [("event_id", event["id"])]
            body = {"event": event.get("type"), "id": event["id"], "host": host, "title": event.get("title", "")}
        else:
            pairs = login_pairs(event, login)
            body = dict(login, event="login", id=event["id"], host=host, urgent=bool(event.get("urgent")))
        message = json.dumps(body, ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=str)
        line = (head + structured_data(pairs) + " ").encode("utf-8") + b"\xef\xbb\xbf" + message.encode("utf-8")
        if len(line) > MAX_MESSAGE_BYTES:  # keep the structured data whole; cut the JSON's long values
            body = {key: value for key, value in body.items() if key != "raw"}
            message = json.dumps(body, ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=str)
            line = (head + structured_data(pairs) + " ").encode("utf-8") + b"\xef\xbb\xbf" + message.encode("utf-8")
            line = line[:MAX_MESSAGE_BYTES].decode("utf-8", "ignore").encode("utf-8")
        out.append(line)
    return out


def send(lines: Sequence[bytes], target: str, socket_path: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """Send each message: to tcp://host:port (octet-counted frames), udp://host:port (one datagram each), or the
    local datagram socket at socket_path when target is empty. Raises OSError."""
    if not target:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as local:
            local.settimeout(timeout)
            for line in lines:
                local.sendto(line, socket_path)
        return
    parts = urlsplit(target)
    if parts.scheme == "udp":
        address = socket.getaddrinfo(parts.hostname, parts.port, 0, socket.SOCK_DGRAM)[0]
        with socket.socket(address[0], socket.SOCK_DGRAM) as datagram:
            for line in lines:
                datagram.sendto(line, address[4])
        return
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as stream:
        stream.sendall(b"".join(str(len(line)).encode("ascii") + b" " + line for line in lines))


def sender(socket_path: str, facility: str, target: str) -> Callable[[Event], Outcome]:
    """The syslog channel with syslog_format = rfc5424 or a syslog_target; a failure is a retry."""

    def send_event(event: Event) -> Outcome:
        try:
            send(messages(event, str(event.get("host", "")), facility), target, socket_path)
        except OSError as error:
            return Outcome(RETRY, "cannot send syslog to {}: {}".format(target or socket_path,
                                                                        error.strerror or error))
        return Outcome(SENT)

    return send_event
