"""What the suite needs from the machine, and the one command that installs what is missing."""

import grp
import pwd
import shutil
from pathlib import Path
from typing import Callable, List, Optional, Tuple

from support.msmtp import MSMTP
from support.postfix import DOVECOT, MAIL_OWNER, SETGID_GROUP, exists, postfix_root
from support.spamassassin import SPAMASSASSIN

INSTALL = "sudo make prereq"


def _postfix() -> bool:
    return postfix_root() is not None and exists(pwd.getpwnam, MAIL_OWNER) and exists(grp.getgrnam, SETGID_GROUP)


# (Debian package, present?) in the order .ci/prereq installs them; postfix is unpacked, not installed.
PREREQUISITES: Tuple[Tuple[str, Callable[[], bool]], ...] = (
    ("msmtp", MSMTP.is_file),
    ("postfix", _postfix),
    ("dovecot-core", DOVECOT.is_file),
    ("spamassassin", SPAMASSASSIN.is_file),
    ("openssh-server", Path("/usr/sbin/sshd").is_file),
    ("cron", lambda: shutil.which("crontab") is not None),
    ("xauth", lambda: shutil.which("xauth") is not None),
    ("faketime", lambda: shutil.which("faketime") is not None),
    ("rsyslog", lambda: Path("/usr/sbin/rsyslogd").is_file()),
    ("rsyslog-relp", lambda: Path("/usr/lib/x86_64-linux-gnu/rsyslog/imrelp.so").is_file()),
    ("systemd", lambda: Path("/lib/systemd/systemd-journald").is_file()),
)


def missing() -> List[str]:
    return [package for package, present in PREREQUISITES if not present()]


def summary() -> Optional[str]:
    """One line naming what is missing and the command that installs it; None when nothing is."""
    absent = missing()
    if not absent:
        return None
    return "missing: {}; run: {} (apt-get install {}, and Debian's postfix unpacked into .cache/postfix)".format(
        " ".join(absent), INSTALL, " ".join(package for package, _ in PREREQUISITES if package != "postfix"))
