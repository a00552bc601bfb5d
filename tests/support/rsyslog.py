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
RELP_COLLECTOR = """
global(workDirectory="{work}")
module(load="imrelp")
module(load="mmpstrucdata")
template(name="parsed" type="string" string="%$!%\\n")
ruleset(name="fleet") {{
    action(type="mmpstrucdata")
    action(type="omfile" file="{out}" template="parsed")
}}
input(type="imrelp" address="127.0.0.1" port="{tcp}" ruleset="fleet")
"""
# docs/fleet.md's forwarding snippet, fed by UDP on loopback instead of /dev/log
RELP_FORWARDER = """
global(workDirectory="{work}")
module(load="imudp")
module(load="imtcp")
module(load="omrelp")
ruleset(name="forward") {{
    if $programname == "ssh_alert" or $app-name == "ssh_alert" then {{
        action(type="omrelp" target="127.0.0.1" port="{target}"
               template="RSYSLOG_SyslogProtocol23Format"
               queue.type="LinkedList" queue.filename="ssh_alert_fwd" queue.saveOnShutdown="on"
               action.resumeRetryCount="-1" action.resumeInterval="1")
        stop
    }}
}}
input(type="imtcp" address="127.0.0.1" port="{tcp}" ruleset="forward")
input(type="imudp" address="127.0.0.1" port="{udp}" ruleset="forward")
"""
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


def can_run_rsyslog(relp: bool = False) -> bool:
    modules = ["mmpstrucdata.so"] + (["imrelp.so", "omrelp.so"] if relp else [])
    return os.path.exists(RSYSLOGD) and all((MODULES / name).exists() for name in modules) and os.geteuid() == 0


class Rsyslog:
    def __init__(self, directory: Path, template: str = CONFIG, tcp: int = 0, target: int = 0) -> None:
        """template: CONFIG (a collector on TCP and UDP), RELP_COLLECTOR, or RELP_FORWARDER to port target."""
        self.directory = directory
        (directory / "work").mkdir(parents=True, exist_ok=True)
        self.out = directory / "parsed.jsonl"
        self.tcp, self.udp = tcp or free_port(), free_port()
        config = directory / "rsyslog.conf"
        config.write_text(template.format(work=directory / "work", out=self.out, tcp=self.tcp, udp=self.udp,
                                          target=target))
        self.start()

    def start(self) -> None:
        config = self.directory / "rsyslog.conf"
        directory = self.directory
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

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(str(self.directory / "work"), ignore_errors=True)
