"""install and uninstall: the built pyz run as a user would, on a temporary HOME and the real crontab.

The crontab is the real one of the user running the tests (root here): it is saved when this module starts
and put back after every test, also after a failure, so no test leaves a crontab behind.
"""

import json
import os
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.install import crontab as cron
from app.install import interpreter
from app.install.hookstate import HOOK_FILES, hook_file, installed
from app.commands.install import (BROKEN_BLOCK, NOT_A_PYZ, PANEL_LINE, UNKNOWN_HOOK, InstallFacts,
                                  plan_install)
from app.commands.result import OK, WARN
from app.commands.status_install import HOOK_HIDDEN, hook_check
from app.install.hooks import (BEGIN, END, LEGACY_PREFIX, XAUTH_BEGIN, BrokenBlock, bash_login_file, block_settings,
                       HookSettings, default_hooks, disable_legacy_lines, enable_legacy_lines, find_blocks, render_hook,
                       with_block, without_blocks)
from app.commands.confirm import CANCELLED, CANCELLED_EXIT, DRY_RUN_DONE, NEEDS_YES, NOTHING_TO_DO
from app.install.installplan import CrontabEdit, FileEdit, FileFact, WriteRecord
from app.logins.loginline import parse_line
from app.system.paths import Paths
from helpers import (ROOT, hook_command, hook_env, pyz_env, require, run_pyz, smtp_settings, write_config)
from support.hookrun import fake_sshd
from support.mailsink import MailSink

CRONTAB = shutil.which("crontab")
DEBIAN_BASHRC = ("# ~/.bashrc: executed by bash(1) for non-login shells.\n\n"
                 "# If not running interactively, don't do anything\n"
                 "case $- in\n    *i*) ;;\n      *) return;;\nesac\n\nHISTCONTROL=ignoreboth\nalias ll='ls -l'\n")
LEGACY_HOOK = ("[ -n \"$SSH_CLIENT\" ] && echo \"$(date '+%Y-%m-%d %H:%M:%S %z') ${SSH_CLIENT%% *} $USER "
               "${SSH_AUTH_METHOD:-unknown}\" >> ~/.ssh_logins && python3 ~/bin/ssh_login_monitor.py")
LEGACY_JOB = "*/5 * * * * python3 $HOME/bin/ssh_login_monitor.py >> $HOME/logs/ssh_login_monitor.log 2>&1"
USER_CRONTAB = "MAILTO=owner@example.com\n# nightly backup\n30 3 * * * /usr/bin/true backup %H\n" + LEGACY_JOB + "\n"


# --- the real crontab, saved and restored --------------------------------------------------------------

def read_crontab() -> Optional[str]:
    """The current crontab text, None when there is none."""
    finished = subprocess.run([CRONTAB or "crontab", "-l"], capture_output=True, text=True, timeout=10)
    if finished.returncode == 0:
        return finished.stdout
    assert "no crontab for" in finished.stderr, finished.stderr
    return None


def set_crontab(text: Optional[str]) -> None:
    if text is None:
        subprocess.run([CRONTAB or "crontab", "-r"], capture_output=True, timeout=10)  # fails when none: fine
    else:
        subprocess.run([CRONTAB or "crontab", "-"], input=text, text=True, capture_output=True, check=True,
                       timeout=10)


@pytest.fixture(scope="module", autouse=True)
def saved_crontab() -> Iterator[Optional[str]]:
    if CRONTAB is None:
        yield None
        return
    saved = read_crontab()
    try:
        yield saved
    finally:
        set_crontab(saved)


@pytest.fixture(autouse=True)
def crontab_restored(saved_crontab: Optional[str]) -> Iterator[None]:
    yield
    if CRONTAB is not None and read_crontab() != saved_crontab:
        set_crontab(saved_crontab)


@pytest.fixture
def crontab_command() -> None:
    require(CRONTAB is not None, "no crontab command (Debian's cron package)")


# --- helpers -------------------------------------------------------------------------------------------

def snapshot(root: Path, times: bool = False) -> Dict[str, Tuple]:
    """Every file and directory under root: kind, mode and bytes (and modification times when asked)."""
    found: Dict[str, Tuple] = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        if path.is_symlink():
            found[str(path.relative_to(root))] = ("link", os.readlink(str(path)))
        elif path.is_dir():
            found[str(path.relative_to(root))] = ("dir", stat.S_IMODE(info.st_mode))
        else:
            found[str(path.relative_to(root))] = ("file", stat.S_IMODE(info.st_mode), path.read_bytes()) + (
                (info.st_mtime_ns,) if times else ())
    return found


