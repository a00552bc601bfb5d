"""The hook uses the paths install chose, never the client's environment (sshd's AcceptEnv can pass XDG_*)."""

import subprocess
from pathlib import Path

from app.install.hooks import block_settings, find_blocks
from app.system.paths import Paths
from helpers import hook_command, hook_env, install_pyz, python_dir, pyz_env, run_hook, run_pyz, smtp_settings, write_config
from support.mailsink import MailSink


def installed_block(home: Path, name: str) -> dict:
    text = (home / name).read_text()
    return block_settings(text[find_blocks(text)[0][0]:], str(home))


def test_a_client_set_xdg_directory_changes_nothing_the_login_is_alerted_through_the_accounts_config(
        paths: Paths, pyz: Path, shiv_root: Path, sink: MailSink, tmp_path: Path):
    install_pyz(paths.home, pyz)
    python = python_dir(tmp_path, Path(subprocess.check_output(["sh", "-c", "command -v python3"]).decode().strip()))
    write_config(paths, smtp=smtp_settings(sink))
    assert run_pyz(pyz, ["check"], pyz_env(paths.home, shiv_root)).returncode == 0  # seed
    client = tmp_path / "client"
    (client / "config" / "ssh-alert").mkdir(parents=True)
    (client / "config" / "ssh-alert" / "config.ini").write_text("[alert]\nto = intruder@example.net\n"
                                                                "rules = skip all\n")
    finished = run_hook(hook_env(paths.home, python, SHIV_ROOT=str(shiv_root), XDG_STATE_HOME=str(client / "state"),
                                 XDG_CONFIG_HOME=str(client / "config"), XDG_DATA_HOME=str(client / "data")))
    assert (finished.returncode, finished.stdout, finished.stderr) == (0, b"", b"")
    assert not (client / "state").exists() and not (client / "data").exists()
    assert len(paths.login_log.read_bytes().splitlines()) == 1
    (received,) = sink.wait_for(1, timeout=10)
    assert "203.0.113.7" in received.message["Subject"]


def test_install_writes_absolute_paths_into_the_blocks_and_a_new_xdg_state_home_updates_them(
        paths: Paths, pyz: Path, shiv_root: Path, tmp_path: Path):
    first, second = tmp_path / "state-one", tmp_path / "state-two"
    for state in (first, second):
        result = run_pyz(pyz, ["install", "--yes", "--no-cron", "--hooks", "ssh-rc,bashrc"],
                         pyz_env(paths.home, shiv_root, XDG_STATE_HOME=str(state)))
        assert result.returncode == 0, result.stdout + result.stderr
        for name in (".ssh/rc", ".bashrc"):
            named = installed_block(paths.home, name)
            assert named["state"] == str(state / "ssh-alert")
            assert (named["config_home"], named["data_home"]) == (str(paths.home / ".config"),
                                                                  str(paths.home / ".local/share"))
    assert "sa_dir=\"$HOME/" not in (paths.home / ".ssh" / "rc").read_text()  # outside home: written as it is


def test_the_hand_pasted_snippet_falls_back_to_the_default_paths_under_home(paths: Paths, tmp_path: Path):
    finished = run_hook(hook_env(paths.home, XDG_STATE_HOME=str(tmp_path / "elsewhere")))
    assert finished.returncode == 0
    assert Paths.from_environ({"HOME": str(paths.home)}).login_log.exists()
    assert not (tmp_path / "elsewhere").exists()


def test_every_file_the_hook_creates_is_0600_even_under_umask_002(paths: Paths, pyz: Path, shiv_root: Path,
                                                                   tmp_path: Path):
    import os
    import stat

    install_pyz(paths.home, pyz)
    python = python_dir(tmp_path, Path(subprocess.check_output(["sh", "-c", "command -v python3"]).decode().strip()))
    finished = subprocess.run(["sh", "-c", 'umask 002; exec "$@"', "sh"] + hook_command(), env=hook_env(paths.home, python, SHIV_ROOT=str(shiv_root)),
                              capture_output=True, stdin=subprocess.DEVNULL, timeout=20)
    assert finished.returncode == 0
    made = {path.name: stat.S_IMODE(path.stat().st_mode) for path in paths.state_dir.iterdir()}
    assert {"logins.log", "waited"} <= set(made) and set(made.values()) == {0o600}, made
    assert stat.S_IMODE(os.stat(str(paths.state_dir)).st_mode) == 0o700
