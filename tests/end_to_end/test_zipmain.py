"""build/zipmain.py's fast path (an unpacked build, no shiv bootstrap) sets up what shiv's own bootstrap does."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Dict, Optional

from helpers import pyz_env

# Runs the pyz as `python ssh_alert.pyz --version` would, then reports what it set up: the pyz's __main__
# (build/zipmain.py) ends in sys.exit, which the probe catches.
PROBE = """
import json, runpy, sys
sys.argv = [sys.argv[1], "--version"]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit as exit:
    code = exit.code
print(json.dumps({"code": code, "path": sys.path, "entry": sys.modules["app.entry"].__file__,
                  "bootstrap": "_bootstrap" in sys.modules}))
"""


def probe(pyz_path: Path, home: Path, shiv_root: Path, force_extract: bool = False) -> Dict[str, object]:
    """What one run of the pyz set up: exit code, sys.path, the entry module's file, whether shiv bootstrapped."""
    extra: Dict[str, str] = {"SHIV_FORCE_EXTRACT": "1"} if force_extract else {}
    # cwd: `python -c` puts the working directory first in sys.path, and the repository's app/ must not be found.
    result = subprocess.run([sys.executable, "-c", PROBE, str(pyz_path)], env=pyz_env(home, shiv_root, **extra),
                            cwd=str(home), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr == "", result
    version, report = result.stdout.splitlines()
    assert version.startswith("ssh_alert "), result.stdout
    outcome: Dict[str, object] = json.loads(report)
    outcome["version"] = version
    return outcome


def without_bootstrap_flag(outcome: Dict[str, object]) -> Dict[str, Optional[object]]:
    return {key: value for key, value in outcome.items() if key != "bootstrap"}


def test_the_fast_path_and_shivs_bootstrap_set_the_same_sys_path_and_run_the_same_entry_point(
        pyz: Path, home: Path, tmp_path: Path) -> None:
    shiv_root = tmp_path / "shiv"
    unpacking = probe(pyz, home, shiv_root)  # nothing unpacked yet: shiv's bootstrap unpacks
    fast = probe(pyz, home, shiv_root)  # unpacked: zipmain's _prepare_unpacked, no bootstrap
    forced = probe(pyz, home, shiv_root, force_extract=True)  # unpacked, but shiv's bootstrap forced
    assert (unpacking["bootstrap"], fast["bootstrap"], forced["bootstrap"]) == (True, False, True)
    assert without_bootstrap_flag(fast) == without_bootstrap_flag(unpacking) == without_bootstrap_flag(forced)
    site_packages = str(Path(str(fast["entry"])).parent.parent)
    assert site_packages.startswith(str(shiv_root)) and site_packages.endswith("site-packages")
    path = list(fast["path"])  # type: ignore[call-overload]
    others = [index for index, entry in enumerate(path) if entry.endswith("-packages") and entry != site_packages]
    assert path.index(site_packages) < min(others, default=len(path)), path  # ahead of the interpreter's own
    assert fast["code"] == 0
