"""uninstall --purge leaves nothing of ssh_alert: shiv's extraction of the pyz (7 MB, never removed by shiv)
goes too, from SHIV_ROOT or ~/.shiv, and only ours."""

import os
from pathlib import Path

from app.commands.uninstall import shiv_extractions
from helpers import pyz_env, run_pyz


def test_purge_removes_the_shiv_extraction_and_its_lock(pyz: Path, home: Path, tmp_path: Path):
    root = tmp_path / "shiv"
    environ = pyz_env(home, root)
    assert run_pyz(pyz, ["--version"], environ).returncode == 0
    assert any(name.startswith("ssh_alert.pyz_") for name in os.listdir(str(root)))
    other = root / "other.pyz_{}".format("a" * 64)  # another zipapp's extraction stays
    other.mkdir()
    result = run_pyz(pyz, ["uninstall", "--purge", "--yes"], environ)
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(str(root))) == [other.name]


def test_from_a_source_checkout_there_is_no_extraction_to_remove(tmp_path: Path):
    assert shiv_extractions() == []
    extraction = tmp_path / "ssh_alert.pyz_{}".format("0" * 64)
    module = extraction / "site-packages" / "app" / "commands" / "uninstall.py"
    module.parent.mkdir(parents=True)
    module.write_text("")
    (tmp_path / ".ssh_alert.pyz_{}_lock".format("1" * 64)).write_text("")
    (tmp_path / "ssh_alert.pyz_notahash").mkdir()
    found = shiv_extractions(str(module))
    assert [path.name for path in found] == [".ssh_alert.pyz_{}_lock".format("1" * 64), extraction.name]
