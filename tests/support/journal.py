"""journald for the tests: a real systemd-journald in a private namespace (journalctl --namespace reads it back),
or, where the machine has none, a socket server that decodes the native protocol (datagrams and memfds)."""

import array
import json
import os
import shutil
import socket
import struct
import subprocess
import time
import uuid
from pathlib import Path
from typing import Dict, Iterator, List, Optional

from support.faketime import FAKETIME_VARIABLES

JOURNALD = Path("/lib/systemd/systemd-journald")


def can_run_journald() -> bool:
    return JOURNALD.is_file() and shutil.which("journalctl") is not None and os.geteuid() == 0


def parse_native(payload: bytes) -> Dict[str, str]:
    """One entry of the native protocol: KEY=value lines, or KEY\\n<64-bit LE length><value>\\n."""
    fields, index = {}, 0
    while index < len(payload):
        newline = payload.index(b"\n", index)
        line = payload[index:newline]
        if b"=" in line:
            name, _, value = line.partition(b"=")
            index = newline + 1
        else:
            name = line
            (size,) = struct.unpack("<Q", payload[newline + 1:newline + 9])
            value = payload[newline + 9:newline + 9 + size]
            index = newline + 9 + size + 1
        fields[name.decode()] = value.decode("utf-8", "replace")
    return fields


class Journal:
    """Where entries go (socket) and how to read them back (entries())."""

    socket: str

    def entries(self) -> List[Dict[str, str]]:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


def real_clock() -> Dict[str, str]:
    """This environment without libfaketime (`make test-future`): journald refuses to run under it, and its own
    timestamps are none of ours."""
    return {name: value for name, value in os.environ.items() if name not in FAKETIME_VARIABLES}


class RealJournal(Journal):
    """systemd-journald NAMESPACE: its own socket under /run/systemd/journal.NAMESPACE and its own files."""

    def __init__(self) -> None:
        self.namespace = "sshalert" + uuid.uuid4().hex[:10]
        self.socket = "/run/systemd/journal.{}/socket".format(self.namespace)
        self.process = subprocess.Popen([str(JOURNALD), self.namespace], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, env=real_clock())
        deadline = time.monotonic() + 10
        while not os.path.exists(self.socket):
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop()
                raise RuntimeError("systemd-journald {} did not start".format(self.namespace))
            time.sleep(0.05)

    def entries(self) -> List[Dict[str, str]]:
        subprocess.run(["journalctl", "--namespace=" + self.namespace, "--flush"], capture_output=True, timeout=30,
                       env=real_clock())
        time.sleep(0.2)  # the datagrams already sent are in the socket's queue; let journald write them
        result = subprocess.run(["journalctl", "--namespace=" + self.namespace, "-o", "json", "--all", "--no-pager",
                                 "SYSLOG_IDENTIFIER=ssh_alert"], capture_output=True, text=True, timeout=30,
                                env=real_clock())
        return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        machine = Path("/etc/machine-id").read_text().strip() if Path("/etc/machine-id").exists() else ""
        for directory in (Path("/var/log/journal") / "{}.{}".format(machine, self.namespace),
                          Path("/run/log/journal") / "{}.{}".format(machine, self.namespace),
                          Path("/run/systemd/journal.{}".format(self.namespace))):
            shutil.rmtree(str(directory), ignore_errors=True)


class DecodingJournal(Journal):
    """A datagram socket that keeps every entry, decoded, including those passed as a memfd."""

    def __init__(self, directory: Path) -> None:
        self.socket = str(directory / "journal.socket")
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.server.bind(self.socket)
        self.server.setblocking(False)
        self._entries: List[Dict[str, str]] = []

    def entries(self) -> List[Dict[str, str]]:
        while True:
            try:
                data, ancillary, _, _ = self.server.recvmsg(1 << 20, socket.CMSG_SPACE(4))
            except BlockingIOError:
                return list(self._entries)
            for level, kind, raw in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    descriptor = array.array("i", raw[:4])[0]
                    with os.fdopen(descriptor, "rb") as memfd:
                        memfd.seek(0)
                        data = memfd.read()
            self._entries.append(parse_native(data))

    def stop(self) -> None:
        self.server.close()


def open_journal(directory: Path) -> Journal:
    return RealJournal() if can_run_journald() else DecodingJournal(directory)


def journal_fixture(directory: Path) -> Iterator[Journal]:
    journal = open_journal(directory)
    try:
        yield journal
    finally:
        journal.stop()


def by_event(entries: List[Dict[str, str]]) -> Dict[Optional[str], int]:
    counts: Dict[Optional[str], int] = {}
    for entry in entries:
        counts[entry.get("SSH_ALERT_EVENT_ID")] = counts.get(entry.get("SSH_ALERT_EVENT_ID"), 0) + 1
    return counts
