"""Hostile files: FIFOs, devices and symlinks where ssh_alert's files belong, and files or directories another
user owns or can write (like ssh's StrictModes). Each is refused in one line, exit 2, without hanging and
without running anything planted there (a .pth file, the preamble, password_command).

The other user is real (useradd, as root: in CI always). The built pyz runs as a subprocess.
"""

import os
import pwd
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Iterator, NamedTuple, Optional

import pytest

from app.settings.config import load_config, parse_config
from app.settings.credentials import resolve_password
from app.errors import (CONFIG_UNREADABLE, NOT_A_DIRECTORY, NOT_REGULAR_REASON, UNSAFE_OWNER, UNSAFE_PARENT_OWNER,
                        UNSAFE_WRITABLE, USE_CODE, USE_PASSWORD_COMMAND, USE_SETTINGS, USE_STATE, ExitCode,
                        UserError)
from app.system.files import (NotRegularFile, open_regular, open_regular_file, require_private, require_private_dir,
                       unsafe_reason)
from app.system.paths import Paths
from helpers import append_log, login_line, pyz_env, require, run_pyz, smtp_settings, write_config
from support.mailsink import MailSink
from support.users import LocalUser, is_root

TIMEOUT = 20  # a FIFO read would hang forever: any hang fails the test instead


class OtherUser(NamedTuple):
    name: str
    uid: int


@pytest.fixture(scope="module")
def other() -> Iterator[OtherUser]:
    """A second, real user (removed afterwards), to own what ssh_alert must refuse."""
    require(is_root(), "creating a second user needs root")
    require(shutil.which("useradd") is not None, "useradd (passwd package) is needed")
    with LocalUser("sahostile") as user:
        yield OtherUser(user.name, user.uid)


def me() -> str:
    return pwd.getpwuid(os.getuid()).pw_name


def one_error_line(result: subprocess.CompletedProcess) -> str:
    """Assert exit 2 with exactly one stderr line, no traceback, nothing on stdout; return the line."""
    details = "exit {}\nstdout: {!r}\nstderr: {!r}".format(result.returncode, result.stdout, result.stderr)
    assert result.returncode == ExitCode.USAGE, details
    assert "Traceback" not in result.stderr + result.stdout and result.stdout == "", details
    assert len(result.stderr.splitlines()) == 1 and result.stderr.endswith("\n"), details
    return result.stderr.rstrip("\n")


def owned_by(user: OtherUser, use: str, path: Path, parent: bool = False) -> str:
    return (UNSAFE_PARENT_OWNER if parent else UNSAFE_OWNER).format(
        path=path, uid=user.uid, owner=user.name, user=me(), use=use)


# --- open_regular: only regular files, never blocking --------------------------------------------------

def test_open_regular_reads_a_regular_file_with_a_blocking_close_on_exec_descriptor(tmp_path: Path):
    path = tmp_path / "file"
    path.write_bytes(b"data")
    descriptor = open_regular(path)
    try:
        assert os.read(descriptor, 10) == b"data"
        assert os.get_blocking(descriptor) and not os.get_inheritable(descriptor)
    finally:
        os.close(descriptor)
    with open_regular_file(path, "a") as handle:
        handle.write("more")
    with open_regular_file(tmp_path / "new", "w") as handle:
        handle.write("x")
    assert path.read_bytes() == b"datamore" and stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o600


@pytest.mark.parametrize("mode_str", ["rb", "r", "ab", "w", "r+b"])
def test_open_regular_file_refuses_a_fifo_without_blocking_whatever_the_mode(tmp_path: Path, mode_str: str):
    fifo = tmp_path / "fifo"
    os.mkfifo(str(fifo))
    with pytest.raises(NotRegularFile) as raised:
        open_regular_file(fifo, mode_str)
    assert raised.value.kind == "a FIFO" and raised.value.filename == str(fifo)
    assert raised.value.strerror == NOT_REGULAR_REASON.format(kind="a FIFO") and str(fifo) in str(raised.value)


@pytest.mark.parametrize("target, kind", [("/dev/zero", "a symbolic link"), ("/dev/null", "a symbolic link"),
                                          (None, "a symbolic link"), ("file", "a symbolic link")])
def test_open_regular_refuses_a_symlink_to_anything_also_when_dangling_or_creating(tmp_path: Path, target, kind):
    (tmp_path / "file").write_bytes(b"")
    link = tmp_path / "link"
    link.symlink_to(target or str(tmp_path / "missing"))
    for flags in (os.O_RDONLY, os.O_WRONLY | os.O_CREAT | os.O_APPEND):
        with pytest.raises(NotRegularFile) as raised:
            open_regular(link, flags)
        assert raised.value.kind == kind
    assert not (tmp_path / "missing").exists() and (tmp_path / "file").read_bytes() == b""