def install(pyz_path: Path, home: Path, shiv_root: Path, *arguments: str,
            **environ: str) -> subprocess.CompletedProcess:
    return run_pyz(pyz_path, ["install", "--yes"] + list(arguments), pyz_env(home, shiv_root, **environ))


def uninstall(pyz_path: Path, home: Path, shiv_root: Path, *arguments: str) -> subprocess.CompletedProcess:
    return run_pyz(pyz_path, ["uninstall", "--yes"] + list(arguments), pyz_env(home, shiv_root))


def succeeded(result: subprocess.CompletedProcess) -> str:
    assert (result.returncode, result.stderr) == (0, ""), result.stdout + result.stderr
    return result.stdout


def status_checks(pyz_path: Path, home: Path, shiv_root: Path, **environ: str) -> Dict[str, Dict[str, str]]:
    result = run_pyz(pyz_path, ["status", "--json"], pyz_env(home, shiv_root, **environ))
    return {check["name"]: check for check in json.loads(result.stdout)["checks"]}


def hook_python(home: Path, name: str = ".bash_profile") -> str:
    """The interpreter the installed block in ~/name calls."""
    text = (home / name).read_text()
    return block_settings(text[find_blocks(text)[0][0]:], str(home))["python"]


def write_script(path: Path, text: str) -> Path:
    path.write_text("#!/bin/sh\n" + text)
    path.chmod(0o755)
    return path


def logged(paths: Paths) -> List:
    return [parse_line(line) for line in paths.login_log.read_bytes().splitlines()]


def a_lived_in_home(home: Path) -> None:
    """Startup files as users have them: the original script's hook, no final newline, Debian's .bashrc,
    an rc of their own, bytes that are not UTF-8, a group-readable mode."""
    (home / ".bash_profile").write_bytes(b"# caf\xe9 latin-1\nexport PATH=$HOME/bin:$PATH\n" + LEGACY_HOOK.encode()
                                         + b"\n[ -f ~/.bashrc ] && . ~/.bashrc")
    (home / ".bash_profile").chmod(0o640)
    (home / ".bashrc").write_text(DEBIAN_BASHRC)
    (home / ".profile").write_text("# not read by bash: .bash_profile exists\n")
    (home / ".ssh").mkdir(mode=0o700)
    (home / ".ssh" / "rc").write_text("# my rc\nexport MY_RC=1\n")
    (home / ".config" / "ssh-alert").mkdir(parents=True)
    (home / ".config" / "ssh-alert" / "config.ini").write_text("[alert]\nto = owner@example.com\n")


# --- install, status, uninstall through the built pyz --------------------------------------------------

def test_install_then_status_shows_every_hook_and_the_cron_line_ok(pyz: Path, shiv_root: Path, paths: Paths,
                                                                   crontab_command: None):
    output = succeeded(install(pyz, paths.home, shiv_root))
    assert "~/.bash_profile: create; insert block at top" not in output  # appended, not at the top
    checks = status_checks(pyz, paths.home, shiv_root)
    assert {name: checks[name]["status"] for name in ("ssh-rc", "bash-profile", "bashrc", "cron")} == {
        "ssh-rc": OK, "bash-profile": OK, "bashrc": OK, "cron": OK}
    assert checks["bash-profile"]["detail"] == "login hook in ~/.bash_profile"
    installed = paths.home / "bin" / "ssh_alert.pyz"
    assert installed.read_bytes() == pyz.read_bytes() and stat.S_IMODE(installed.stat().st_mode) == 0o700
    (line,) = [line for line in read_crontab().splitlines() if line.endswith(cron.MARKER)]
    assert checks["cron"]["detail"] == line + "; no run recorded yet"  # installed just now
    assert line.startswith("* * * * * ") and " -S {} check --cron >/dev/null 2>&1 # ssh_alert".format(installed) in line


def test_a_second_install_changes_no_file_and_leaves_the_crontab_as_it_was(pyz: Path, shiv_root: Path,
                                                                           paths: Paths, crontab_command: None):
    a_lived_in_home(paths.home)
    succeeded(install(pyz, paths.home, shiv_root))
    files, crontab_text = snapshot(paths.home, times=True), read_crontab()
    output = succeeded(install(pyz, paths.home, shiv_root))
    assert output.splitlines()[-1] == NOTHING_TO_DO
    # Run from the installed copy, which is the destination itself: still nothing to do.
    again = run_pyz(paths.home / "bin" / "ssh_alert.pyz", ["install", "--yes"], pyz_env(paths.home, shiv_root))
    assert succeeded(again).splitlines()[-1] == NOTHING_TO_DO
    assert snapshot(paths.home, times=True) == files and read_crontab() == crontab_text
    assert sum(line == BEGIN for line in (paths.home / ".bash_profile").read_text("latin-1").splitlines()) == 1


