"""A process that holds a secret leaves no core dump (its soft RLIMIT_CORE is 0)."""

import subprocess
import sys
from pathlib import Path

from helpers import ROOT, write_config
from app.system.paths import Paths


def test_resolving_the_smtp_password_sets_the_core_limit_to_zero(paths: Paths, tmp_path: Path):
    write_config(paths, smtp={"host": "mail.example.com", "user": "alice", "password_command": "echo s3cret"})
    probe = ("import resource, sys; from pathlib import Path; from app.system.paths import Paths; "
             "from app.settings.config import load_config; from app.settings.credentials import resolve_password; "
             "hard = resource.getrlimit(resource.RLIMIT_CORE)[1]; assert hard != 0; "
             "resource.setrlimit(resource.RLIMIT_CORE, (hard, hard)); "
             "paths = Paths.from_environ({'HOME': sys.argv[1]}); "
             "assert resolve_password(load_config(paths.config_file), paths) == 's3cret'; "
             "print(resource.getrlimit(resource.RLIMIT_CORE)[0])")
    finished = subprocess.run([sys.executable, "-c", probe, str(paths.home)], capture_output=True, text=True,
                              cwd=str(ROOT), timeout=30)
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == "0"
