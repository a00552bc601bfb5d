"""Tampering as a person or an intruder does it, for the tamper and key watch tests.

Files are edited the way shell tools edit them: appended in place (echo >>), rewritten through a new file
renamed over the old one (sed -i), chmod'ed. Root reads every file whatever its mode, so as_reader runs the
code under test as nobody when the tests run as root: then chmod 000 hides a file as it does from a user.
"""

import contextlib
import hashlib
import json
import os
import pickle
import shlex
import shutil
import tempfile
import traceback
from pathlib import Path
from typing import Callable, Iterator, NamedTuple, Optional, Sequence, TypeVar

from app.install.hookstate import hook_file
from app.install import crontab
from app.install.hooks import HOOKS, HookSettings, render_hook, shell_quote_path, with_block
from app.system.paths import Paths

NOBODY = 65534
PYTHON = "/usr/bin/python3"
Result = TypeVar("Result")


@contextlib.contextmanager
def shared_home() -> Iterator[Path]:
    """A home directory nobody can enter (tmp_path is under a 0700 directory), removed afterwards."""
    old_umask = os.umask(0o022)
    base = Path(tempfile.mkdtemp(prefix="ssh-alert-watch-", dir="/tmp"))
    try:
        base.chmod(0o755)
        home = base / "home"
        home.mkdir()
        yield home
    finally:
        os.umask(old_umask)
        shutil.rmtree(str(base), ignore_errors=True)


def as_reader(function: Callable[[], Result]) -> Result:
    """Return function(), run as nobody in a child process when we are root, else here."""
    if os.geteuid() != 0:
        return function()
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(reading)
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            outcome = ("ok", function())
        except BaseException:  # noqa: BLE001 - reported to the parent, which fails the test with it
            outcome = ("error", traceback.format_exc())
        with os.fdopen(writing, "wb") as pipe:
            pickle.dump(outcome, pipe)
        os._exit(0)
    os.close(writing)
    with os.fdopen(reading, "rb") as pipe:
        data = pipe.read()
    os.waitpid(child, 0)
    status, value = pickle.loads(data)
    assert status == "ok", value
    return value


def append_line(path: Path, line: str) -> None:
    """echo "$line" >> path."""
    with open(str(path), "a", encoding="utf-8", newline="") as handle:
        handle.write(line + "\n")


def sed_in_place(path: Path, edit: Callable[[str], Optional[str]]) -> None:
    """sed -i: each line (without its newline) through edit (None deletes it), into a new file renamed over path."""
    lines = path.read_text(encoding="utf-8").split("\n")
    kept = [edited for edited in (edit(line) for line in lines[:-1]) if edited is not None] + lines[-1:]
    mode = path.stat().st_mode & 0o7777
    temporary = path.with_name(path.name + ".sedtmp")
    temporary.write_text("\n".join(kept), encoding="utf-8")
    temporary.chmod(mode)
    os.replace(str(temporary), str(path))


def delete_between(path: Path, first: str, last: str) -> None:
    """sed -i '/first/,/last/d' path."""
    inside = [False]

    def edit(line: str) -> Optional[str]:
        if first in line:
            inside[0] = True
        keep = not inside[0]
        if inside[0] and last in line:
            inside[0] = False
        return line if keep else None

    sed_in_place(path, edit)


def set_mtime(path: Path, epoch: float) -> None:
    os.utime(str(path), (epoch, epoch))


class Installed(NamedTuple):
    pyz: Path
    pyz_hash: str
    crontab_text: str


def install_like(paths: Paths, hooks: Sequence[str] = HOOKS, python: str = PYTHON,
                 pyz_bytes: bytes = b"PK\x05\x06 a pyz\n") -> Installed:
    """Do what install writes: the pyz in ~/bin, a hook block per hook, the record; returns the crontab text."""
    pyz = paths.home / "bin" / "ssh_alert.pyz"
    pyz.parent.mkdir(parents=True, exist_ok=True)
    pyz.write_bytes(pyz_bytes)
    pyz.chmod(0o755)
    (paths.home / ".ssh").mkdir(exist_ok=True)
    existing = [name for name in (".ssh/rc", ".bash_profile", ".bash_login", ".profile", ".bashrc")
                if (paths.home / name).exists()]
    for hook in hooks:
        place = paths.home / hook_file(hook, existing)
        block = render_hook(HookSettings(shlex.quote(python), shell_quote_path(str(pyz), str(paths.home)), hook))
        text = place.read_text(encoding="utf-8") if place.exists() else ""
        place.write_text(with_block(text, block, at_top=(hook == "bashrc")).text, encoding="utf-8")
    paths.state_dir.mkdir(parents=True, exist_ok=True)
    (paths.state_dir / "install.json").write_text(json.dumps({"format": 1, "hooks": list(hooks), "python": python,
                                                              "pyz": str(pyz), "seeded": paths.store_file.exists()}),
                                                  encoding="utf-8")
    line = crontab.cron_line(python, str(pyz), {})
    return Installed(pyz, hashlib.sha256(pyz_bytes).hexdigest(), "MAILTO=\"\"\n0 3 * * * backup.sh\n" + line + "\n")