def test_uninstall_restores_every_file_byte_for_byte_and_the_crontab_text_exactly(pyz: Path, shiv_root: Path,
                                                                                  paths: Paths,
                                                                                  crontab_command: None):
    a_lived_in_home(paths.home)
    set_crontab(USER_CRONTAB)
    before = snapshot(paths.home)
    succeeded(install(pyz, paths.home, shiv_root))
    assert snapshot(paths.home) != before
    output = succeeded(uninstall(pyz, paths.home, shiv_root))
    assert snapshot(paths.home) == before  # backups, the pyz, ~/bin and the record are gone too; the config stays
    assert read_crontab() == USER_CRONTAB
    assert "config, state, logs and stored password are kept" in output


def test_install_and_uninstall_in_an_empty_home_leave_it_empty_and_no_crontab(pyz: Path, shiv_root: Path,
                                                                              paths: Paths, crontab_command: None):
    set_crontab(None)
    succeeded(install(pyz, paths.home, shiv_root))
    assert (paths.home / ".bash_profile").exists() and read_crontab() is not None
    succeeded(uninstall(pyz, paths.home, shiv_root))
    assert snapshot(paths.home) == {} and read_crontab() is None


def test_uninstall_purge_also_deletes_config_state_and_stored_password(pyz: Path, shiv_root: Path, paths: Paths,
                                                                      crontab_command: None):
    succeeded(install(pyz, paths.home, shiv_root))
    write_config(paths)
    paths.data_dir.mkdir(parents=True)
    paths.secrets_file.write_text("{}")
    paths.login_log.write_text("a login\n")
    output = succeeded(uninstall(pyz, paths.home, shiv_root, "--purge"))
    assert "delete with everything in it (--purge)" in output
    assert not paths.config_dir.exists() and not paths.state_dir.exists() and not paths.data_dir.exists()
    assert not (paths.home / ".bash_profile").exists() and not (paths.home / "bin").exists()


def test_a_home_with_only_profile_gets_the_block_there_and_no_bash_profile(pyz: Path, shiv_root: Path, paths: Paths):
    (paths.home / ".profile").write_text("export EDITOR=vi\n")
    succeeded(install(pyz, paths.home, shiv_root, "--no-cron"))
    assert not (paths.home / ".bash_profile").exists()
    text = (paths.home / ".profile").read_text()
    assert text.startswith("export EDITOR=vi\n" + BEGIN + "\n") and text.endswith(END + "\n")
    assert (paths.home / ".profile.ssh-alert.bak").read_text() == "export EDITOR=vi\n"


def test_a_home_with_bash_login_gets_the_block_there_not_in_a_new_bash_profile(pyz: Path, shiv_root: Path,
                                                                               paths: Paths):
    (paths.home / ".bash_login").write_text("echo hi\n")
    (paths.home / ".profile").write_text("export EDITOR=vi\n")
    succeeded(install(pyz, paths.home, shiv_root, "--no-cron", "--hooks", "bash-profile"))
    assert not (paths.home / ".bash_profile").exists()
    assert BEGIN in (paths.home / ".bash_login").read_text()
    assert (paths.home / ".profile").read_text() == "export EDITOR=vi\n"


def test_the_bashrc_block_sits_above_debians_not_interactive_return_and_sees_ssh_commands(
        pyz: Path, shiv_root: Path, paths: Paths, tmp_path: Path):
    (paths.home / ".bashrc").write_text(DEBIAN_BASHRC)
    succeeded(install(pyz, paths.home, shiv_root, "--no-cron", "--hooks", "bashrc"))
    text = (paths.home / ".bashrc").read_text()
    assert text.startswith(BEGIN + "\n") and text.endswith(END + "\n" + DEBIAN_BASHRC)
    # `ssh host cmd`: sshd runs `bash -c cmd`, which (Debian) reads ~/.bashrc and returns at the case line.
    subprocess.run([str(fake_sshd(tmp_path)), "-c", "bash -c true; true"], env=hook_env(paths.home),
                   capture_output=True, timeout=10, stdin=subprocess.DEVNULL)
    (record,) = logged(paths)
    assert record.extra("hook") == "bashrc" and record.extra("kind") == "command"


