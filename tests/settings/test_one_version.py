"""One version number, from one place: app/__init__.py; pyproject.toml reads it, the pyz prints it."""

import re
from pathlib import Path

from app import __version__
from helpers import ROOT, pyz_env, run_pyz


def test_pyproject_states_no_version_of_its_own_and_reads_app_version():
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert not re.search(r"(?m)^version\s*=", text.split("[tool.")[0])
    assert 'dynamic = ["version"]' in text and 'version = {attr = "app.__version__"}' in text


def test_the_pyz_prints_that_version(pyz: Path, home: Path, shiv_root: Path):
    result = run_pyz(pyz, ["--version"], pyz_env(home, shiv_root))
    assert result.stdout.strip() == "ssh_alert " + __version__
