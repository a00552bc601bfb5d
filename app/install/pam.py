"""The system-wide mode's PAM hook: the marked block for /etc/pam.d/sshd and the script it runs (pure: text in,
text out).

The block adds one ``pam_exec`` line for the ``sshd`` service only, ``optional`` (a failing hook never fails a
login), ``quiet`` (no message to the client) and ``type=open_session``. It goes before the first ``pam_env``
session line: from there on, Debian's ``pam_env user_readenv=1`` has put the account's ``~/.pam_environment``
into the PAM environment (LD_PRELOAD, PYTHONPATH...), which pam_exec hands to the program it runs as root.
For the same reason there is no ``close_session`` hook: at close that environment is in place whatever the
line's position.

The script records the connection in the system login log in the user hook's line format (``hook=pam``), so
the same check (store, policy, rendering, outbox, channels) alerts it, and lists it in a file per account
under /run/ssh-alert that a per-user install reads to skip the same connection.
"""

from __future__ import annotations

import re
import shlex

from app.install.hooks import (BrokenBlock, find_blocks, sshd_pid_script,  # noqa: F401  (BrokenBlock re-exported)
                               without_blocks)
from app.system.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

BEGIN = "# >>> ssh_alert system hook >>>"
END = "# <<< ssh_alert system hook <<<"
SERVICE_FILE = "/etc/pam.d/sshd"

USEPAM_OFF = ("sshd does not use PAM here (`sshd -T` says usepam no), so the system hook would never run: set "
              "`UsePAM yes` in /etc/ssh/sshd_config, reload sshd (systemctl reload ssh), then re-run install --system")
SSHD_T_FAILED = "cannot ask sshd for its settings (`sshd -T`): {reason}; is openssh-server installed?"


def render_block(hook: str) -> str:
    """The marked block for /etc/pam.d/sshd (newline-terminated) running hook (an absolute path)."""
    return ("{begin}\n"
            "# Alerts every SSH login as it opens (ssh_alert.pyz install --system; uninstall --system removes it).\n"
            "# optional: never fails a login. Before pam_env: the hook must not run with a user's environment.\n"
            "session optional pam_exec.so quiet seteuid type=open_session {hook}\n"
            "{end}\n").format(begin=BEGIN, end=END, hook=hook)


class PamEdit(Record):
    text: str
    action: str  # "unchanged", "replace block", "insert block before pam_env", "append block"
    newline_added: bool = False


_PAM_ENV_SESSION = re.compile(r"\A\s*-?session\s+(\S+|\[[^\]]*\])\s+pam_env\.so\b")


def with_pam_block(text: str, block: str) -> PamEdit:
    """text with exactly one block: an existing one replaced in place, else inserted before the first pam_env
    session line, else appended. Raises BrokenBlock."""
    blocks = find_blocks(text, BEGIN, END)
    if blocks:
        start, stop = blocks[0]
        if len(blocks) == 1 and text[start:stop] == block:
            return PamEdit(text, "unchanged")
        rest = without_blocks(text[stop:], BEGIN, END)
        return PamEdit(text[:start] + block + rest, "replace block")
    offset = 0
    for line in text.splitlines(keepends=True):
        if _PAM_ENV_SESSION.match(line):
            return PamEdit(text[:offset] + block + text[offset:], "insert block before pam_env")
        offset += len(line)
    newline_added = bool(text) and not text.endswith("\n")
    return PamEdit(text + ("\n" if newline_added else "") + block, "append block", newline_added)


def without_pam_block(text: str, newline_added: bool = False) -> str:
    """text with the block removed, and the final newline install added taken away again. Raises BrokenBlock."""
    kept = without_blocks(text, BEGIN, END)
    if newline_added and kept.endswith("\n") and kept != text:
        kept = kept[:-1]
    return kept


def has_block(text: str) -> bool:
    try:
        return bool(find_blocks(text, BEGIN, END))
    except BrokenBlock:
        return False


def usepam(sshd_t_output: str) -> Optional[bool]:
    """What `sshd -T` says of UsePAM (True/False); None when it does not say."""
    for line in sshd_t_output.splitlines():
        words = line.split()
        if len(words) == 2 and words[0].lower() == "usepam":
            return words[1].lower() == "yes"
    return None


# --- the script pam_exec runs -------------------------------------------------------------------------