def test_an_ssh_rc_created_by_install_keeps_x11_working_and_prints_nothing(pyz: Path, shiv_root: Path,
                                                                           paths: Paths):
    succeeded(install(pyz, paths.home, shiv_root, "--no-cron"))
    rc = paths.home / ".ssh" / "rc"
    assert XAUTH_BEGIN in rc.read_text() and "xauth" in rc.read_text()
    assert stat.S_IMODE((paths.home / ".ssh").stat().st_mode) == 0o700
    finished = subprocess.run(["sh", str(rc)], env=hook_env(paths.home, DISPLAY="localhost:10.0"),
                              input=b"MIT-MAGIC-COOKIE-1 0123456789abcdef\n", capture_output=True, timeout=10)
    assert (finished.returncode, finished.stdout, finished.stderr) == (0, b"", b"")
    (record,) = logged(paths)
    assert record.extra("hook") == "ssh-rc"


def test_an_existing_ssh_rc_that_runs_xauth_itself_gets_no_second_xauth(pyz: Path, shiv_root: Path, paths: Paths):
    (paths.home / ".ssh").mkdir(mode=0o700)
    own = "if read proto cookie && [ -n \"$DISPLAY\" ]; then echo add $DISPLAY $proto $cookie | xauth -q -; fi\n"
    (paths.home / ".ssh" / "rc").write_text(own)
    succeeded(install(pyz, paths.home, shiv_root, "--no-cron", "--hooks", "ssh-rc"))
    text = (paths.home / ".ssh" / "rc").read_text()
    assert text.startswith(own) and XAUTH_BEGIN not in text and BEGIN in text


def test_a_login_through_the_installed_bash_profile_is_recorded(pyz: Path, shiv_root: Path, paths: Paths,
                                                                tmp_path: Path):
    succeeded(install(pyz, paths.home, shiv_root, "--no-cron"))
    finished = subprocess.run(hook_command(fake_sshd(tmp_path), paths.home / ".bash_profile"),
                              env=hook_env(paths.home, SHIV_ROOT=str(shiv_root)), capture_output=True, timeout=10,
                              stdin=subprocess.DEVNULL)
    assert (finished.returncode, finished.stdout, finished.stderr) == (0, b"", b"")
    (record,) = logged(paths)
    assert record.parsed and record.ip == "203.0.113.7" and record.extra("hook") == "bash-profile"


def test_the_cron_line_runs_check_in_crons_bare_environment(pyz: Path, shiv_root: Path, paths: Paths,
                                                            sink: MailSink, crontab_command: None):
    write_config(paths, smtp=smtp_settings(sink))
    succeeded(install(pyz, paths.home, shiv_root))
    (line,) = [line for line in read_crontab().splitlines() if line.endswith(cron.MARKER)]
    command = line.split(" ", 5)[5]
    finished = subprocess.run(["/bin/sh", "-c", command], env={"HOME": str(paths.home), "PATH": "/usr/bin:/bin",
                                                              "SHELL": "/bin/sh", "LOGNAME": "alice"},
                              capture_output=True, timeout=60)
    assert (finished.returncode, finished.stdout, finished.stderr) == (0, b"", b"")
    assert paths.store_file.exists()  # check ran, found the config and seeded


def test_xdg_directories_set_for_install_are_passed_on_the_cron_line(pyz: Path, shiv_root: Path, paths: Paths,
                                                                     tmp_path: Path, crontab_command: None):
    state = tmp_path / "state dir"
    succeeded(install(pyz, paths.home, shiv_root, XDG_STATE_HOME=str(state), XDG_CONFIG_HOME="relative/ignored"))
    (line,) = [line for line in read_crontab().splitlines() if line.endswith(cron.MARKER)]
    assert "XDG_STATE_HOME={}".format(shlex.quote(str(state))) in line and "XDG_CONFIG_HOME" not in line
    assert (state / "ssh-alert" / "install.json").exists()


def test_dry_run_lists_every_change_and_touches_nothing(pyz: Path, shiv_root: Path, paths: Paths,
                                                        crontab_command: None):
    a_lived_in_home(paths.home)
    set_crontab(USER_CRONTAB)
    before = snapshot(paths.home, times=True)
    output = succeeded(run_pyz(pyz, ["install", "--dry-run"], pyz_env(paths.home, shiv_root)))
    assert snapshot(paths.home, times=True) == before and read_crontab() == USER_CRONTAB
    assert output.splitlines()[-1] == DRY_RUN_DONE
    for expected in ("~/bin/ssh_alert.pyz: copy pyz", "~/.bashrc: insert block at top (bashrc hook)",
                     "~/.bash_profile: disable legacy line: " + LEGACY_HOOK, "append block (bash-profile hook)",
                     "backup: ~/.bash_profile.ssh-alert.bak", "~/.ssh/rc: append xauth block",
                     "crontab: disable legacy job: " + LEGACY_JOB, "add line: * * * * * "):
        assert expected in output, expected
    succeeded(install(pyz, paths.home, shiv_root))
    installed = snapshot(paths.home, times=True)
    output = succeeded(run_pyz(pyz, ["uninstall", "--dry-run"], pyz_env(paths.home, shiv_root)))
    assert snapshot(paths.home, times=True) == installed and "re-enable legacy line: " + LEGACY_HOOK in output


