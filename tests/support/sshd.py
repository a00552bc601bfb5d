"""A real OpenSSH sshd on a loopback port, with its own config and host key, and a throwaway user.

Root is needed (sshd switches to the user after authentication); CI runs as root. Everything is
removed on stop(): the sshd process group, the user, its home and crontab.
"""

import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence

SSHD = Path("/usr/sbin/sshd")
SFTP_SERVER = Path("/usr/lib/openssh/sftp-server")
KEY_COMMENT = "alice@laptop-e2e"

CONFIG = """\
Port {port}
ListenAddress 127.0.0.1
HostKey {host_key}
PidFile {pid_file}
AuthorizedKeysFile .ssh/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM {use_pam}
ExposeAuthInfo yes
PermitUserRC yes
X11Forwarding yes
AllowUsers {user}
StrictModes yes
LogLevel VERBOSE
Subsystem sftp {sftp_server}
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run(argv: Sequence[str], **kwargs) -> subprocess.CompletedProcess:  # type: ignore[no-untyped-def]
    return subprocess.run(list(argv), check=True, capture_output=True, text=True, timeout=60, **kwargs)


class SshServer:
    """sshd on 127.0.0.1:<free port> for one throwaway user with a key whose comment is KEY_COMMENT."""

    def __init__(self, workdir: Path, shell: str = "/bin/bash", use_pam: bool = False, extra_config: str = "",
                 home_owned_by_root: bool = False) -> None:
        self.workdir = workdir
        self.shell = shell
        self.extra_config = extra_config  # appended to the config ({user} is the user), e.g. a Match block
        self.home_owned_by_root = home_owned_by_root  # what ChrootDirectory %h needs
        self.use_pam = use_pam  # UsePAM yes: /etc/pam.d/sshd applies (the system-wide mode's tests)
        self.user = "sae2e" + secrets.token_hex(3)
        self.home = Path("/home") / self.user
        self.port = free_port()
        self.process: Optional[subprocess.Popen] = None
        self.client_key = workdir / "client_key"
        self.log = workdir / "sshd.log"

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> "SshServer":
        """Create the user and keys, write the config, start sshd and wait until it accepts connections."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
        run(["useradd", "--create-home", "--home-dir", str(self.home), "--shell", self.shell, self.user])
        run(["passwd", "-d", self.user])  # no password, not locked: key login only
        host_key = self.workdir / "ssh_host_ed25519_key"
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)])
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", KEY_COMMENT, "-f", str(self.client_key)])
        ssh_dir = self.home / ".ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        (ssh_dir / "authorized_keys").write_text(Path(str(self.client_key) + ".pub").read_text())
        (ssh_dir / "authorized_keys").chmod(0o600)
        run(["chown", "-R", "{0}:{0}".format(self.user), str(self.home)])
        config = self.workdir / "sshd_config"
        config.write_text(CONFIG.format(port=self.port, host_key=host_key, pid_file=self.workdir / "sshd.pid",
                                        user=self.user, sftp_server=SFTP_SERVER,
                                        use_pam="yes" if self.use_pam else "no")
                          + self.extra_config.format(user=self.user))
        if self.home_owned_by_root:
            os.chown(str(self.home), 0, 0)
            os.chmod(str(self.home), 0o755)
        run([str(SSHD), "-t", "-f", str(config)])
        self.process = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)], stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=open(str(self.log), "ab"),
                                        start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError("sshd did not start: " + self.log.read_text()[-2000:])

    def stop(self) -> None:
        """Stop sshd and every process of the user, remove the user, its home and its crontab."""
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
            except OSError:
                pass
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process = None
        subprocess.run(["crontab", "-r", "-u", self.user], capture_output=True)
        # userdel refuses while the user has processes (detached checks may still be finishing).
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            subprocess.run(["pkill", "-KILL", "-u", self.user], capture_output=True)
            if subprocess.run(["userdel", "--remove", self.user], capture_output=True).returncode in (0, 6, 12):
                break  # 6: no such user; 12: home or spool already gone, the user itself is removed
            time.sleep(0.2)
        shutil.rmtree(str(self.home), ignore_errors=True)

    def __enter__(self) -> "SshServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- acting as the user and as the client --------------------------------------------------------

    @property
    def uid(self) -> int:
        return pwd.getpwnam(self.user).pw_uid

    def as_user(self, argv: Sequence[str], stdin: str = "", environ: Optional[Mapping[str, str]] = None,
                timeout: float = 60) -> subprocess.CompletedProcess:
        """Run argv as the user in its home (runuser), with a login-like environment."""
        base = {"HOME": str(self.home), "USER": self.user, "LOGNAME": self.user, "SHELL": self.shell,
                "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
        base.update(environ or {})
        return subprocess.run(["runuser", "-u", self.user, "--"] + ["env", "-i"] +
                              ["{}={}".format(key, value) for key, value in base.items()] + list(argv),
                              input=stdin, capture_output=True, text=True, timeout=timeout, cwd=str(self.home))

    def ssh_options(self) -> List[str]:
        return ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
                "-o", "LogLevel=ERROR", "-o", "IdentitiesOnly=yes", "-i", str(self.client_key)]

    def ssh(self, *command: str, options: Sequence[str] = (), timeout: float = 30,
            stdin: Optional[bytes] = None) -> subprocess.CompletedProcess:
        """Run ssh as root (the client side) against the user."""
        return subprocess.run(["ssh", "-p", str(self.port)] + self.ssh_options() + list(options) +
                              ["{}@127.0.0.1".format(self.user)] + list(command),
                              input=stdin if stdin is not None else b"", capture_output=True, timeout=timeout)

    def target(self, path: str = "") -> str:
        return "{}@127.0.0.1:{}".format(self.user, path)

    def environment_for_clients(self) -> Dict[str, str]:
        return dict(os.environ)
