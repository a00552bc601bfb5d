"""What the local sendmail really does with mail: Debian's default exim4 delivers to local mailboxes only.

Debian installs exim4 with ``dc_eximconfig_configtype='local'``: ``/usr/sbin/sendmail`` accepts every
message (exit 0), then fails mail for other domains; the bounce goes to the envelope sender (the from
address), which is not local either, so exim freezes it in its queue. ssh_alert would report "sent" while
nothing arrives; these checks let setup, test, status and check say so instead.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, Optional, Sequence, Tuple

EXIM_CONF = Path("/etc/exim4/update-exim4.conf.conf")  # debconf's answers, from which exim4's config is made
EXIM_LOCAL_ONLY = ("{sendmail} is exim4 set up for local delivery only (dc_eximconfig_configtype='local' in "
                   "{conf}): it accepts mail to {recipients}, then refuses it (\"Mailing to remote domains not "
                   "supported\") and its bounce, addressed to the from address, freezes in exim's queue (mailq as "
                   "root); use method = smtp "
                   "with your provider's mail server (re-run setup), or have root run dpkg-reconfigure "
                   "exim4-config to send mail out")

_ASSIGNMENT = re.compile(r"""^\s*(\w+)\s*=\s*(?:'([^']*)'|"([^"]*)"|(\S*))\s*(?:#.*)?$""")


def debconf_values(text: str) -> Dict[str, str]:
    """The shell assignments of update-exim4.conf.conf (``key='value'``), comments skipped (pure)."""
    values = {}
    for line in text.splitlines():
        match = _ASSIGNMENT.match(line)
        if match:
            values[match.group(1)] = next(group for group in match.groups()[1:] if group is not None)
    return values


def is_exim(sendmail_path: str) -> bool:
    """True when sendmail_path is exim, possibly through symlinks (Debian: /usr/sbin/sendmail -> exim4)."""
    return "exim" in os.path.basename(os.path.realpath(sendmail_path)).lower()


def exim_local_domains(values: Dict[str, str], hostname: str) -> Tuple[str, ...]:
    """The domains exim delivers locally in Debian's config: localhost, the host's name, dc_other_hostnames."""
    others = [name.strip().lower() for name in values.get("dc_other_hostnames", "").replace(";", ":").split(":")]
    return tuple(name for name in ["localhost", hostname.lower()] + others if name)


def bouncing_recipients(sendmail_path: str, recipients: Sequence[str], conf: Optional[Path] = None,
                        hostname: Optional[str] = None) -> Tuple[str, ...]:
    """The recipients a local-only exim would bounce; () when sendmail is not such an exim.

    conf defaults to EXIM_CONF. A hand-written exim4.conf next to it replaces the generated config:
    nothing is assumed then.
    """
    conf = EXIM_CONF if conf is None else conf
    if not is_exim(sendmail_path) or (conf.parent / "exim4.conf").exists():
        return ()
    try:
        values = debconf_values(conf.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return ()
    if values.get("dc_eximconfig_configtype") != "local":
        return ()
    local = exim_local_domains(values, socket.gethostname() if hostname is None else hostname)
    return tuple(address for address in recipients
                 if "." in address.rpartition("@")[2] and address.rpartition("@")[2].lower() not in local)


def local_only_problem(sendmail_path: str, recipients: Sequence[str], conf: Optional[Path] = None,
                       hostname: Optional[str] = None) -> Optional[str]:
    """EXIM_LOCAL_ONLY for the recipients a local-only exim would bounce, else None."""
    conf = EXIM_CONF if conf is None else conf
    bouncing = bouncing_recipients(sendmail_path, recipients, conf, hostname)
    if not bouncing:
        return None
    return EXIM_LOCAL_ONLY.format(sendmail=sendmail_path, conf=conf, recipients=", ".join(bouncing))
