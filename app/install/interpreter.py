"""Which Python the login hook and the cron line call, by absolute path.

The login shell's `python3` may be too old (shared hosts keep 3.6 as python3 and put newer ones aside), and
cron's PATH is not the login shell's: install finds an interpreter >= 3.8 once and writes its path.
choose() is pure; probes() gathers the facts, lazily, so the search stops at the first usable one.
"""

from __future__ import annotations

import glob
import os
import re
import shutil

from app.system import proc
from app.system.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterable, Iterator, List, Optional, Tuple

MINIMUM = (3, 8)
MINORS = range(13, 7, -1)  # python3.13 ... python3.8, newest first
PROBE_TIMEOUT = 5.0
PROBE_CODE = "import sys; print(sys.version_info[:2]); print(sys.executable)"
_VERSION = re.compile(r"^\((\d+), (\d+)\)$")


class Probe(Record):
    """What running one candidate showed."""

    path: str
    version: Optional[Tuple[int, int]]  # None: it did not run, or printed something else
    executable: str = ""  # the interpreter's own sys.executable, when it is an executable file


class Choice(Record):
    path: str
    version: Optional[Tuple[int, int]]
    skipped: Tuple[Probe, ...]  # candidates tried before it and rejected


def choose(probes: Iterable[Probe], fallback: str, fallback_version: Tuple[int, int]) -> Choice:
    """Return the first probe with version >= MINIMUM (as its sys.executable when known), else fallback.

    sys.executable is preferred to the candidate's path: a wrapper such as pyenv's shim would otherwise cost
    a shell start on every login, and pick a different Python depending on the directory it runs in.
    """
    skipped: List[Probe] = []
    for probe in probes:
        if probe.version is not None and probe.version >= MINIMUM:
            return Choice(probe.executable or probe.path, probe.version, tuple(skipped))
        skipped.append(probe)
    return Choice(fallback, fallback_version, tuple(skipped))


def describe(choice: Choice) -> str:
    """One line saying which interpreter the hooks use, and why others were passed over."""
    version = "{}.{}".format(*choice.version) if choice.version else "unknown version"
    line = "interpreter: {} ({})".format(choice.path, version)
    reasons = ["{} is {}".format(probe.path, "{}.{}".format(*probe.version) if probe.version else "not runnable")
               for probe in choice.skipped]
    return line + ("; skipped " + ", ".join(reasons) if reasons else "")


def parse_probe(path: str, output: bytes) -> Probe:
    """Read the probe's output: "(3, 11)" then sys.executable (optional: a bare script may print only the version)."""
    lines = output.decode("utf-8", "replace").splitlines()
    match = _VERSION.match(lines[0].strip()) if lines else None
    if not match:
        return Probe(path, None)
    executable = lines[1].strip() if len(lines) > 1 else ""
    if not (os.path.isabs(executable) and os.path.isfile(executable) and os.access(executable, os.X_OK)):
        executable = ""
    return Probe(path, (int(match.group(1)), int(match.group(2))), executable)


def candidates(search_path: str) -> List[str]:
    """Candidate interpreters in order: python3 on PATH, python3.13 ... python3.8 on PATH, CloudLinux's
    /opt/alt/python3*/bin/python3, then /usr/local/bin/python3.*; each listed once."""
    names = ["python3"] + ["python3.{}".format(minor) for minor in MINORS]
    found = [path for path in (shutil.which(name, path=search_path) for name in names) if path]
    found += sorted(glob.glob("/opt/alt/python3*/bin/python3"), key=_number_in, reverse=True)
    found += sorted((path for path in glob.glob("/usr/local/bin/python3.*")
                     if re.search(r"/python3\.\d+$", path)), key=_number_in, reverse=True)
    unique: List[str] = []
    for path in found:
        if path and os.path.isabs(path) and path not in unique:
            unique.append(path)
    return unique


def _number_in(path: str) -> int:
    digits = re.findall(r"python3\.?(\d+)", path)
    return int(digits[-1]) if digits else 0


def probes(paths: Iterable[str]) -> Iterator[Probe]:
    """Run each candidate (lazily) to learn its version; a candidate that fails or hangs gets version None."""
    for path in paths:
        try:
            finished = proc.run([path, "-S", "-c", PROBE_CODE], timeout=PROBE_TIMEOUT)
        except (OSError, proc.TimedOut):
            yield Probe(path, None)
            continue
        yield parse_probe(path, finished.stdout) if finished.returncode == 0 else Probe(path, None)
