"""A throwaway local user (root only), for what only another uid shows: permissions root would ignore."""

import os
import pwd
import secrets
import shutil
import subprocess
import time
from pathlib import Path
from typing import Mapping, Optional, Sequence

SYSTEM_PYTHON = "/usr/bin/python3"  # pyenv's interpreters live under /root, which other users cannot enter


class LocalUser:
    """useradd on enter, every process killed and userdel on exit."""

    def __init__(self, prefix: str = "sabad") -> None:
        self.name = prefix + secrets.token_hex(3)
        self.home = Path("/home") / self.name

    def __enter__(self) -> "LocalUser":
        subprocess.run(["useradd", "--create-home", "--home-dir", str(self.home), "--shell", "/bin/sh", self.name],
                       check=True, capture_output=True)
        return self

    def __exit__(self, *exc_info: object) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            subprocess.run(["pkill", "-KILL", "-u", self.name], capture_output=True)
            if subprocess.run(["userdel", "--remove", self.name], capture_output=True).returncode in (0, 6, 12):
                break
            time.sleep(0.2)
        shutil.rmtree(str(self.home), ignore_errors=True)

    @property
    def uid(self) -> int:
        return pwd.getpwnam(self.name).pw_uid

    def chown(self, path: Path) -> None:
        """Give path (recursively) to this user."""
        subprocess.run(["chown", "-R", "{0}:{0}".format(self.name), str(path)], check=True)

    def run(self, argv: Sequence[str], environ: Optional[Mapping[str, str]] = None,
            timeout: float = 60) -> subprocess.CompletedProcess:
        """Run argv as this user with a login-like environment (HOME, USER, PATH)."""
        base = {"HOME": str(self.home), "USER": self.name, "LOGNAME": self.name, "PATH": "/usr/bin:/bin",
                "LANG": "C.UTF-8"}
        base.update(environ or {})
        return subprocess.run(["runuser", "-u", self.name, "--", "env", "-i"] +
                              ["{}={}".format(key, value) for key, value in base.items()] + list(argv),
                              capture_output=True, text=True, timeout=timeout, cwd=str(self.home))


def is_root() -> bool:
    return os.geteuid() == 0