@pytest.mark.parametrize("command", ["install", "uninstall"])
def test_without_a_terminal_or_yes_it_refuses_in_one_line_naming_yes(pyz: Path, shiv_root: Path, paths: Paths,
                                                                     command: str):
    result = run_pyz(pyz, [command], pyz_env(paths.home, shiv_root))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "ssh_alert: " + NEEDS_YES.format(command=command) + "\n" and "--yes" in result.stderr
    assert snapshot(paths.home) == {}


def test_at_a_terminal_install_shows_the_plan_and_a_no_changes_nothing(pyz: Path, shiv_root: Path, paths: Paths):
    controller, terminal = os.openpty()
    try:
        process = subprocess.Popen([sys.executable, str(pyz), "install", "--no-cron"], stdin=terminal,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=pyz_env(paths.home, shiv_root))
        os.write(controller, b"n\n")
        stdout, stderr = process.communicate(timeout=60)
    finally:
        os.close(terminal)
        os.close(controller)
    assert process.returncode == CANCELLED_EXIT and stderr == b""
    assert b"~/.bash_profile: create" in stdout and stdout.decode().splitlines()[-1].endswith(CANCELLED)
    assert snapshot(paths.home) == {}


def test_an_unknown_hook_exits_2_naming_it(pyz: Path, shiv_root: Path, paths: Paths):
    result = run_pyz(pyz, ["install", "--yes", "--hooks", "ssh-rc,bogus"], pyz_env(paths.home, shiv_root))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "ssh_alert: " + UNKNOWN_HOOK.format(value="bogus", choices="ssh-rc, bash-profile, bashrc") \
        + "\n"
    assert snapshot(paths.home) == {}


def test_install_run_from_the_source_tree_is_refused(paths: Paths):
    result = subprocess.run([sys.executable, "-m", "app", "install", "--yes"], cwd=str(ROOT), capture_output=True,
                            text=True, env={"HOME": str(paths.home), "PATH": os.environ["PATH"]}, timeout=60)
    assert result.returncode == 2 and result.stderr.startswith("ssh_alert: " + NOT_A_PYZ.split("(")[0])


def test_legacy_hook_lines_and_cron_job_are_disabled_then_restored(pyz: Path, shiv_root: Path, paths: Paths,
                                                                   crontab_command: None):
    a_lived_in_home(paths.home)
    set_crontab(USER_CRONTAB)
    original = (paths.home / ".bash_profile").read_bytes()
    succeeded(install(pyz, paths.home, shiv_root))
    assert (LEGACY_PREFIX + LEGACY_HOOK + "\n").encode() in (paths.home / ".bash_profile").read_bytes()
    assert LEGACY_PREFIX + LEGACY_JOB + "\n" in read_crontab()
    assert "30 3 * * * /usr/bin/true backup %H\n" in read_crontab()
    succeeded(uninstall(pyz, paths.home, shiv_root))
    assert (paths.home / ".bash_profile").read_bytes() == original and read_crontab() == USER_CRONTAB


def test_an_old_python3_on_path_is_passed_over_for_a_newer_one(pyz: Path, shiv_root: Path, paths: Paths,
                                                               tmp_path: Path):
    fake = tmp_path / "fakebin"
    fake.mkdir()
    write_script(fake / "python3", 'echo "(3, 6)"\n')
    write_script(fake / "python3.11", 'exec {} "$@"\n'.format(shlex.quote(os.path.realpath(sys.executable))))
    output = succeeded(install(pyz, paths.home, shiv_root, "--no-cron", PATH="{}:/usr/bin:/bin".format(fake)))
    assert "skipped {} is 3.6".format(fake / "python3") in output
    chosen = hook_python(paths.home)
    assert chosen != str(fake / "python3") and os.path.isabs(chosen)
    version = subprocess.run([chosen, "-c", "import sys; print(sys.version_info >= (3, 8))"], capture_output=True,
                             text=True, timeout=30).stdout
    assert version == "True\n"


