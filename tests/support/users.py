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

    def __init__(self, prefix: str = "sabad", group: Optional[str] = None, umask: Optional[int] = None) -> None:
        self.name = prefix + secrets.token_hex(3)
        self.home = Path("/home") / self.name
        self.group = group  # a primary group shared with other users (shared hosting), else the user's own
        self.umask = umask  # run()'s umask (shared hosting often has 002)

    def __enter__(self) -> "LocalUser":
        subprocess.run(["useradd", "--create-home", "--home-dir", str(self.home), "--shell", "/bin/sh"] +
                       (["--gid", self.group] if self.group else []) + [self.name], check=True, capture_output=True)
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
        subprocess.run(["chown", "-R", "{}:{}".format(self.name, self.group or self.name), str(path)], check=True)

    def run(self, argv: Sequence[str], environ: Optional[Mapping[str, str]] = None,
            timeout: float = 60) -> subprocess.CompletedProcess:
        """Run argv as this user with a login-like environment (HOME, USER, PATH)."""
        base = {"HOME": str(self.home), "USER": self.name, "LOGNAME": self.name, "PATH": "/usr/bin:/bin",
                "LANG": "C.UTF-8"}
        base.update(environ or {})
        umask = ["sh", "-c", 'umask {:03o}; exec "$@"'.format(self.umask), "sh"] if self.umask is not None else []
        return subprocess.run(["runuser", "-u", self.name, "--", "env", "-i"] +
                              ["{}={}".format(key, value) for key, value in base.items()] + umask + list(argv),
                              capture_output=True, text=True, timeout=timeout, cwd=str(self.home))


class LocalGroup:
    """groupadd on enter, groupdel on exit (after its users are gone)."""

    def __init__(self, prefix: str = "sagrp") -> None:
        self.name = prefix + secrets.token_hex(3)

    def __enter__(self) -> "LocalGroup":
        subprocess.run(["groupadd", self.name], check=True, capture_output=True)
        return self

    def __exit__(self, *exc_info: object) -> None:
        subprocess.run(["groupdel", self.name], capture_output=True)


def is_root() -> bool:
    return os.geteuid() == 0
