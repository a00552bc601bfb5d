"""The login hook's shell code: one template, rendered for each place it goes.

``bash_profile.snippet`` at the top of the repository is this template rendered with the defaults
(a test keeps them identical); ``install`` renders it with the interpreter it found, the pyz's path
and the hook's name, for ``~/.ssh/rc``, the bash login file and ``~/.bashrc``.
"""

import shlex
from typing import NamedTuple

BEGIN = "# >>> ssh_alert login hook >>>"
END = "# <<< ssh_alert login hook <<<"
HOOKS = ("ssh-rc", "bash-profile", "bashrc")

_TEMPLATE = r"""{begin}
# Records this SSH login in the login log, then starts `ssh_alert.pyz check` fully detached.
# POSIX sh; prints nothing, never fails, never waits (a missing pyz or python, a dead mail server: no matter).
if [ -n "${{SSH_CONNECTION:-}}" ]; then (
  sa_py={python} sa_pyz={pyz} sa_hook={hook}
{parent_check}  sa_dir="${{XDG_STATE_HOME:-$HOME/.local/state}}/ssh-alert"
  case "$sa_dir" in /*) ;; *) sa_dir="$HOME/.local/state/ssh-alert" ;; esac
  umask 077
  [ -d "$sa_dir" ] || mkdir -p "$sa_dir"
  set -- $SSH_CONNECTION
  sa_auth= sa_key= sa_kind=
  if [ -n "${{SSH_USER_AUTH:-}}" ] && [ -r "$SSH_USER_AUTH" ]; then
    while read -r sa_method sa_type sa_blob sa_rest; do
      sa_auth="${{sa_auth:+$sa_auth,}}$sa_method"
      if [ "$sa_method" = publickey ] && [ -z "$sa_key" ]; then sa_key=" keytype=$sa_type key=$sa_blob"; fi
    done < "$SSH_USER_AUTH"
  fi
  case "${{BASH_EXECUTION_STRING:-}}" in
    "") ;;
    *sftp-server*|scp\ *|*"rsync --server"*) sa_kind=" kind=transfer" ;;
    *) sa_kind=" kind=command" ;;
  esac
  printf '%s %s %s %s cport=%s saddr=%s sport=%s tty=%s hook=%s%s%s\n' "$(date '+%Y-%m-%d %H:%M:%S %z')" \
    "$1" "${{USER:-${{LOGNAME:-unknown}}}}" "${{sa_auth:-unknown}}" "$2" "$3" "$4" "${{SSH_TTY:-none}}" "$sa_hook" \
    "$sa_kind" "$sa_key" >> "$sa_dir/logins.log"
  if [ -f "$sa_pyz" ]; then
    if command -v setsid >/dev/null; then setsid "$sa_py" -S "$sa_pyz" check &
    else nohup "$sa_py" -S "$sa_pyz" check & fi
  fi
) </dev/null >/dev/null 2>&1; fi
{end}
"""

# Shells started by a shell (nested bash, tmux windows, `bash` inside screen) inherit SSH_CONNECTION
# but are not logins: the bash hooks record only when sshd itself started the shell. ~/.ssh/rc is
# only ever run for sshd, through /bin/sh, so it needs no such test.
_PARENT_CHECK = ("  if [ -r /proc/$PPID/comm ] && read -r sa_parent < /proc/$PPID/comm; then\n"
                 "    case \"$sa_parent\" in sshd*) ;; *) exit 0 ;; esac\n"
                 "  fi\n")

# sshd runs xauth itself only when ~/.ssh/rc does not exist (sshd(8), SSHRC): an rc must do it.
XAUTH_BEGIN = "# >>> ssh_alert xauth (sshd skips X11 authentication when ~/.ssh/rc exists) >>>"
XAUTH_END = "# <<< ssh_alert xauth <<<"
XAUTH_BLOCK = XAUTH_BEGIN + r"""
if read proto cookie && [ -n "$DISPLAY" ]; then
  case $DISPLAY in
    localhost:*) echo add "unix:${DISPLAY#localhost:}" "$proto" "$cookie" ;;
    *) echo add "$DISPLAY" "$proto" "$cookie" ;;
  esac | xauth -q - >/dev/null 2>&1
fi
""" + XAUTH_END + "\n"


class HookSettings(NamedTuple):
    python: str = "python3"
    pyz: str = '"$HOME/bin/ssh_alert.pyz"'  # already quoted for sh
    hook: str = "bash-profile"


def render_hook(settings: HookSettings = HookSettings()) -> str:
    """Return the hook block (markers included, newline-terminated) for one hook place."""
    return _TEMPLATE.format(begin=BEGIN, end=END, python=settings.python, pyz=settings.pyz, hook=settings.hook,
                            parent_check="" if settings.hook == "ssh-rc" else _PARENT_CHECK)


def shell_quote_path(path: str, home: str) -> str:
    """Quote path for sh, writing a path under home as "$HOME/..." so the block survives a moved HOME."""
    if path.startswith(home.rstrip("/") + "/"):
        return '"$HOME/{}"'.format(path[len(home.rstrip("/")) + 1:].replace('"', '\\"').replace("$", "\\$")
                                   .replace("`", "\\`"))
    return shlex.quote(path)