def test_without_a_crontab_command_install_succeeds_and_prints_the_line_for_the_panel(
        pyz: Path, shiv_root: Path, paths: Paths, tmp_path: Path, saved_crontab: Optional[str]):
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "python3").symlink_to(os.path.realpath(sys.executable))
    output = succeeded(install(pyz, paths.home, shiv_root, PATH=str(bare)))
    lines = output.splitlines()
    panel = lines.index(PANEL_LINE.format(problem=cron.NO_CRONTAB_COMMAND))
    line = lines[panel + 1]
    assert line.startswith("* * * * * ") and line.endswith(" check --cron >/dev/null 2>&1 # ssh_alert")
    assert str(paths.home / "bin" / "ssh_alert.pyz") in line
    if CRONTAB is not None:
        assert read_crontab() == saved_crontab
    checks = status_checks(pyz, paths.home, shiv_root, PATH=str(bare))
    assert checks["cron"]["status"] == WARN and checks["cron"]["detail"].endswith(line)


def test_install_replaces_a_hand_pasted_snippet_in_place(pyz: Path, shiv_root: Path, paths: Paths):
    snippet = (ROOT / "bash_profile.snippet").read_text()
    (paths.home / ".bash_profile").write_text("export A=1\n" + snippet + "export B=2\n")
    succeeded(install(pyz, paths.home, shiv_root, "--no-cron", "--hooks", "bash-profile"))
    text = (paths.home / ".bash_profile").read_text()
    assert text.startswith("export A=1\n" + BEGIN) and text.endswith(END + "\nexport B=2\n")
    assert text.count(BEGIN) == 1 and snippet not in text and "sa_py=python3 " not in text


def test_a_hook_block_missing_its_end_marker_stops_install_naming_the_file_and_line(pyz: Path, shiv_root: Path,
                                                                                    paths: Paths):
    (paths.home / ".bashrc").write_text("alias a=b\n" + BEGIN + "\necho half a block\n")
    before = snapshot(paths.home)
    result = install(pyz, paths.home, shiv_root, "--no-cron")
    assert result.returncode == 2 and result.stderr == "ssh_alert: " + BROKEN_BLOCK.format(
        path=paths.home / ".bashrc", line=2, end=END) + "\n"
    assert snapshot(paths.home) == before


def test_a_symlinked_bashrc_stays_a_symlink(pyz: Path, shiv_root: Path, paths: Paths, tmp_path: Path):
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    (dotfiles / "bashrc").write_text("alias ll='ls -l'\n")
    (paths.home / ".bashrc").symlink_to(dotfiles / "bashrc")
    succeeded(install(pyz, paths.home, shiv_root, "--no-cron", "--hooks", "bashrc"))
    assert (paths.home / ".bashrc").is_symlink() and BEGIN in (dotfiles / "bashrc").read_text()
    succeeded(uninstall(pyz, paths.home, shiv_root))
    assert (paths.home / ".bashrc").is_symlink() and (dotfiles / "bashrc").read_text() == "alias ll='ls -l'\n"


def test_install_into_another_bin_dir_and_uninstall_removes_that_copy(pyz: Path, shiv_root: Path, paths: Paths,
                                                                      tmp_path: Path):
    bin_dir = tmp_path / "apps"
    succeeded(install(pyz, paths.home, shiv_root, "--no-cron", "--bin-dir", str(bin_dir)))
    assert (bin_dir / "ssh_alert.pyz").exists() and not (paths.home / "bin").exists()
    assert block_settings((paths.home / ".ssh" / "rc").read_text(), str(paths.home))["pyz"] == str(
        bin_dir / "ssh_alert.pyz")
    succeeded(uninstall(pyz, paths.home, shiv_root))
    assert not bin_dir.exists()


# --- the plan, without running anything ---------------------------------------------------------------

def facts(home: Path, files: Dict[str, bytes], shell: str = "/bin/bash") -> InstallFacts:
    """InstallFacts for a HOME holding files (by name relative to home), with no crontab yet."""
    return InstallFacts(
        home=home, source=home / "download" / "ssh_alert.pyz", destination=home / "bin" / "ssh_alert.pyz",
        pyz_up_to_date=False, interpreter=interpreter.Choice("/usr/bin/python3", (3, 11), ()), shell=shell,
        files={name: FileFact(home / name, home / name, files.get(name), False) for name in HOOK_FILES},
        missing={"bin": [], "ssh": [], "state": []}, crontab=cron.Crontab(True, False, ""), cron_environ={},
        record_path=home / "install.json", record=None)


def edits(plan) -> Dict[str, FileEdit]:
    return {step.path.name: step for step in plan.steps if isinstance(step, FileEdit)}


