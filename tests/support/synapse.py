"""A real Synapse homeserver on loopback for the Matrix channel tests, from its own venv (.cache/synapse, made by
.ci/prereq from tests/support/synapse-requirements.txt, every version pinned).

``Synapse(directory)``: generates a config (SQLite, one plain-HTTP client listener on a free loopback port, no
federation, no registration), starts the homeserver, registers a user with the shared secret, logs in and
creates a room; ``stop()``/``start()`` take it down and up again on the same port and data; ``notices()`` lists
the m.notice bodies in the room, as a client reading it would.
"""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional

ROOT = Path(__file__).resolve().parent.parent.parent
VENV = ROOT / ".cache" / "synapse"
PYTHON = VENV / "bin" / "python"
REQUIREMENTS = Path(__file__).resolve().parent / "synapse-requirements.txt"
MISSING = "Synapse is not installed in {}; run: sudo make prereq (pip install -r {})".format(VENV, REQUIREMENTS)
START_TIMEOUT = 120.0


def installed() -> bool:
    return PYTHON.is_file() and subprocess.run([str(PYTHON), "-c", "import synapse"], capture_output=True).returncode == 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Synapse:
    """A Synapse homeserver on 127.0.0.1 with one user (alice) and one room; a context manager."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = _free_port()
        self.url = "http://127.0.0.1:{}".format(self.port)
        self.process: Optional[subprocess.Popen] = None
        self.config = directory / "homeserver.yaml"
        self._generate()
        self.start()
        try:
            self.token = self._user_token()
            self.room_id = str(self.call("POST", "/_matrix/client/v3/createRoom",
                                         {"preset": "private_chat"})["room_id"])
        except BaseException:
            self.stop()
            raise

    def _generate(self) -> None:
        subprocess.run([str(PYTHON), "-m", "synapse.app.homeserver", "--server-name", "localhost", "--config-path",
                        str(self.config), "--data-directory", str(self.directory), "--generate-config",
                        "--report-stats=no"], check=True, capture_output=True, cwd=str(self.directory), timeout=120)
        text = self.config.read_text()
        start = text.index("listeners:")
        end = text.index("\ndatabase:")
        listener = ("listeners:\n  - port: {}\n    tls: false\n    type: http\n    x_forwarded: false\n"
                    "    bind_addresses: ['127.0.0.1']\n    resources:\n      - names: [client]\n"
                    "        compress: false\n").format(self.port)
        text = text[:start] + listener + text[end:]
        text += ("\ntrusted_key_servers: []\nsuppress_key_server_warning: true\nenable_registration: false\n"
                 "federation_domain_whitelist: []\npresence:\n  enabled: false\n"
                 "rc_message:\n  per_second: 1000\n  burst_count: 1000\n"
                 "rc_login:\n  address:\n    per_second: 1000\n    burst_count: 1000\n"
                 "  account:\n    per_second: 1000\n    burst_count: 1000\n")
        self.config.write_text(text)

    def start(self) -> None:
        """Start the homeserver (again) and wait until its client API answers."""
        log = open(str(self.directory / "synapse.out"), "ab")
        self.process = subprocess.Popen([str(PYTHON), "-m", "synapse.app.homeserver", "-c", str(self.config)],
                                        cwd=str(self.directory), stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        ends = time.monotonic() + START_TIMEOUT
        while time.monotonic() < ends:
            if self.process.poll() is not None:
                raise RuntimeError("Synapse exited: " + (self.directory / "synapse.out").read_text()[-2000:])
            try:
                with urllib.request.urlopen(self.url + "/_matrix/client/versions", timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("Synapse did not answer within {:g} s".format(START_TIMEOUT))

    def stop(self) -> None:
        """kill -9 the homeserver (what a crash does)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self.process = None

    def _user_token(self) -> str:
        register = VENV / "bin" / "register_new_matrix_user"  # run by the venv's python: its shebang may be stale
        subprocess.run([str(PYTHON), str(register), "-u", "alice", "-p", "correct horse", "--no-admin", "-c",
                        str(self.config), self.url], check=True, capture_output=True, timeout=60)
        answer = self.call("POST", "/_matrix/client/v3/login", {
            "type": "m.login.password", "identifier": {"type": "m.id.user", "user": "alice"},
            "password": "correct horse", "device_id": "SSHALERT"}, token=None)
        return str(answer["access_token"])

    def call(self, method: str, path: str, body: Optional[Dict[str, Any]] = None,
             token: Optional[str] = "") -> Dict[str, Any]:
        """One client-API request as alice; returns the JSON answer."""
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = "Bearer " + (token or self.token)
        request = urllib.request.Request(self.url + path, data=None if body is None else json.dumps(body).encode(),
                                         headers=headers, method=method)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=30) as response:
            return dict(json.loads(response.read().decode("utf-8")))

    def notices(self) -> List[str]:
        """The bodies of the m.notice messages in the room, oldest first."""
        path = "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=1000".format(urllib.parse.quote(self.room_id, safe=""))
        events = self.call("GET", path).get("chunk", [])
        return [event["content"].get("body", "") for event in reversed(events)
                if event.get("type") == "m.room.message" and event.get("content", {}).get("msgtype") == "m.notice"]

    def close(self) -> None:
        self.stop()

    def __enter__(self) -> "Synapse":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()
