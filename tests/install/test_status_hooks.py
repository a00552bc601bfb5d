"""status with no login hook installed: each missing hook is a FAIL line, and status exits 1."""

import json

import pytest

from app.cli import main
from app.commands.status_install import HOOK_MISSING
from app.install.hooks import HOOKS
from app.system.paths import Paths
from helpers import write_config


def test_every_missing_hook_is_a_fail_line_and_status_exits_1(paths: Paths, capsys: pytest.CaptureFixture):
    write_config(paths, alert={"method": "smtp"}, smtp={"host": "127.0.0.1", "port": "9", "security": "none"})
    code = main(["status", "--json"])
    checks = {check["name"]: check for check in json.loads(capsys.readouterr().out)["checks"]}
    assert code == 1
    for hook in HOOKS:
        assert checks[hook]["status"] == "fail", checks[hook]
        assert checks[hook]["detail"].startswith(HOOK_MISSING.split("{")[0])