def test_the_plan_for_a_zsh_user_without_bash_files_has_only_the_ssh_rc_hook(tmp_path: Path):
    plan = plan_install(facts(tmp_path, {}, shell="/usr/bin/zsh"), None, cron=True)
    assert list(edits(plan)) == ["rc"]


def test_the_plan_appends_after_a_last_line_without_newline_and_records_it(tmp_path: Path):
    plan = plan_install(facts(tmp_path, {".bash_profile": b"export A=1"}), ("bash-profile",), cron=False)
    edit = edits(plan)[".bash_profile"]
    assert edit.after.startswith(b"export A=1\n" + BEGIN.encode())
    record = json.loads(next(step.data for step in plan.steps if isinstance(step, WriteRecord)))
    assert record["files"][str(tmp_path / ".bash_profile")]["newline_added"] is True


def test_the_plan_replaces_a_block_whose_interpreter_changed(tmp_path: Path):
    old = render_hook()  # the shipped snippet: sa_py=python3
    plan = plan_install(facts(tmp_path, {".bash_profile": b"A\n" + old.encode() + b"B\n"}), ("bash-profile",), False)
    edit = edits(plan)[".bash_profile"]
    assert edit.actions == ("replace block (bash-profile hook)",)
    assert edit.after.startswith(b"A\n" + BEGIN.encode()) and edit.after.endswith(END.encode() + b"\nB\n")
    assert b"sa_py=/usr/bin/python3 " in edit.after


def test_the_cron_plan_keeps_every_other_line_and_disables_the_legacy_job(tmp_path: Path):
    base = facts(tmp_path, {})
    plan = plan_install(base._replace(crontab=cron.Crontab(True, True, USER_CRONTAB)), ("ssh-rc",), cron=True)
    (edit,) = [step for step in plan.steps if isinstance(step, CrontabEdit)]
    assert edit.after.startswith(USER_CRONTAB.replace(LEGACY_JOB, LEGACY_PREFIX + LEGACY_JOB))
    assert edit.after.count("\n") == USER_CRONTAB.count("\n") + 1 and edit.after.endswith(" # ssh_alert\n")


# --- the pure functions --------------------------------------------------------------------------------

def test_cron_line_quotes_paths_escapes_percent_and_passes_only_absolute_xdg_directories():
    line = cron.cron_line("/opt/py 3/bin/python3", "/home/a/bin/ssh%alert.pyz",
                          {"XDG_STATE_HOME": "/srv/state", "XDG_DATA_HOME": "relative"})
    assert line == ("* * * * * [ -O /home/a/bin/ssh\\%alert.pyz ] && [ -O /home/a/bin ] && "
                    "XDG_STATE_HOME=/srv/state '/opt/py 3/bin/python3' -S /home/a/bin/ssh\\%alert.pyz "
                    "check --cron >/dev/null 2>&1 # ssh_alert")


def test_the_cron_line_sets_home_only_when_it_is_not_the_accounts_own(tmp_path: Path):
    import pwd

    own = pwd.getpwuid(os.getuid()).pw_dir
    assert "HOME" not in cron.cron_environment({"HOME": own, "XDG_STATE_HOME": "/srv/state"})
    assert cron.cron_environment({"HOME": str(tmp_path)})["HOME"] == str(tmp_path)
    line = cron.cron_line("/usr/bin/python3", "/x/ssh_alert.pyz", cron.cron_environment({"HOME": str(tmp_path)}))
    assert "&& HOME={} /usr/bin/python3".format(tmp_path) in line


def test_with_and_without_cron_line_touch_no_other_line():
    line = cron.cron_line("/usr/bin/python3", "/home/a/bin/ssh_alert.pyz", {})
    added = cron.with_cron_line(USER_CRONTAB.rstrip("\n"), line)
    assert added == USER_CRONTAB + line + "\n"
    assert cron.with_cron_line(added, line) == added
    newer = cron.cron_line("/usr/bin/python3.12", "/home/a/bin/ssh_alert.pyz", {})
    assert cron.with_cron_line(added, newer) == USER_CRONTAB + newer + "\n"
    assert cron.without_cron_line(added) == USER_CRONTAB
    assert cron.without_cron_line("# a comment mentioning " + cron.MARKER + "\n") == (
        "# a comment mentioning " + cron.MARKER + "\n")


@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30), max_size=8),
       st.booleans(), st.booleans())
def test_a_block_added_then_removed_gives_back_the_text_exactly(lines: List[str], final_newline: bool, at_top: bool):
    text = "\n".join(line.replace("\r", "") for line in lines) + ("\n" if final_newline and lines else "")
    block = render_hook()
    edit = with_block(text, block, at_top=at_top)
    assert with_block(edit.text, block, at_top=at_top).text == edit.text  # idempotent
    removed = without_blocks(edit.text)
    assert (removed[:-1] if edit.newline_added else removed) == text


