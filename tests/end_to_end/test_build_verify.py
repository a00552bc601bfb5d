"""Supply chain: the build tools are pinned by hash and checked before building; `make verify` rebuilds this
tree and says whether it gives a published pyz byte for byte."""

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT

BUILD = ROOT / "build" / "build.py"


def verify(sha256: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BUILD), "--verify", sha256], capture_output=True, text=True,
                          cwd=str(ROOT), timeout=300)


def test_verify_rebuilds_the_pyz_byte_for_byte_and_names_a_mismatch(pyz: Path):
    digest = hashlib.sha256(pyz.read_bytes()).hexdigest()
    same = verify(digest)
    assert same.returncode == 0 and "verified" in same.stdout and digest in same.stdout, same.stderr
    other = verify("sha256:" + "0" * 64)
    assert other.returncode == 1 and "MISMATCH" in other.stdout and digest in other.stdout
    assert verify("not-a-digest").returncode == 2


def test_every_build_tool_is_pinned_by_hash_and_a_different_version_stops_the_build(tmp_path: Path):
    sys.path.insert(0, str(ROOT / "build"))
    try:
        import build as build_script
    finally:
        sys.path.remove(str(ROOT / "build"))
    lock = (ROOT / "requirements-build.lock").read_text()
    pinned = [line.split("==")[0] for line in lock.splitlines() if "==" in line and not line.startswith("#")]
    assert sorted(pinned) == ["click", "pip", "setuptools", "shiv"]
    assert lock.count("--hash=sha256:") == len(pinned)
    build_script.check_build_tools()  # the venv has exactly these
    wrong = tmp_path / "requirements-build.lock"
    wrong.write_text(lock.replace("shiv==1.0.8", "shiv==0.0.1"))
    with pytest.raises(build_script.BuildError, match="shiv 1.0.8 \\(pinned 0.0.1\\)"):
        build_script.check_build_tools(wrong)
