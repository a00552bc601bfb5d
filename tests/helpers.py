"""Helpers the tests share: paths, the real-component check, config and log writers, running the pyz and the hook.

Fixtures live in conftest.py; everything else tests import from here."""

import configparser
import glob
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Mapping, Optional

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.logins.loginlog import Position, position_at  # noqa: E402
from app.system.paths import Paths  # noqa: E402
from support.hookrun import hook_command  # noqa: E402,F401  (re-exported for tests)
from support.faketime import FAKETIME_VARIABLES, faked_clock  # noqa: E402,F401  (re-exported for tests)
from support.mailsink import MailSink  # noqa: E402

PYZ = ROOT / "dist" / "ssh_alert.pyz"
SNIPPET = ROOT / "bash_profile.snippet"
IN_CI = os.environ.get("CI") == "true"
SUPPORTED = ("3.8", "3.9", "3.10", "3.11", "3.12", "3.13")
def stamp(seconds_ago: float = 0.0, now: Optional[float] = None) -> str:
    """Returns a login log time ("YYYY-MM-DD HH:MM:SS +0000") seconds_ago before now (default: time.time())."""
    moment = (time.time() if now is None else now) - seconds_ago
    return time.strftime("%Y-%m-%d %H:%M:%S +0000", time.gmtime(moment))


def run_fresh(code: str, python: str = sys.executable) -> str:
    """Run code in a new interpreter (-S, this tree on sys.path); return its stdout; fail on a non-zero exit."""
    finished = subprocess.run([python, "-S", "-c", code], cwd=str(ROOT), capture_output=True, text=True,
                              timeout=60, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert finished.returncode == 0, finished.stderr
    return finished.stdout


def require(condition: bool, why: str) -> None:
    """Skip when a real component is missing locally; in CI (CI=true) a missing component fails the test."""
    if not condition:
        if IN_CI:
            pytest.fail("required in CI: " + why)
        pytest.skip(why)


def pyenv_pythons() -> Dict[str, Path]:
    """Map "3.8" ... "3.13" (and 3.6, 3.7) to the pyenv interpreters found on this machine."""
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found = {}
    for binary in sorted(glob.glob(os.path.join(root, "versions", "*", "bin", "python3"))):
        version = Path(binary).parent.parent.name
        parts = version.split(".")
        if len(parts) >= 2 and parts[0] == "3" and parts[1].isdigit():
            found.setdefault("3." + parts[1], Path(binary))
    return found


def write_config(paths: Paths, alert: Optional[Mapping[str, str]] = None,
                 smtp: Optional[Mapping[str, str]] = None) -> Path:
    """Write config.ini (0600) with the given [alert] and [smtp] keys."""
    parser = configparser.ConfigParser(interpolation=None)
    # Delivery-mechanics tests want one email per login and no DNS; the policy tests set these themselves.
    parser["alert"] = dict({"to": "owner@example.com", "from": "ssh-alert@example.com", "method": "smtp",
                            "host_label": "web1.example.com", "digest_after": "1000", "max_per_hour": "10000",
                            "reverse_dns": "no"}, **(alert or {}))
    if smtp is not None:
        parser["smtp"] = dict(smtp)
    paths.config_dir.mkdir(parents=True, exist_ok=True)
    with open(str(paths.config_file), "w") as handle:
        parser.write(handle)
    paths.config_file.chmod(0o600)
    return paths.config_file


def smtp_settings(server: MailSink, **extra: str) -> Dict[str, str]:
    """[smtp] keys for a MailSink (plain mode: security none, no AUTH)."""
    settings = {"host": server.host, "port": str(server.port), "security": "none", "timeout": "5"}
    settings.update(extra)
    return settings


def append_log(paths: Paths, *lines: bytes) -> None:
    paths.state_dir.mkdir(parents=True, exist_ok=True)
    with open(str(paths.login_log), "ab") as handle:
        for line in lines:
            handle.write(line + b"\n")


def login_line(ip: str = "203.0.113.7", user: str = "alice", when: Optional[str] = None,
               extras: str = "cport=51234 saddr=10.0.0.1 sport=22 tty=/dev/pts/0 hook=bash-profile") -> bytes:
    """Returns one login log line; when defaults to ten minutes ago."""
    return "{} {} {} publickey {}".format(stamp(600) if when is None else when, ip, user, extras).encode()


def numbered_line(number: int, user: str = "alice", extras: str = "") -> bytes:
    """Login line number (its second, address and client port follow the number), with extras after the port."""
    return "2026-11-25 11:55:{:02d} +0000 203.0.113.{} {} publickey cport=5{:04d} {}\n".format(
        number % 60, number % 250, user, number, extras).encode()


def position_at_end(path: Path) -> Position:
    """The log position at path's end, as a run that read it all stores it."""
    with open(str(path), "rb") as handle:
        return position_at(handle)


def pyz_env(home: Path, shiv_root: Optional[Path] = None, **extra: str) -> Dict[str, str]:
    """A clean environment for running the pyz as a user with this HOME would."""
    environ = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    environ.update(faked_clock())
    if shiv_root is not None:
        environ["SHIV_ROOT"] = str(shiv_root)
    environ.update(extra)
    return environ


def run_pyz(pyz_path: Path, arguments: List[str], environ: Mapping[str, str], python: Optional[Path] = None,
            timeout: float = 60, stdin: str = "") -> subprocess.CompletedProcess:
    """Run the pyz as a subprocess (with python, or through its shebang) and capture its output."""
    command = ([str(python)] if python else [sys.executable]) + [str(pyz_path)] + arguments
    return subprocess.run(command, env=dict(environ), input=stdin, capture_output=True, text=True, timeout=timeout)


def install_pyz(home: Path, pyz_path: Path) -> None:
    """Put the pyz where the shipped snippet expects it: ~/bin/ssh_alert.pyz."""
    (home / "bin").mkdir(exist_ok=True)
    shutil.copy2(str(pyz_path), str(home / "bin" / "ssh_alert.pyz"))


def python_dir(tmp: Path, python: Path) -> Path:
    """A directory holding `python3` -> python, to put first on PATH."""
    directory = tmp / "pybin"
    directory.mkdir(exist_ok=True)
    link = directory / "python3"
    if not link.exists():
        link.symlink_to(python)
    return directory


def hook_env(home: Path, path_prefix: Optional[Path] = None, connection: str = "203.0.113.7 51234 10.0.0.1 22",
             **extra: str) -> Dict[str, str]:
    """The environment sshd gives a login shell."""
    search_path = os.environ.get("PATH", "/usr/bin:/bin")
    environ = {"HOME": str(home), "USER": "alice", "LOGNAME": "alice", "SHELL": "/bin/sh",
               "PATH": (str(path_prefix) + ":" + search_path) if path_prefix else search_path,
               "SSH_CONNECTION": connection, "SSH_CLIENT": " ".join(connection.split()[:2] + ["22"])}
    environ.update(faked_clock())
    environ.update(extra)
    return environ


def run_hook(environ: Mapping[str, str], timeout: float = 10,
             parent: Optional[Path] = None) -> subprocess.CompletedProcess:
    """Run the snippet as a login shell started by sshd would."""
    return subprocess.run(hook_command(parent), env=dict(environ), capture_output=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