def test_open_regular_names_a_character_device_and_a_directory(tmp_path: Path):
    with pytest.raises(NotRegularFile, match="a character device"):
        open_regular("/dev/null")
    with pytest.raises(NotRegularFile, match="a directory"):
        open_regular(tmp_path)
    with pytest.raises(FileNotFoundError):
        open_regular(tmp_path / "missing")


# --- unsafe_reason: like ssh's StrictModes --------------------------------------------------------------

def test_a_private_path_below_a_sticky_world_writable_directory_is_safe(tmp_path: Path):
    sticky = tmp_path / "tmp"
    sticky.mkdir()
    sticky.chmod(0o1777)
    (sticky / "mine").mkdir(mode=0o700)
    assert unsafe_reason(sticky / "mine" / "config.ini", os.getuid()) is None
    assert unsafe_reason(sticky, os.getuid()) == UNSAFE_WRITABLE.format(
        path=sticky, who="group and others", mode=0o1777, use=USE_SETTINGS)


def test_a_group_writable_directory_above_is_named_with_its_mode(tmp_path: Path):
    shared = tmp_path / "shared"
    (shared / "ssh-alert").mkdir(parents=True)
    shared.chmod(0o775)
    assert unsafe_reason(shared / "ssh-alert" / "config.ini", os.getuid(), USE_STATE) == UNSAFE_WRITABLE.format(
        path=shared, who="group", mode=0o775, use=USE_STATE)
    with pytest.raises(UserError) as raised:
        require_private(shared / "ssh-alert" / "config.ini")
    assert raised.value.exit_code == ExitCode.USAGE and raised.value.message == UNSAFE_WRITABLE.format(
        path=shared, who="group", mode=0o775, use=USE_SETTINGS)


def test_a_directory_or_symlink_of_another_user_on_the_way_is_refused(tmp_path: Path, other: OtherUser):
    theirs = tmp_path / "theirs"
    (theirs / "mine").mkdir(parents=True)
    os.chown(str(theirs), other.uid, -1)
    assert unsafe_reason(theirs / "mine", os.getuid()) == owned_by(other, USE_SETTINGS, theirs, parent=True)
    mine = tmp_path / "mine"
    mine.mkdir()
    link = tmp_path / "link"
    link.symlink_to(mine)
    os.lchown(str(link), other.uid, -1)
    assert unsafe_reason(link / "config.ini", os.getuid()) == owned_by(other, USE_SETTINGS, link, parent=True)


def test_require_private_dir_refuses_another_users_state_directory_and_a_file_in_its_place(
        paths: Paths, other: OtherUser):
    require_private_dir(paths.state_dir)  # missing: created later, privately
    paths.state_dir.mkdir(parents=True)
    require_private_dir(paths.state_dir)
    os.chown(str(paths.state_dir), other.uid, -1)
    with pytest.raises(UserError) as raised:
        require_private_dir(paths.state_dir)
    assert raised.value.exit_code == ExitCode.USAGE
    assert raised.value.message == owned_by(other, USE_STATE, paths.state_dir)
    paths.state_dir.rmdir()
    paths.state_dir.write_text("")
    with pytest.raises(UserError) as raised:
        require_private_dir(paths.state_dir)
    assert raised.value.message == NOT_A_DIRECTORY.format(path=paths.state_dir, kind="a regular file",
                                                          use=USE_STATE)


# --- the configuration and its password_command -----------------------------------------------------------

PLANTED_COMMAND = "touch {marker}; echo s3cret"


def hostile_config(paths: Paths, marker: Path, server: Optional[MailSink] = None,
                   ca_file: Optional[Path] = None) -> Path:
    """A config whose password_command creates marker; with server, one that logs in there (alice/s3cret)."""
    smtp = {"host": "127.0.0.1", "port": "25", "security": "starttls", "user": "alice",
            "password_command": PLANTED_COMMAND.format(marker=marker)}
    if server is not None:
        smtp.update(smtp_settings(server, security="starttls", ca_file=str(ca_file), user="alice",
                                  password_command=smtp["password_command"]))
    return write_config(paths, smtp=smtp)


def test_password_command_of_a_config_another_user_can_write_never_runs(paths: Paths, tmp_path: Path):
    marker = tmp_path / "ran"
    path = hostile_config(paths, marker)
    config = parse_config(path.read_text(), path)  # a Config that did not come through load_config
    assert resolve_password(config, paths) == "s3cret" and marker.exists()
    marker.unlink()
    path.chmod(0o620)
    with pytest.raises(UserError) as raised:
        resolve_password(config, paths)
    assert raised.value.message == UNSAFE_WRITABLE.format(path=path, who="group", mode=0o620,
                                                          use=USE_PASSWORD_COMMAND)
    assert not marker.exists()


