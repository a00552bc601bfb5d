"""The original script's files (config, login log, state) in exactly its formats, for the migration tests."""

from pathlib import Path
from typing import List

from helpers import stamp

PASSWORD = "s3cret"
# Five logins over the last days, oldest first (built from now: no fixed dates).
LEGACY_LINES = [
    "{} 198.51.100.{} alice {}".format(stamp(days * 86400 - number * 3600), number, method)
    for number, (days, method) in enumerate([(17, "publickey"), (17, "password"), (16, "unknown"), (15, "publickey"),
                                              (14, "keyboard-interactive")], start=1)
]
LEGACY_CONFIG = """[alert]
to = owner@example.com
from = monitor@example.com
method = smtp

[smtp]
host = 127.0.0.1
port = {port}
user = alice
password = {password}
starttls = yes
ssl = no
"""


def write_legacy(home: Path, lines: List[str] = LEGACY_LINES, state: str = "3\n", port: int = 2525,
                 config_mode: int = 0o640) -> None:
    """The original script's three files, exactly in its formats."""
    (home / ".ssh_logins").write_text("".join(line + "\n" for line in lines))
    if state is not None:
        (home / ".ssh_login_monitor.state").write_text(state)
    conf = home / ".ssh_login_monitor.conf"
    conf.write_text(LEGACY_CONFIG.format(port=port, password=PASSWORD))
    conf.chmod(config_mode)
