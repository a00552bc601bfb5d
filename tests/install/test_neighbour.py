"""The neighbour on a shared host: real users in one primary group, umask 002, as shared hosting has them.

The code that runs at login, and the state directory it writes, belong to the account alone: a group
member who can write ~/bin or ~/.local/state gets nothing run and nothing recorded, and status FAILs.
"""

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Iterator, NamedTuple

import pytest

from app.errors import ExitCode
from app.install.crontab import cron_line
from app.system.paths import Paths
from helpers import SNIPPET, require, smtp_settings, write_config
from support.hookrun import fake_sshd
from support.mailsink import MailSink
from support.users import SYSTEM_PYTHON, LocalGroup, LocalUser, is_root

ROGUE = "import os\nopen(os.environ['HOME'] + '/RAN-AS-VICTIM', 'w').close()\n"


class Neighbours(NamedTuple):
    victim: LocalUser
    neighbour: LocalUser
    paths: Paths  # the victim's


@pytest.fixture
def neighbours() -> Iterator[Neighbours]:
    """Two users sharing a primary group, both with umask 002; the victim's home lets the group in (0750)."""
    require(is_root() and shutil.which("useradd") is not None and shutil.which("runuser") is not None
            and os.path.exists(SYSTEM_PYTHON), "real users need root, useradd, runuser and Debian's python3")
    with LocalGroup() as group:
        with LocalUser("savict", group.name, 0o002) as victim, LocalUser("sanbr", group.name, 0o002) as neighbour:
            victim.home.chmod(0o750)
            yield Neighbours(victim, neighbour, Paths.from_environ({"HOME": str(victim.home)}))


def give_pyz(user: LocalUser, pyz: Path) -> Path:
    """A copy of the pyz the user can read (the build lives under /root)."""
    copy = user.home / "download" / "ssh_alert.pyz"
    copy.parent.mkdir()
    shutil.copy2(str(pyz), str(copy))
    user.chown(copy.parent)
    return copy


def as_victim(world: Neighbours, *arguments: str) -> subprocess.CompletedProcess:
    return world.victim.run([SYSTEM_PYTHON, str(world.victim.home / "bin" / "ssh_alert.pyz")] + list(arguments))


def login_through(world: Neighbours, startup_file: Path, **environ: str) -> subprocess.CompletedProcess:
    """One SSH login of the victim: startup_file sourced by sh under a process named sshd."""
    return world.victim.run([str(fake_sshd()), "-c", "sh -c '. \"$0\"' \"$1\"; true", "sshd", str(startup_file)],
                            dict({"SSH_CONNECTION": "203.0.113.9 40001 10.0.0.1 22"}, **environ))


def one_line_refusal(result: subprocess.CompletedProcess, path_named: str) -> None:
    details = "exit {}\nstdout: {!r}\nstderr: {!r}".format(result.returncode, result.stdout, result.stderr)
    assert result.returncode == ExitCode.USAGE and "Traceback" not in result.stdout + result.stderr, details
    assert len(result.stderr.splitlines()) == 1 and path_named in result.stderr, details


def status_of(world: Neighbours) -> dict:
    result = as_victim(world, "status", "--json")
    return {"exit": result.returncode, **{check["name"]: check for check in json.loads(result.stdout)["checks"]}}


