"""End to end against a real OpenSSH sshd: the intruder after the first alert.

A tunnel is matched to its login by connection, never by time; (more cases below). The fixture is
test_e2e_sshd's: Debian's sshd on loopback, a throwaway user, setup and install as that user.
"""

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Iterator, NamedTuple

import pytest

from helpers import require
from support.mailsink import MailSink
from support.processes import wait_until_ended
from support.sshd import SshServer

PYTHON = "/usr/bin/python3"


class World(NamedTuple):
    server: SshServer
    sink: MailSink

    @property
    def pyz(self) -> str:
        return str(self.server.home / "bin" / "ssh_alert.pyz")

    @property
    def config(self) -> Path:
        return self.server.home / ".config" / "ssh-alert" / "config.ini"

    def check(self, *arguments: str) -> subprocess.CompletedProcess:
        return self.server.as_user([PYTHON, self.pyz, "check"] + list(arguments))

    def cron(self) -> subprocess.CompletedProcess:
        listing = subprocess.run(["crontab", "-l", "-u", self.server.user], capture_output=True, text=True, check=True)
        (line,) = [line for line in listing.stdout.splitlines() if "ssh_alert" in line and not line.startswith("#")]
        return self.server.as_user(["/bin/sh", "-c", line.split(None, 5)[5].split(" #", 1)[0]],
                                   environ={"PATH": "/usr/bin:/bin", "SHELL": "/bin/sh"})

    def ssh_from(self, source: str, *command: str, timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run(["ssh", "-b", source, "-p", str(self.server.port)] + self.server.ssh_options() +
                              ["{}@127.0.0.1".format(self.server.user)] + list(command), capture_output=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)


def set_alert_keys(world: World, **keys: str) -> None:
    text = world.config.read_text()
    lines = "".join("{} = {}\n".format(key, value) for key, value in keys.items())
    world.config.write_text(text.replace("[alert]\n", "[alert]\n" + lines, 1))


@pytest.fixture
def world(pyz: Path, tmp_path: Path) -> Iterator[World]:
    require(os.geteuid() == 0, "end-to-end sshd tests need root (to create a user and run sshd)")
    require(Path("/usr/sbin/sshd").exists(), "apt-get install openssh-server")
    with MailSink("plain") as sink, SshServer(tmp_path / "e2e") as server:
        target = server.home / "ssh_alert.pyz"
        shutil.copy2(str(pyz), str(target))
        subprocess.run(["chown", "{0}:{0}".format(server.user), str(target)], check=True)
        setup = server.as_user([PYTHON, str(target), "setup", "--non-interactive",
                                "--to", "owner@example.com", "--from", "ssh-alert@example.com", "--method", "smtp",
                                "--smtp-host", "127.0.0.1", "--smtp-port", str(sink.port),
                                "--smtp-security", "none", "--no-dns-check", "--no-test-email"])
        assert setup.returncode == 0, setup.stderr + setup.stdout
        install = server.as_user([PYTHON, str(target), "install", "--yes"])
        assert install.returncode == 0, install.stderr + install.stdout
        yield World(server, sink)


def test_a_tunnel_is_reported_though_another_login_came_seconds_after_it(world: World):
    started = time.monotonic()
    tunnel = subprocess.Popen(["ssh", "-N", "-b", "127.0.0.1", "-p", str(world.server.port)] +
                              world.server.ssh_options() + ["{}@127.0.0.1".format(world.server.user)],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(max(0.0, started + 5 - time.monotonic()))
        assert world.ssh_from("127.0.0.2", "true").returncode == 0  # a short login from another source
        (login,) = world.sink.wait_for(1, timeout=10)
        assert login.message["Subject"].endswith("from 127.0.0.2")
        time.sleep(max(0.0, started + 13 - time.monotonic()))
        assert world.cron().returncode == 0
        received = world.sink.wait_for(2, timeout=10)
        assert "without a session" in received[1].message["Subject"]
    finally:
        tunnel.terminate()
        tunnel.wait(timeout=10)


def test_a_config_takeover_to_a_silent_transport_is_told_through_the_old_smtp_server(world: World):
    assert world.cron().returncode == 0  # the owner's config delivered: the cron run keeps it
    world.sink.clear()
    set_alert_keys(world, method="sendmail", sendmail_path="/bin/true")  # the intruder's edit
    world.cron()
    notices = [received for received in world.sink.wait_for(1, timeout=10)]
    subjects = [received.message["Subject"] for received in notices]
    assert any("settings changed" in subject and "sendmail_path" in subject for subject in subjects), subjects
    body = next(received.message.get_content() for received in notices if "settings changed" in
                received.message["Subject"])
    assert '"/bin/true"' in body and "owner@example.com" in notices[0].envelope_to
    world.cron()  # told once: the new config is kept now
    wait_until_ended(world.pyz)  # the user's checks have exited: a second notice would be in the sink
    assert len(world.sink.messages) == len(notices)


FLOOD_KILLER = "pkill -KILL -u \"$USER\" -f 'ssh_aler[t]'; rm -f ~/.local/state/ssh-alert/*"


def test_a_flood_to_the_hourly_limit_never_opens_the_door_for_the_next_login(world: World):
    set_alert_keys(world, max_per_hour="3", digest_after="100")
    for number in range(3):
        assert world.ssh_from("127.0.0.{}".format(number + 2), "true").returncode == 0
    world.sink.wait_for(3, timeout=15)
    finished = world.ssh_from("127.0.0.9", FLOOD_KILLER)
    assert finished.returncode in (0, 1), finished.stderr
    received = world.sink.messages  # no waiting: it had to leave before the command ran
    assert len(received) == 4, [message.message["Subject"] for message in received]
    assert "127.0.0.9" in received[3].message.get_content()