_SCRIPT = r"""#!/bin/sh
# ssh_alert's system-wide login hook, run by pam_exec (as root) from /etc/pam.d/sshd when an SSH session opens.
# Written by `ssh_alert.pyz install --system` (which rewrites it: do not edit). It appends the connection to the
# system login log in the user hook's format (hook=pam), lists it for the account under {seen} (so a per-user
# install skips it), then runs `ssh_alert.pyz check --system --hook-wait N`: the login goes on once the alert
# has left, or after hook_wait seconds (0: the check is started detached). Prints nothing and exits 0: a
# missing python or pyz, a full disk or a broken config never holds up a login by more than hook_wait. When the
# line cannot be appended (a full disk), the check builds it from the same variables (SSH_ALERT_UNLOGGED).
# PAM_USER and PAM_RHOST are PAM items; sshd's SSH_CONNECTION is used only when its address is PAM_RHOST.
{{
  set -f
  umask 077
  PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root SHIV_ROOT={shiv}
  export PATH HOME SHIV_ROOT
  sa_py={python} sa_pyz={pyz} sa_dir={state} sa_seen={seen}
  sa_service=${{1:-sshd}}  # the PAM line may name another service (docs/system-mode.md); sshd's names none
  [ "${{PAM_SERVICE:-}}:${{PAM_TYPE:-}}" = "$sa_service:open_session" ] || exit 0
  sa_user=${{PAM_USER:-unknown}} sa_ip=${{PAM_RHOST:-unknown}}
  case "$sa_user" in *[!A-Za-z0-9._@+-]*|.*) sa_user=invalid-name ;; esac
  case "$sa_ip" in *[!A-Za-z0-9.:%_-]*) sa_ip=invalid-address ;; esac
  sa_cport= sa_saddr= sa_sport= sa_conn=
  set -- ${{SSH_CONNECTION:-}}
  if [ "$#" -eq 4 ] && [ "$1" = "$sa_ip" ]; then
    case "$2$4" in *[!0-9]*) ;; *) case "$3" in *[!A-Za-z0-9.:%_-]*) ;; *)
      sa_cport=$2 sa_saddr=$3 sa_sport=$4 sa_conn="$1 $2 $3 $4" ;; esac ;; esac
  fi
  # The connection's own sshd process, found as the user hook finds it (the sshd just below the topmost one).
{sshd_pid}  sa_auth= sa_key=
  if [ -n "${{SSH_AUTH_INFO_0:-}}" ]; then
    while read -r sa_method sa_type sa_blob sa_rest; do
      case "$sa_method" in ""|*[!A-Za-z0-9@./_-]*) continue ;; esac
      sa_auth="${{sa_auth:+$sa_auth,}}$sa_method"
      if [ "$sa_method" = publickey ] && [ -z "$sa_key" ]; then
        case "$sa_type$sa_blob" in ""|*[!A-Za-z0-9@.+/=-]*) ;; *) sa_key=" keytype=$sa_type key=$sa_blob" ;; esac
      fi
    done <<SA_EOF
$SSH_AUTH_INFO_0
SA_EOF
  fi
  sa_now=$(date '+%Y-%m-%d %H:%M:%S %z %s')
  sa_epoch=${{sa_now##* }}
  sa_log="$sa_dir/logins.log"
  [ -d "$sa_dir" ] || mkdir -m 0700 "$sa_dir"
  sa_unlogged=1  # the check then alerts this login from the environment (app.check.unrecorded)
  if [ -d "$sa_dir" ] && [ ! -L "$sa_dir" ] && [ ! -L "$sa_log" ] && {{ [ -f "$sa_log" ] || [ ! -e "$sa_log" ]; }}; then
    printf '%s %s %s %s cport=%s saddr=%s sport=%s tty=none hook=pam epoch=%s spid=%s%s\n' "${{sa_now% *}}" \
      "$sa_ip" "$sa_user" "${{sa_auth:-unknown}}" "$sa_cport" "$sa_saddr" "$sa_sport" "$sa_epoch" "$sa_sp" \
      "$sa_key" >> "$sa_log" && sa_unlogged=
  fi
  if [ -n "$sa_conn" ] && {{ [ -d "$sa_seen" ] || mkdir -m 0755 "$sa_seen"; }}; then
    if [ ! -e "$sa_seen/$sa_user" ]; then umask 022; : >> "$sa_seen/$sa_user"; umask 077; fi
    [ -L "$sa_seen/$sa_user" ] || printf '%s %s %s\n' "$sa_conn" "${{sa_sp:--}}" "$sa_epoch" >> "$sa_seen/$sa_user" || :
  fi
  sa_wait=3
  if [ -f "$sa_dir/hook_wait" ]; then read -r sa_wait < "$sa_dir/hook_wait" || :; fi
  if [ -f "$sa_pyz" ]; then
    SSH_CONNECTION=$sa_conn SSH_ALERT_SPID=$sa_sp SSH_ALERT_EPOCH=$sa_epoch SSH_ALERT_UNLOGGED=$sa_unlogged
    export SSH_CONNECTION SSH_ALERT_SPID SSH_ALERT_EPOCH SSH_ALERT_UNLOGGED
    case "$sa_wait" in
      0|0.0|"") if command -v setsid >/dev/null; then setsid "$sa_py" -I -S "$sa_pyz" check --system &
                else nohup "$sa_py" -I -S "$sa_pyz" check --system & fi ;;
      *) "$sa_py" -I -S "$sa_pyz" check --system --hook-wait "$sa_wait" || : ;;
    esac
  fi
}} </dev/null >/dev/null 2>&1
exit 0
"""


def render_script(python: str, pyz: str, state: str, seen: str, shiv: str) -> str:
    """The hook script pam_exec runs, with the interpreter, the pyz and the directories it uses (absolute)."""
    return _SCRIPT.format(python=shlex.quote(python), pyz=shlex.quote(pyz), state=shlex.quote(state),
                          seen=shlex.quote(seen), shiv=shlex.quote(shiv), sshd_pid=sshd_pid_script("  "))
