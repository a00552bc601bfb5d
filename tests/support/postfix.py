"""A private Postfix, with SASL AUTH through a private Dovecot, that relays to a loopback ``MailSink``.

Nothing here touches the machine's own mail system: Postfix runs with its own config, queue and data
directories (``master -c DIR``, no postmulti), listens only on 127.0.0.1:<free port> for submission
(STARTTLS required, AUTH required, certificate from the test CA), and relays everything it accepts to
a ``MailSink``, where the test reads it. Dovecot runs with its own base_dir and a passwd-file, and serves
only the auth socket Postfix asks. Both run in the foreground as children of the test and are stopped
at teardown.

The binaries are Debian's: a system Postfix (/usr/lib/postfix) when it is the machine's MTA, else the
package unpacked by ``.ci/prereq`` into .cache/postfix (it conflicts with exim4, Debian's default MTA).
Running them needs root (master drops to the ``postfix`` user that .ci/prereq adds).
"""

import grp
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional

import trustme

from support.mailsink import LOOPBACK_HOST, MailSink

ROOT = Path(__file__).resolve().parent.parent.parent
PRIVATE_ROOT = ROOT / ".cache" / "postfix"  # where .ci/prereq unpacks Debian's postfix package
DOVECOT = Path("/usr/sbin/dovecot")
MAIL_OWNER, SETGID_GROUP = "postfix", "postdrop"
HOSTNAME = "mx.postfix.test"
START_TIMEOUT = 15.0

# The daemons this instance needs; none chrooted (the queue is a temporary directory).
MASTER_CF = """\
{listen} inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n -  0 cleanup
qmgr      unix  n - n 300 1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n -  - trivial-rewrite
bounce    unix  - - n -  0 bounce
defer     unix  - - n -  0 bounce
trace     unix  - - n -  0 bounce
verify    unix  - - n -  1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -  - proxymap
smtp      unix  - - n -  - smtp
relay     unix  - - n -  - smtp
showq     unix  n - n -  - showq
error     unix  - - n -  - error
retry     unix  - - n -  - error
discard   unix  - - n -  - discard
anvil     unix  - - n -  1 anvil
scache    unix  - - n -  1 scache
postlog   unix-dgram n - n - 1 postlogd
"""

# Owner, group and mode of each queue subdirectory, as Debian's postfix-files sets them.
QUEUE_DIRECTORIES = {name: (MAIL_OWNER, "root", 0o700) for name in (
    "active", "bounce", "corrupt", "defer", "deferred", "flush", "hold", "incoming", "private", "saved", "trace")}
QUEUE_DIRECTORIES.update({"maildrop": (MAIL_OWNER, SETGID_GROUP, 0o1730), "public": (MAIL_OWNER, SETGID_GROUP, 0o710),
                          "pid": ("root", "root", 0o755)})


def postfix_root() -> Optional[Path]:
    """The directory holding usr/lib/postfix/sbin/master: the unpacked package first, else the system's."""
    for candidate in (PRIVATE_ROOT, Path("/")):
        if (candidate / "usr/lib/postfix/sbin/master").is_file():
            return candidate
    return None


def exists(lookup: Callable[[str], object], name: str) -> bool:
    """True when pwd.getpwnam/grp.getgrnam knows name."""
    try:
        lookup(name)
    except KeyError:
        return False
    return True


def unavailable() -> Optional[str]:
    """Why a private Postfix cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return "a private Postfix needs root (its master drops to the postfix user)"
    if postfix_root() is None:
        return "no Postfix binaries (run: sudo make prereq)"
    if not (exists(pwd.getpwnam, MAIL_OWNER) and exists(grp.getgrnam, SETGID_GROUP)):
        return "no postfix user or postdrop group (run: sudo make prereq)"
    if not DOVECOT.is_file() or not exists(pwd.getpwnam, "dovecot") or not exists(pwd.getpwnam, "dovenull"):
        return "no Dovecot (run: sudo make prereq)"
    return None


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK_HOST, 0))
        return probe.getsockname()[1]


def _wait_until(condition, what: str, logs: List[Path], process: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not condition():
        if process.poll() is not None or time.monotonic() > deadline:
            tails = "\n".join("--- {}\n{}".format(log, log.read_text(errors="replace")[-3000:] if log.exists()
                                                  else "(none)") for log in logs)
            raise AssertionError("{} did not come up (exit {}):\n{}".format(what, process.poll(), tails))
        time.sleep(0.05)


def _port_open(port: int) -> bool:
    try:
        socket.create_connection((LOOPBACK_HOST, port), timeout=1).close()
    except OSError:
        return False
    return True


def _stop(process: Optional[subprocess.Popen]) -> None:
    """SIGTERM (again), then SIGKILL after 10 s."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


