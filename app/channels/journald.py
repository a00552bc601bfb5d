"""The journald channel: one journal entry per login through journald's native protocol, stdlib only.

Each entry is one datagram to /run/systemd/journal/socket (mode 0666: any user may write) holding
``KEY=value`` lines: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER and the SSH_ALERT_* fields, so collectors
(systemd-journal-upload, Vector, Fluent Bit, Alloy) read them as fields: ``journalctl SSH_ALERT_USER=alice``.
An entry too large for one datagram goes as a sealed memfd passed over the socket, as sd_journal_send does.
Like syslog, entries are events of the outbox: a socket that is missing or refuses leaves them pending.
"""

from __future__ import annotations

import array
import errno
import os
import socket
import struct

from app.channels.base import RETRY, SENT, Event, Outcome
from app.system.text import printable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Sequence, Tuple

SOCKET = "/run/systemd/journal/socket"
IDENTIFIER = "ssh_alert"
PRIORITY_URGENT, PRIORITY_LOGIN = 4, 5  # warning, notice (syslog severities)
TOO_LARGE = (errno.EMSGSIZE, errno.ENOBUFS)
MAX_VALUE_BYTES = 64 * 1024


def _field(name: str, value: str) -> bytes:
    """One field in the native format: NAME=value, or NAME, its 64-bit length and the value when it has a newline."""
    data = value.encode("utf-8", "replace")[:MAX_VALUE_BYTES]
    if b"\n" in data:
        return name.encode("ascii") + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
    return name.encode("ascii") + b"=" + data + b"\n"


def login_fields(event: Event, login: Dict[str, Any]) -> List[Tuple[str, str]]:
    """The journal fields of one login of an event, printable."""
    key = "{} {}".format(login.get("key_type") or "key", login["key_fingerprint"]) \
        if login.get("key_fingerprint") else ""
    fields = [("SSH_ALERT_EVENT_ID", event["id"]), ("SSH_ALERT_TYPE", "login"),
              ("SSH_ALERT_HOST", str(event.get("host", ""))), ("SSH_ALERT_USER", login.get("user", "")),
              ("SSH_ALERT_RHOST", login.get("ip", "")), ("SSH_ALERT_PORT", str(login.get("port") or "")),
              ("SSH_ALERT_KEY_FP", key), ("SSH_ALERT_KIND", login.get("kind", "")),
              ("SSH_ALERT_METHOD", ",".join(login.get("methods", ()))),
              ("SSH_ALERT_COUNTRY", login.get("country", "")), ("SSH_ALERT_ASN", str(login.get("asn") or "")),
              ("SSH_ALERT_ORG", login.get("org", "")),
              ("SSH_ALERT_NEW_IP", "yes" if login.get("new_ip") else "no"),
              ("SSH_ALERT_NEW_COUNTRY", "yes" if login.get("new_country") else "no"),
              ("SSH_ALERT_NEW_NETWORK", "yes" if login.get("new_network") else "no"),
              ("SSH_ALERT_OUTCOME", login.get("outcome", "")),
              ("SSH_ALERT_EPOCH", "{:.0f}".format(login.get("epoch") or 0))]
    return [(name, printable(str(value))) for name, value in fields if value]


def entries(event: Event) -> List[bytes]:
    """The native-protocol payloads of one event: one per login, one for a notice."""
    priority = str(PRIORITY_URGENT if event.get("urgent") else PRIORITY_LOGIN)
    common = [("PRIORITY", priority), ("SYSLOG_IDENTIFIER", IDENTIFIER)]
    logins = event.get("logins") or []
    if not logins:
        fields = [("MESSAGE", printable(str(event.get("title", "")))), ("SSH_ALERT_EVENT_ID", event["id"]),
                  ("SSH_ALERT_TYPE", str(event.get("type", "notice"))), ("SSH_ALERT_HOST", str(event.get("host", "")))]
        return [b"".join(_field(name, value) for name, value in common + fields)]
    payloads = []
    for login in logins:
        message = "SSH login: {}@{} from {}".format(login.get("user") or "?", event.get("host", ""),
                                                     login.get("ip") or "?")
        fields = [("MESSAGE", printable(message))] + common + login_fields(event, login)
        payloads.append(b"".join(_field(name, value) for name, value in fields))
    return payloads


def _send_memfd(sock: socket.socket, payload: bytes, path: str) -> None:
    """Send payload as a sealed memfd (journald refuses unsealed ones): the fallback for large entries."""
    import fcntl

    descriptor = os.memfd_create("ssh_alert-journal", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        os.write(descriptor, payload)
        fcntl.fcntl(descriptor, fcntl.F_ADD_SEALS,
                    fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL)
        sock.sendmsg([], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [descriptor]))], 0, path)
    finally:
        os.close(descriptor)


def send(payloads: Sequence[bytes], path: str = SOCKET) -> None:
    """Write each payload as one journal entry; raises OSError when the socket is missing or refuses."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5.0)
        for payload in payloads:
            try:
                sock.sendto(payload, path)
            except OSError as error:
                if error.errno not in TOO_LARGE or not hasattr(os, "memfd_create"):
                    raise
                _send_memfd(sock, payload, path)


def sender(path: str) -> Callable[[Event], Outcome]:
    """The journald channel: writes an event's entries; a missing or refusing socket is a retry."""

    def send_event(event: Event) -> Outcome:
        try:
            send(entries(event), path)
        except OSError as error:
            return Outcome(RETRY, "cannot write to journald at {}: {}".format(path, error.strerror or error))
        return Outcome(SENT)

    return send_event