def test_load_config_refuses_a_fifo_symlink_or_device_in_one_line(paths: Paths, tmp_path: Path):
    paths.config_dir.mkdir(parents=True)
    for kind, make in (("a symbolic link", lambda path: path.symlink_to("/dev/zero")),
                       ("a FIFO", lambda path: os.mkfifo(str(path)))):
        make(paths.config_file)
        with pytest.raises(UserError) as raised:
            load_config(paths.config_file)
        assert raised.value.message == CONFIG_UNREADABLE.format(path=paths.config_file,
                                                                reason=NOT_REGULAR_REASON.format(kind=kind))
        paths.config_file.unlink()


def with_a_pending_login(pyz: Path, shiv_root: Path, paths: Paths, marker: Path,
                         server: Optional[MailSink] = None, ca_file: Optional[Path] = None) -> None:
    """A config with a planted password_command, a seeded state and one login to alert: check must read
    the config now, and would run password_command to log in to the mail server."""
    hostile_config(paths, marker, server, ca_file)
    seed = run_pyz(pyz, ["check"], pyz_env(paths.home, shiv_root), timeout=TIMEOUT)
    assert (seed.returncode, seed.stderr) == (0, ""), seed
    append_log(paths, login_line())


def test_check_with_a_fifo_as_config_exits_2_in_one_line_without_hanging(pyz: Path, shiv_root: Path,
                                                                         paths: Paths, tmp_path: Path):
    with_a_pending_login(pyz, shiv_root, paths, tmp_path / "ran")
    paths.config_file.unlink()
    os.mkfifo(str(paths.config_file))
    line = one_error_line(run_pyz(pyz, ["check"], pyz_env(paths.home, shiv_root), timeout=TIMEOUT))
    assert line == "ssh_alert: " + CONFIG_UNREADABLE.format(path=paths.config_file,
                                                            reason=NOT_REGULAR_REASON.format(kind="a FIFO"))


@pytest.mark.parametrize("command", ["check", "test"])
def test_a_private_config_runs_its_password_command_to_log_in(pyz: Path, shiv_root: Path, paths: Paths,
                                                              tmp_path: Path, tls_sink: MailSink, ca_file: Path,
                                                              command: str):
    """The control for the refusals below: unrefused, the planted command does run."""
    marker = tmp_path / "ran"
    with_a_pending_login(pyz, shiv_root, paths, marker, tls_sink, ca_file)
    result = run_pyz(pyz, [command], pyz_env(paths.home, shiv_root), timeout=TIMEOUT)
    assert result.returncode == 0, result
    assert marker.exists() and tls_sink.wait_for(1)[0].auth_user == "alice"


@pytest.mark.parametrize("command", ["check", "test"])
@pytest.mark.parametrize("hostile", ["directory of another user", "file of another user", "group-writable directory"])
def test_a_config_another_user_could_change_is_refused_before_its_password_command_runs(
        pyz: Path, shiv_root: Path, paths: Paths, tmp_path: Path, tls_sink: MailSink, ca_file: Path,
        other: OtherUser, command: str, hostile: str):
    marker = tmp_path / "ran"
    with_a_pending_login(pyz, shiv_root, paths, marker, tls_sink, ca_file)
    if hostile == "directory of another user":
        os.chown(str(paths.config_dir), other.uid, -1)
        expected = owned_by(other, USE_SETTINGS, paths.config_dir, parent=True)
    elif hostile == "file of another user":
        os.chown(str(paths.config_file), other.uid, -1)
        expected = owned_by(other, USE_SETTINGS, paths.config_file)
    else:
        paths.config_dir.chmod(0o770)
        expected = UNSAFE_WRITABLE.format(path=paths.config_dir, who="group", mode=0o770, use=USE_SETTINGS)
    line = one_error_line(run_pyz(pyz, [command], pyz_env(paths.home, shiv_root), timeout=TIMEOUT))
    assert line == "ssh_alert: " + expected
    assert not marker.exists() and tls_sink.messages == []


# --- SHIV_ROOT: where the code that runs is unpacked ------------------------------------------------------

