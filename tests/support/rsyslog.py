"""A private rsyslogd on loopback ports (TCP and UDP) with mmpstrucdata: what a fleet's collector would parse.

Its own config, work directory and output file under a temporary directory; no /dev/log, nothing in /etc."""

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Dict, List

from support.mailworld import free_port

RSYSLOGD = "/usr/sbin/rsyslogd"
MODULES = Path("/usr/lib/x86_64-linux-gnu/rsyslog")
CONFIG = """
global(workDirectory="{work}")
module(load="imtcp")
module(load="imudp")
module(load="mmpstrucdata")
template(name="parsed" type="string" string="%$!%\\n")
ruleset(name="fleet") {{
    action(type="mmpstrucdata")
    action(type="omfile" file="{out}" template="parsed")
}}
input(type="imtcp" address="127.0.0.1" port="{tcp}" ruleset="fleet")
input(type="imudp" address="127.0.0.1" port="{udp}" ruleset="fleet")
"""


def can_run_rsyslog() -> bool:
    return os.path.exists(RSYSLOGD) and (MODULES / "mmpstrucdata.so").exists() and os.geteuid() == 0


class Rsyslog:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        (directory / "work").mkdir(parents=True, exist_ok=True)
        self.out = directory / "parsed.jsonl"
        self.tcp, self.udp = free_port(), free_port()
        config = directory / "rsyslog.conf"
        config.write_text(CONFIG.format(work=directory / "work", out=self.out, tcp=self.tcp, udp=self.udp))
        self.process = subprocess.Popen([RSYSLOGD, "-n", "-f", str(config), "-i", str(directory / "rsyslog.pid")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._wait_listening()

    def _wait_listening(self) -> None:
        import socket

        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("rsyslogd exited: " + self.process.stderr.read().decode(errors="replace"))
            try:
                socket.create_connection(("127.0.0.1", self.tcp), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("rsyslogd did not listen on {}".format(self.tcp))

    def parsed(self, count: int, timeout: float = 10) -> List[Dict[str, Any]]:
        """The first count messages rsyslog wrote, each its $! tree (rfc5424-sd), waiting up to timeout."""
        deadline = time.monotonic() + timeout
        lines: List[str] = []
        while time.monotonic() < deadline:
            lines = self.out.read_text().splitlines() if self.out.exists() else []
            if len(lines) >= count:
                break
            time.sleep(0.1)
        return [json.loads(line) for line in lines]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(str(self.directory / "work"), ignore_errors=True)