def test_install_takes_group_write_from_a_bin_made_under_umask_002_and_says_so(neighbours: Neighbours, pyz: Path):
    world = neighbours
    download = give_pyz(world.victim, pyz)
    assert world.victim.run(["mkdir", "-p", str(world.victim.home / "bin")]).returncode == 0
    bin_dir = world.victim.home / "bin"
    assert stat.S_IMODE(bin_dir.stat().st_mode) == 0o775
    result = world.victim.run([SYSTEM_PYTHON, str(download), "install", "--yes", "--no-cron"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "~/bin: chmod 0755 (group and others can write it" in result.stdout
    assert stat.S_IMODE(bin_dir.stat().st_mode) == 0o755
    assert stat.S_IMODE((bin_dir / "ssh_alert.pyz").stat().st_mode) == 0o700


def test_a_pyz_swapped_by_a_group_member_never_runs_at_login_and_status_fails(neighbours: Neighbours, pyz: Path,
                                                                              sink: MailSink):
    world = neighbours
    write_config(world.paths, smtp=smtp_settings(sink))
    world.victim.chown(world.victim.home / ".config")
    download = give_pyz(world.victim, pyz)
    result = world.victim.run([SYSTEM_PYTHON, str(download), "install", "--yes", "--no-cron", "--hooks", "ssh-rc"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert as_victim(world, "check").returncode == 0  # seeds
    world.victim.run(["chmod", "775", str(world.victim.home / "bin")])  # later, by hand: the group can write it
    installed = world.victim.home / "bin" / "ssh_alert.pyz"
    swap = "mv {0} {0}.old && cat > {0} && chmod 755 {0}".format(installed)
    swapped = subprocess.run(["runuser", "-u", world.neighbour.name, "--", "sh", "-c", swap], input=ROGUE,
                             capture_output=True, text=True, timeout=30)
    assert swapped.returncode == 0, swapped.stderr
    assert installed.stat().st_uid == world.neighbour.uid
    finished = login_through(world, world.victim.home / ".ssh" / "rc")
    assert (finished.returncode, finished.stdout, finished.stderr) == (0, "", "")
    assert not (world.victim.home / "RAN-AS-VICTIM").exists()
    assert len(world.paths.login_log.read_bytes().splitlines()) == 1  # the login is still recorded
    line = cron_line(SYSTEM_PYTHON, str(installed), {})  # what install puts in the crontab, run as cron would
    ran = world.victim.run(["/bin/sh", "-c", line.split(None, 5)[5].rsplit(" #", 1)[0]])
    assert ran.returncode != 0 and not (world.victim.home / "RAN-AS-VICTIM").exists()
    checks = world.victim.run([SYSTEM_PYTHON, str(installed) + ".old", "status", "--json"])
    assert checks.returncode == ExitCode.NOT_DONE
    by_name = {check["name"]: check for check in json.loads(checks.stdout)["checks"]}
    assert by_name["ssh-rc"]["status"] == "fail" and "will not run" in by_name["ssh-rc"]["detail"]


def test_a_group_writable_pyz_of_the_account_fails_status(neighbours: Neighbours, pyz: Path):
    world = neighbours
    download = give_pyz(world.victim, pyz)
    result = world.victim.run([SYSTEM_PYTHON, str(download), "install", "--yes", "--no-cron", "--hooks", "ssh-rc"])
    assert result.returncode == 0, result.stdout + result.stderr
    world.victim.run(["chmod", "g+w", str(world.victim.home / "bin" / "ssh_alert.pyz")])
    status = status_of(world)
    assert status["exit"] == ExitCode.NOT_DONE
    assert status["ssh-rc"]["status"] == "fail" and "writable by group" in status["ssh-rc"]["detail"]


def test_a_state_directory_planted_by_a_group_member_is_never_written(neighbours: Neighbours, pyz: Path,
                                                                      sink: MailSink):
    world = neighbours
    write_config(world.paths, smtp=smtp_settings(sink))
    world.victim.chown(world.victim.home / ".config")
    download = give_pyz(world.victim, pyz)
    state_home = world.paths.state_dir.parent
    assert world.victim.run(["mkdir", "-p", str(state_home)]).returncode == 0  # 0775 under umask 002
    planted = subprocess.run(["runuser", "-u", world.neighbour.name, "--", "sh", "-c",
                              "mkdir -m 777 {0} && touch {0}/logins.log && chmod 666 {0}/logins.log".format(
                                  world.paths.state_dir)], capture_output=True, text=True, timeout=30)
    assert planted.returncode == 0, planted.stderr
    theirs = world.paths.state_dir
    # install, setup and check each refuse in one line
    one_line_refusal(world.victim.run([SYSTEM_PYTHON, str(download), "install", "--yes", "--no-cron"]), str(state_home))
    one_line_refusal(world.victim.run([SYSTEM_PYTHON, str(download), "setup", "--non-interactive"]), str(state_home))
    one_line_refusal(world.victim.run([SYSTEM_PYTHON, str(download), "check"]), str(state_home))
    assert sorted(os.listdir(str(theirs))) == ["logins.log"]
    # a hand-pasted hook appends nothing to the other user's log
    profile = world.victim.home / ".profile"
    profile.write_text(SNIPPET.read_text())
    world.victim.chown(profile)
    finished = login_through(world, profile)
    assert (finished.returncode, finished.stdout, finished.stderr) == (0, "", "")
    assert (theirs / "logins.log").read_bytes() == b"" and sorted(os.listdir(str(theirs))) == ["logins.log"]
    # status FAILs (exit 1) even though no store was ever made
    status = world.victim.run([SYSTEM_PYTHON, str(download), "status", "--json"])
    assert status.returncode == ExitCode.NOT_DONE
    state = {check["name"]: check for check in json.loads(status.stdout)["checks"]}["state"]
    assert state["status"] == "fail" and str(state_home) in state["detail"]


def test_a_state_directory_another_user_owns_is_refused_even_in_a_private_parent(neighbours: Neighbours, pyz: Path):
    world = neighbours
    download = give_pyz(world.victim, pyz)
    world.paths.state_dir.mkdir(parents=True)
    world.victim.chown(world.victim.home / ".local")
    world.neighbour.chown(world.paths.state_dir)
    one_line_refusal(world.victim.run([SYSTEM_PYTHON, str(download), "install", "--yes", "--no-cron"]),
                     str(world.paths.state_dir))
    status = world.victim.run([SYSTEM_PYTHON, str(download), "status", "--json"])
    assert status.returncode == ExitCode.NOT_DONE
    profile = world.victim.home / ".profile"
    profile.write_text(SNIPPET.read_text())
    world.victim.chown(profile)
    assert login_through(world, profile).returncode == 0
    assert os.listdir(str(world.paths.state_dir)) == []