def planted_root(pyz: Path, tmp_path: Path, home: Path, marker: Path) -> Path:
    """A SHIV_ROOT with this build unpacked, then a .pth file and a preamble line planted that would create
    marker; checked to work while the root is private, so a refusal below is what keeps them from running."""
    root = tmp_path / "shiv"
    assert run_pyz(pyz, ["--version"], pyz_env(home, root), timeout=TIMEOUT).returncode == 0
    (site_packages,) = root.glob("{}_*/site-packages".format(pyz.name))
    (site_packages / "planted.pth").write_text("import os; open({!r}, 'w').close()\n".format(str(marker)))
    with open(str(site_packages / "bin" / "preamble.py"), "a") as preamble:
        preamble.write("\nopen({!r}, 'w').close()\n".format(str(marker) + ".preamble"))
    assert run_pyz(pyz, ["--version"], pyz_env(home, root), timeout=TIMEOUT).returncode == 0
    assert marker.exists() and Path(str(marker) + ".preamble").exists()
    marker.unlink()
    Path(str(marker) + ".preamble").unlink()
    return root


@pytest.mark.parametrize("hostile", ["root of another user", "extraction of another user", "parent of another user"])
def test_a_shiv_root_another_user_could_change_is_refused_before_anything_runs_from_it(
        pyz: Path, home: Path, tmp_path: Path, other: OtherUser, hostile: str):
    marker = tmp_path / "ran"
    root = planted_root(pyz, tmp_path, home, marker)
    (site_packages,) = root.glob("{}_*/site-packages".format(pyz.name))
    extraction = site_packages.parent
    if hostile == "root of another user":
        os.chown(str(root), other.uid, -1)
        expected = owned_by(other, USE_CODE, root)
    elif hostile == "extraction of another user":
        os.chown(str(extraction), other.uid, -1)
        expected = owned_by(other, USE_CODE, extraction)
    else:
        os.chown(str(tmp_path), other.uid, -1)
        expected = owned_by(other, USE_CODE, tmp_path, parent=True)
    line = one_error_line(run_pyz(pyz, ["--version"], pyz_env(home, root), timeout=TIMEOUT))
    assert line == "ssh_alert: " + expected
    assert not marker.exists() and not Path(str(marker) + ".preamble").exists()


def test_our_own_group_writable_shiv_root_is_made_private_and_used(pyz: Path, home: Path, tmp_path: Path):
    root = tmp_path / "shiv"
    assert run_pyz(pyz, ["--version"], pyz_env(home, root), timeout=TIMEOUT).returncode == 0
    root.chmod(0o775)  # as shiv left it under umask 002 before this release
    result = run_pyz(pyz, ["--version"], pyz_env(home, root), timeout=TIMEOUT)
    assert result.returncode == 0 and result.stdout.startswith("ssh_alert "), result
    assert stat.S_IMODE(root.stat().st_mode) == 0o755


@pytest.mark.parametrize("loose", ["extraction", "site-packages"])
def test_our_own_loose_extraction_is_unpacked_again_so_nothing_planted_in_it_runs(
        pyz: Path, home: Path, tmp_path: Path, loose: str):
    marker = tmp_path / "ran"
    root = planted_root(pyz, tmp_path, home, marker)
    (site_packages,) = root.glob("{}_*/site-packages".format(pyz.name))
    (site_packages.parent if loose == "extraction" else site_packages).chmod(0o777)
    result = run_pyz(pyz, ["--version"], pyz_env(home, root), timeout=TIMEOUT)
    assert result.returncode == 0 and result.stdout.startswith("ssh_alert "), result
    assert not marker.exists() and not Path(str(marker) + ".preamble").exists()
    assert not (site_packages / "planted.pth").exists()
    assert stat.S_IMODE(site_packages.stat().st_mode) == 0o700
    assert not [path.name for path in root.iterdir() if path.name.startswith(".discarded")]


def test_a_private_shiv_root_inside_a_sticky_world_writable_directory_is_used(pyz: Path, home: Path,
                                                                            tmp_path: Path):
    sticky = tmp_path / "tmp"
    sticky.mkdir()
    sticky.chmod(0o1777)
    result = run_pyz(pyz, ["--version"], pyz_env(home, sticky / "shiv"), timeout=TIMEOUT)
    assert result.returncode == 0 and result.stdout.startswith("ssh_alert "), result
    assert stat.S_IMODE((sticky / "shiv").stat().st_mode) == 0o700


def test_a_stale_extraction_another_user_owns_is_left_alone(pyz: Path, home: Path, tmp_path: Path,
                                                             other: OtherUser):
    root = tmp_path / "shiv"
    root.mkdir(mode=0o700)
    stale = root / "{}_{}".format(pyz.name, "0" * 64)
    (stale / "site-packages").mkdir(parents=True)
    os.chown(str(stale), other.uid, -1)
    result = run_pyz(pyz, ["--version"], pyz_env(home, root), timeout=TIMEOUT)
    assert result.returncode == 0, result
    assert (stale / "site-packages").is_dir()
