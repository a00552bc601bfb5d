"""The system-wide mode's every-minute check as a systemd timer, where systemd runs (pure: the unit texts).

Where /run/systemd/system exists, install --system adds ssh-alert.timer and ssh-alert.service instead of a
line in root's crontab; uninstall --system disables and removes them.
"""

from __future__ import annotations

import shlex
from pathlib import Path

UNIT_DIR = Path("/etc/systemd/system")
SERVICE = "ssh-alert.service"
TIMER = "ssh-alert.timer"
SYSTEMD_RUNNING = Path("/run/systemd/system")  # sd_booted(3): systemd is the init system

_SERVICE_TEXT = """# Written by `ssh_alert.pyz install --system`; `uninstall --system` removes it.
[Unit]
Description=ssh_alert system-wide check: retries, heartbeat, session ends

[Service]
Type=oneshot
Environment=HOME=/root SHIV_ROOT={shiv}
ExecStart={python} -I -S {pyz} check --system --cron
"""

_TIMER_TEXT = """# Written by `ssh_alert.pyz install --system`; `uninstall --system` removes it.
[Unit]
Description=ssh_alert system-wide check every minute

[Timer]
OnBootSec=1min
OnUnitActiveSec=1min
AccuracySec=1s

[Install]
WantedBy=timers.target
"""


def service_text(python: str, pyz: str, shiv: str) -> str:
    return _SERVICE_TEXT.format(python=shlex.quote(python), pyz=shlex.quote(pyz), shiv=shlex.quote(shiv))


def timer_text() -> str:
    return _TIMER_TEXT