def test_a_begin_marker_without_end_is_reported_with_its_line():
    with pytest.raises(BrokenBlock) as raised:
        find_blocks("a\nb\n" + BEGIN + "\nc\n")
    assert raised.value.line_number == 3


@given(st.text())
def test_legacy_lines_disabled_then_enabled_are_byte_identical(text: str):
    text = "\n".join(line for line in text.split("\n") if not line.startswith(LEGACY_PREFIX))
    disabled, _ = disable_legacy_lines(text + "\n" + LEGACY_HOOK)
    assert LEGACY_PREFIX + LEGACY_HOOK in disabled
    assert enable_legacy_lines(disabled)[0] == text + "\n" + LEGACY_HOOK


@pytest.mark.parametrize("existing, expected", [
    ([], ".bash_profile"), ([".profile"], ".profile"), ([".bash_login", ".profile"], ".bash_login"),
    ([".bash_profile", ".bash_login", ".profile"], ".bash_profile"), ([".bashrc"], ".bash_profile")])
def test_the_bash_login_file_is_the_first_bash_reads(existing: List[str], expected: str):
    assert bash_login_file(existing) == expected


def test_default_hooks_add_the_bash_ones_for_bash_users_or_bash_files():
    assert default_hooks("/bin/bash", []) == ("ssh-rc", "bash-profile", "bashrc")
    assert default_hooks("/usr/bin/zsh", [".bashrc"]) == ("ssh-rc", "bash-profile", "bashrc")
    assert default_hooks("/usr/bin/zsh", [".profile"]) == ("ssh-rc",)


def test_the_interpreter_choice_takes_the_first_new_enough_and_prefers_its_own_path():
    probes = [interpreter.Probe("/usr/bin/python3", (3, 6)), interpreter.Probe("/usr/bin/python3.12", None),
              interpreter.Probe("/shims/python3.11", (3, 11), "/opt/python/3.11/bin/python3.11")]
    choice = interpreter.choose(probes, "/fallback/python", (3, 9))
    assert choice.path == "/opt/python/3.11/bin/python3.11" and len(choice.skipped) == 2
    assert interpreter.describe(choice).endswith("skipped /usr/bin/python3 is 3.6, /usr/bin/python3.12 is not runnable")
    assert interpreter.choose(probes[:2], "/fallback/python", (3, 9)).path == "/fallback/python"


def test_the_interpreter_search_runs_fake_interpreters_on_path_newest_first(tmp_path: Path):
    write_script(tmp_path / "python3", 'echo "(3, 6)"\n')
    write_script(tmp_path / "python3.12", "exit 1\n")
    write_script(tmp_path / "python3.9", 'echo "(3, 9)"\n')
    write_script(tmp_path / "python3.8", 'echo "(3, 8)"\n')
    choice = interpreter.choose(interpreter.probes(interpreter.candidates(str(tmp_path))), "/fallback", (3, 11))
    assert choice.path == str(tmp_path / "python3.9") and choice.version == (3, 9)
    assert [probe.path for probe in choice.skipped] == [str(tmp_path / "python3"), str(tmp_path / "python3.12")]


def test_status_warns_when_the_hook_sits_in_a_login_file_bash_never_reads(tmp_path: Path):
    texts = {".bash_profile": "export A=1\n", ".profile": render_hook()}
    check = hook_check("bash-profile", texts, None, str(tmp_path))
    assert check.status == WARN and check.detail == HOOK_HIDDEN.format(found="~/.profile", place="~/.bash_profile")


def test_setup_status_and_install_agree_that_a_hook_bash_never_reads_is_not_installed(paths: Paths, home: Path):
    (home / ".bash_profile").write_text("export A=1\n")
    (home / ".profile").write_text(render_hook())
    assert installed(paths) == ()
    assert hook_file("bash-profile", [".bash_profile", ".profile"]) == ".bash_profile"
    (home / ".bashrc").write_text(render_hook(HookSettings(hook="bashrc")))
    assert installed(paths) == ("bashrc",)


def test_status_warns_when_the_hook_calls_a_python_that_is_gone(tmp_path: Path):
    block = render_hook().replace("sa_py=python3", "sa_py=/nonexistent/python3")
    check = hook_check("bashrc", {".bashrc": block}, None, str(tmp_path))
    assert check.status == WARN and "/nonexistent/python3, which does not exist" in check.detail