QUEUES = ("maildrop", "incoming", "active", "deferred", "hold")  # where a message waits; removed once relayed


class PrivatePostfix:
    """Postfix on 127.0.0.1:<port> (STARTTLS, AUTH via Dovecot) relaying to ``relay``; a context manager."""

    def __init__(self, relay: MailSink, leaf: trustme.LeafCert, users: Mapping[str, str]) -> None:
        self.relay = relay
        self.leaf = leaf
        self.users = dict(users)
        self.host = LOOPBACK_HOST
        self.port = 0
        self.root = postfix_root()
        self.directory = Path()
        self._master: Optional[subprocess.Popen] = None
        self._dovecot: Optional[subprocess.Popen] = None

    def __repr__(self) -> str:
        return "<PrivatePostfix {}:{} relay={}:{} in {}>".format(self.host, self.port, self.relay.host,
                                                                 self.relay.port, self.directory)

    @property
    def config_dir(self) -> Path:
        return self.directory / "config"

    @property
    def queue_dir(self) -> Path:
        return self.directory / "queue"

    def queued(self) -> List[Path]:
        """The message files in Postfix's queue: accepted, not yet relayed (or bounced) and removed."""
        return [Path(directory, name) for queue in QUEUES
                for directory, _, names in os.walk(str(self.queue_dir / queue)) for name in names]

    def wait_until_queue_empty(self, timeout: float = 20.0) -> None:
        """Return once Postfix's queue is empty: every message it accepted was handed on, so nothing more comes from
        it. Raises AssertionError naming what is left at timeout (a message deferred by the relay, say)."""
        deadline = time.monotonic() + timeout
        while self.queued():
            assert time.monotonic() < deadline, "still queued after {:g} s: {}\n{}".format(
                timeout, self.queued(), self.log_text()[-3000:])
            time.sleep(0.05)

    @property
    def maillog(self) -> Path:
        return self.directory / "maillog"

    @property
    def dovecot_log(self) -> Path:
        return self.directory / "dovecot.log"

    def environment(self) -> Dict[str, str]:
        """What Postfix's programs need: the config directory, and the unpacked package's libraries."""
        environ = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "MAIL_CONFIG": str(self.config_dir)}
        if self.root != Path("/"):
            environ["LD_LIBRARY_PATH"] = str(self.root / "usr/lib/postfix")  # its RUNPATH is /usr/lib/postfix
        return environ

    def __enter__(self) -> "PrivatePostfix":
        problem = unavailable()
        if problem:
            raise RuntimeError(problem)
        # Not under pytest's 0700 tmp_path: Dovecot's auth process (user dovecot) reads the passwd-file here.
        self.directory = Path(tempfile.mkdtemp(prefix="ssh-alert-postfix-"))
        self.directory.chmod(0o755)
        try:
            self._write_postfix_config()
            self._make_queue()
            self._start_dovecot()
            self._start_master()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        for process in (self._master, self._dovecot):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        _stop(self._master)
        _stop(self._dovecot)
        self._master = self._dovecot = None
        if self.directory != Path() and self.directory.exists():
            shutil.rmtree(str(self.directory), ignore_errors=True)

    def _write_postfix_config(self) -> None:
        assert self.root is not None
        self.port = free_loopback_port()
        self.config_dir.mkdir()
        chain = self.directory / "tls.pem"
        self.leaf.private_key_and_cert_chain_pem.write_to_path(str(chain))
        chain.chmod(0o600)
        package = self.root
        settings = {
            "compatibility_level": "3.6",
            "config_directory": self.config_dir, "queue_directory": self.queue_dir,
            "data_directory": self.directory / "data", "meta_directory": package / "etc/postfix",
            "shlib_directory": package / "usr/lib/postfix", "daemon_directory": package / "usr/lib/postfix/sbin",
            "command_directory": package / "usr/sbin", "sendmail_path": package / "usr/sbin/sendmail",
            "newaliases_path": package / "usr/bin/newaliases", "mailq_path": package / "usr/bin/mailq",
            "mail_owner": MAIL_OWNER, "setgid_group": SETGID_GROUP,
            # Kept by master for its daemons, and by sendmail for postdrop: the unpacked package's libraries.
            "import_environment": "MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C LD_LIBRARY_PATH",
            "export_environment": "TZ MAIL_CONFIG LANG LD_LIBRARY_PATH",
            "maillog_file": self.maillog, "maillog_file_prefixes": self.directory,
            "inet_interfaces": "loopback-only", "inet_protocols": "ipv4",
            "myhostname": HOSTNAME, "mydestination": "", "local_recipient_maps": "", "alias_maps": "",
            "alias_database": "", "biff": "no", "mynetworks": "127.0.0.1/32",
            # Everything goes to the sink, by address: no DNS.
            "relayhost": "[{}]:{}".format(self.relay.host, self.relay.port), "smtp_dns_support_level": "disabled",
            "smtp_tls_security_level": "none", "smtpd_peername_lookup": "no",
            # Submission: TLS before anything else, AUTH before relaying.
            "smtpd_tls_security_level": "encrypt", "smtpd_tls_chain_files": chain, "smtpd_tls_auth_only": "yes",
            "smtpd_tls_received_header": "yes", "smtpd_sasl_auth_enable": "yes", "smtpd_sasl_type": "dovecot",
            "smtpd_sasl_path": "private/auth", "smtpd_sasl_authenticated_header": "yes",
            "smtpd_relay_restrictions": "permit_sasl_authenticated, reject",
            "smtpd_error_sleep_time": "0",  # a refused password is answered at once (tests stay fast)
        }
        (self.config_dir / "main.cf").write_text("".join("{} = {}\n".format(key, value)
                                                         for key, value in settings.items()))
        (self.config_dir / "master.cf").write_text(MASTER_CF.format(listen="{}:{}".format(self.host, self.port)))

    def _make_queue(self) -> None:
        for name, (owner, group, mode) in [(".", ("root", "root", 0o755))] + sorted(QUEUE_DIRECTORIES.items()):
            directory = self.queue_dir / name
            directory.mkdir(parents=True, exist_ok=True)
            os.chown(str(directory), pwd.getpwnam(owner).pw_uid, grp.getgrnam(group).gr_gid)
            directory.chmod(mode)
        data = self.directory / "data"
        data.mkdir()
        os.chown(str(data), pwd.getpwnam(MAIL_OWNER).pw_uid, -1)
        data.chmod(0o700)

    def _start_dovecot(self) -> None:
        users = self.directory / "dovecot-users"
        users.write_text("".join("{}:{{PLAIN}}{}:65534:65534::/nonexistent::\n".format(name, password)
                                 for name, password in self.users.items()))
        users.chmod(0o644)
        config = self.directory / "dovecot.conf"
        config.write_text("""\
base_dir = {d}/dovecot-run
state_dir = {d}/dovecot-state
log_path = {log}
protocols = none
ssl = no
default_internal_user = dovecot
default_login_user = dovenull
auth_mechanisms = plain login
auth_failure_delay = 0
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {users}
  default_fields = nodelay=yes
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {users}
}}
# No growing delay after a refused password (Dovecot's auth penalty), so the tests stay fast.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service auth {{
  unix_listener {queue}/private/auth {{
    mode = 0660
    user = {user}
    group = {group}
  }}
}}
""".format(d=self.directory, log=self.dovecot_log, users=users, queue=self.queue_dir, user=MAIL_OWNER,
           group=grp.getgrgid(pwd.getpwnam(MAIL_OWNER).pw_gid).gr_name))
        self._dovecot = subprocess.Popen([str(DOVECOT), "-F", "-c", str(config)], stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=open(str(self.dovecot_log), "ab"))
        socket_path = self.queue_dir / "private" / "auth"
        _wait_until(socket_path.exists, "Dovecot", [self.dovecot_log], self._dovecot)

    def _start_master(self) -> None:
        assert self.root is not None
        master = self.root / "usr/lib/postfix/sbin/master"
        # -d: stay in the foreground as our child; SIGTERM stops it and its daemons.
        self._master = subprocess.Popen([str(master), "-c", str(self.config_dir), "-d"], env=self.environment(),
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        _wait_until(lambda: _port_open(self.port), "Postfix", [self.maillog], self._master)

    def sendmail_wrapper(self, directory: Path) -> Path:
        """An executable ``directory/sendmail`` running this instance's Postfix sendmail (-t -oi as given)."""
        assert self.root is not None
        script = directory / "sendmail"
        exports = "".join("{}={} ".format(key, shlex.quote(value)) for key, value in self.environment().items()
                          if key != "PATH")
        script.write_text("#!/bin/sh\n{}exec {} \"$@\"\n".format(
            exports, shlex.quote(str(self.root / "usr/sbin/sendmail"))))
        script.chmod(0o755)
        return script

    def log_text(self) -> str:
        """Postfix's and Dovecot's logs, for assertion messages."""
        return "\n".join("--- {}\n{}".format(path.name, path.read_text(errors="replace") if path.exists() else "")
                         for path in (self.maillog, self.dovecot_log))
