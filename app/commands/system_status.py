"""``status --system``: the system-wide mode's own checks, after the checks every mode shares."""

from __future__ import annotations

import os

from app.commands.result import FAIL, OK, WARN, Check
from app.commands.status_install import last_cron
from app.install import crontab, pam
from app.system.paths import SYSTEM_HOOK, SYSTEM_PYZ, Paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List

PAM_MISSING = "no ssh_alert block in {path}: logins are not alerted; run: ssh_alert.pyz install --system"
HOOK_MISSING = "{path} is missing or not executable: logins are not alerted; re-run: ssh_alert.pyz install --system"


def system_checks(paths: Paths) -> List[Check]:
    """The PAM block, its script and pyz, sshd's UsePAM, root's cron line and its last run; never raises."""
    checks = []
    try:
        with open(pam.SERVICE_FILE, encoding="utf-8", errors="replace") as handle:
            block = pam.has_block(handle.read())
    except OSError:
        block = False
    checks.append(Check("pam hook", OK if block else FAIL, "{} holds the ssh_alert block (sshd only)".format(
        pam.SERVICE_FILE) if block else PAM_MISSING.format(path=pam.SERVICE_FILE)))
    for path in (SYSTEM_HOOK, SYSTEM_PYZ):
        usable = os.path.isfile(str(path)) and os.access(str(path), os.X_OK) and os.stat(str(path)).st_uid == 0
        checks.append(Check("installed", OK if usable else FAIL,
                            "{} (root)".format(path) if usable else HOOK_MISSING.format(path=path)))
    try:
        from app.commands.system_install import sshd_settings

        use = pam.usepam(sshd_settings(None))
        checks.append(Check("usepam", FAIL if use is False else OK,
                            pam.USEPAM_OFF if use is False else "sshd uses PAM (UsePAM yes)"))
    except Exception as error:  # noqa: BLE001 (a status line, never a crash)
        checks.append(Check("usepam", WARN, str(error)))
    from app.commands.system_install import CRON_MARKER
    from app.install import timer

    if (timer.UNIT_DIR / timer.TIMER).exists():
        from app.system import proc

        try:
            active = proc.run(["systemctl", "is-active", timer.TIMER], timeout=10).stdout.decode().strip()
        except (OSError, proc.TimedOut) as error:
            active = str(error)
        checks.append(Check("timer", OK if active == "active" else FAIL, "{} is {}".format(timer.TIMER, active)))
        return checks
    table = crontab.read_crontab()
    line = next((entry for entry in table.text.splitlines() if entry.endswith(" " + CRON_MARKER)), None)
    last = last_cron(paths)
    if line is None:
        checks.append(Check("cron", WARN, "no system line in root's crontab: retries wait for the next login; "
                                          "re-run: ssh_alert.pyz install --system"))
    else:
        checks.append(Check("cron", OK, "every minute; last run {}".format(
            "{:.0f} s ago".format(max(0, __import__("time").time() - last)) if last else "not recorded yet")))
    return checks
