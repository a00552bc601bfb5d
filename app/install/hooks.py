"""The login hook's shell code: one template, rendered for each place it goes.

``bash_profile.snippet`` at the top of the repository is this template rendered with the defaults
(a test keeps them identical); ``install`` renders it with the interpreter it found, the pyz's path
and the hook's name, for ``~/.ssh/rc``, the bash login file and ``~/.bashrc``.
"""

from __future__ import annotations

import os
import shlex
from app.system.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Collection, Dict, List, Optional, Sequence, Tuple

BEGIN = "# >>> ssh_alert login hook >>>"
END = "# <<< ssh_alert login hook <<<"
HOOKS = ("ssh-rc", "bash-profile", "bashrc")

# The connection's own sshd process (sa_sp): the sshd just below the topmost one above us (the per-connection
# monitor under the listener), the same for ~/.ssh/rc, the shell's hooks, the PAM hook and every session
# multiplexed over the connection. Shared by the user hooks and the PAM hook, each indenting it to its place.
SSHD_PID_SCRIPT = r"""sa_sp= sa_top= sa_p=$PPID sa_n=0
while [ "$sa_n" -lt 12 ] && [ -r "/proc/$sa_p/stat" ] && read -r sa_stat < "/proc/$sa_p/stat"; do
  case "$sa_stat" in
    *"(sshd"*) sa_sp=$sa_top sa_top=$sa_p ;;
    *) [ -z "$sa_top" ] || break ;;
  esac
  sa_stat=${sa_stat##*) } sa_stat=${sa_stat#* } sa_p=${sa_stat%% *} sa_n=$((sa_n + 1))
done
sa_sp=${sa_sp:-$sa_top}
"""


def sshd_pid_script(indent: str) -> str:
    """Returns SSHD_PID_SCRIPT indented for its place in a hook template."""
    return "".join(indent + line if line.strip() else line for line in SSHD_PID_SCRIPT.splitlines(True))


_TEMPLATE = r"""{begin}
# Records this SSH login in the login log, then hands it to `ssh_alert.pyz check`, which lets the
# session start once this login's alert has left the machine, or after hook_wait seconds (read from
# the state directory's hook_wait file, written from the config; 3 when absent; 0: start the check
# detached and go on at once). One wait per connection: later hooks of it (listed in "waited") skip theirs.
# POSIX sh, no subshell on the way; prints nothing, never fails: a missing pyz or python costs nothing.
# Appends only to a regular file: a FIFO, device or symlink at the log's place is skipped, never opened.
# The paths are install's, never the client's environment (sshd's AcceptEnv could pass XDG_*, PYTHON*: -E);
# the pyz runs only when this account owns it and its directory; the state directory is used only when ours.
if [ -n "${{SSH_CONNECTION:-}}" ]; then {{
  sa_py={python} sa_pyz={pyz} sa_dir={state} sa_hook={hook} sa_go=1
  sa_conf={config_home} sa_data={data_home}
{parent_check}  if [ -n "$sa_go" ] && {{ [ -d "$sa_dir" ] || (umask 077; mkdir -p "$sa_dir"); }} && [ -O "$sa_dir" ]; then
    sa_conn=$SSH_CONNECTION sa_ip=${{SSH_CONNECTION%% *}} sa_rest=${{SSH_CONNECTION#* }}
    sa_cport=${{sa_rest%% *}} sa_rest=${{sa_rest#* }}
    sa_saddr=${{sa_rest%% *}} sa_sport=${{sa_rest#* }}
    # The connection's own sshd process tells a new connection from an old one that used the same client
    # port: the sshd just below the topmost one above us (the per-connection monitor under the listener),
    # the same for ~/.ssh/rc, the shell's hooks and every session multiplexed over the connection.
{sshd_pid}    sa_auth= sa_key= sa_kind=
    if [ -n "${{SSH_USER_AUTH:-}}" ] && [ -r "$SSH_USER_AUTH" ]; then
      while read -r sa_method sa_type sa_blob sa_rest; do
        sa_auth="${{sa_auth:+$sa_auth,}}$sa_method"
        if [ "$sa_method" = publickey ] && [ -z "$sa_key" ]; then sa_key=" keytype=$sa_type key=$sa_blob"; fi
      done < "$SSH_USER_AUTH"
    fi
    # "transfer" only for the exact commands sshd and scp/rsync send, with nothing a shell would act on;
    # anything else the client asked for is a "command" (rules cannot be steered by the command's text).
    sa_nl='
'
    case "${{BASH_EXECUTION_STRING:-}}" in
      "") ;;
      *[\;\&\|\<\>\(\)\$\`\\\"\'\*\?\[\]\{{\}}\~\#]*|*"$sa_nl"*) sa_kind=" kind=command" ;;
      /usr/lib/openssh/sftp-server|/usr/lib/openssh/sftp-server\ -*|/usr/libexec/openssh/sftp-server|\
      /usr/libexec/openssh/sftp-server\ -*|/usr/lib/ssh/sftp-server|/usr/lib/ssh/sftp-server\ -*|\
      /usr/lib/sftp-server|/usr/libexec/sftp-server|"rsync --server "*|\
      "scp -"[tf]" "*|"scp -"[vrpd]" -"[tf]" "*|"scp -"[vrpd]" -"[vrpd]" -"[tf]" "*|\
      "scp -"[vrpd]" -"[vrpd]" -"[vrpd]" -"[tf]" "*|"scp -"[vrpd]" -"[vrpd]" -"[vrpd]" -"[vrpd]" -"[tf]" "*)
        sa_kind=" kind=transfer" ;;
      *) sa_kind=" kind=command" ;;
    esac
    sa_cmd=
    if [ -n "${{BASH_EXECUTION_STRING:-}}" ] && [ -f "$sa_dir/record_command" ]; then
      # bash only (it alone sets BASH_EXECUTION_STRING); one token: %q escapes, each blank becomes \x20.
      eval 'printf -v sa_cmd "%q" "$BASH_EXECUTION_STRING" && sa_cmd="${{sa_cmd//\\ /\\x20}}" &&
            sa_cmd="${{sa_cmd// /\\x20}}" &&
            sa_cmd=" cmd=${{sa_cmd:0:200}}"' || sa_cmd=
    fi
    if [ -z "${{BASH_VERSION:-}}" ] || ! printf -v sa_now '%(%Y-%m-%d %H:%M:%S %z %s)T' -1; then
      sa_now=$(date '+%Y-%m-%d %H:%M:%S %z %s')
    fi
    sa_log="$sa_dir/logins.log"
    if [ ! -L "$sa_log" ] && {{ [ -f "$sa_log" ] || [ ! -e "$sa_log" ]; }}; then
      [ -e "$sa_log" ] || (umask 077; : >> "$sa_log")
      printf '%s %s %s %s cport=%s saddr=%s sport=%s tty=%s hook=%s epoch=%s spid=%s%s%s%s\n' "${{sa_now% *}}" \
        "$sa_ip" "${{USER:-${{LOGNAME:-unknown}}}}" "${{sa_auth:-unknown}}" "$sa_cport" "$sa_saddr" "$sa_sport" \
        "${{SSH_TTY:-none}}" "$sa_hook" "${{sa_now##* }}" "$sa_sp" "$sa_kind" "$sa_key" "$sa_cmd" >> "$sa_log" || :
    fi
    sa_wait=3 sa_done= sa_epoch=${{sa_now##* }}
    if [ -f "$sa_dir/hook_wait" ] && [ -r "$sa_dir/hook_wait" ]; then read -r sa_wait < "$sa_dir/hook_wait" || :; fi
    if [ -f "$sa_dir/waited" ] && [ -r "$sa_dir/waited" ]; then
      while read -r sa_c1 sa_c2 sa_c3 sa_c4 sa_csp sa_when; do
        case "$sa_when$sa_epoch" in ""|*[!0-9]*) continue ;; esac
        if [ "$sa_c1 $sa_c2 $sa_c3 $sa_c4 $sa_csp" = "$sa_conn ${{sa_sp:--}}" ] && [ $((sa_epoch - sa_when)) -le 300 ]
        then sa_done=1; fi
      done < "$sa_dir/waited"
    fi
    if [ -z "$sa_done" ] && [ -f "$sa_pyz" ] && [ -O "$sa_pyz" ] && [ -O "${{sa_pyz%/*}}" ]; then
      sa_state=${{sa_dir%/*}}
      case "$sa_wait" in
        0|0.0|"") (export XDG_STATE_HOME="$sa_state" XDG_CONFIG_HOME="$sa_conf" XDG_DATA_HOME="$sa_data" \
                          SSH_ALERT_SPID="$sa_sp"
                   if command -v setsid >/dev/null; then setsid "$sa_py" -S -E "$sa_pyz" check &
                   else nohup "$sa_py" -S -E "$sa_pyz" check & fi) ;;
        *) XDG_STATE_HOME=$sa_state XDG_CONFIG_HOME=$sa_conf XDG_DATA_HOME=$sa_data SSH_ALERT_SPID=$sa_sp \
             "$sa_py" -S -E "$sa_pyz" check --hook-wait "$sa_wait" || : ;;
      esac
      [ -e "$sa_dir/waited" ] || (umask 077; : >> "$sa_dir/waited")
      printf '%s %s %s\n' "$sa_conn" "${{sa_sp:--}}" "$sa_epoch" >> "$sa_dir/waited" || :
    fi
  fi
  unset sa_py sa_pyz sa_hook sa_go sa_conf sa_data sa_state sa_nl sa_cmd sa_parent sa_dir sa_conn sa_ip sa_rest sa_cport sa_saddr sa_sport sa_auth \
    sa_key sa_kind sa_method sa_type sa_blob sa_now sa_log sa_wait sa_done sa_epoch sa_c1 sa_c2 sa_c3 sa_c4 sa_csp sa_when sa_sp sa_top sa_p sa_n sa_stat
}} </dev/null >/dev/null 2>&1; fi
{end}
"""

# Shells started by a shell (nested bash, tmux windows, `bash` inside screen) inherit SSH_CONNECTION
# but are not logins: the bash hooks record only when sshd itself started the shell. ~/.ssh/rc is
# only ever run for sshd, through /bin/sh, so it needs no such test.
_PARENT_CHECK = ("  if [ -r /proc/$PPID/comm ] && read -r sa_parent < /proc/$PPID/comm; then\n"
                 "    case \"$sa_parent\" in sshd*) ;; *) sa_go= ;; esac\n"
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


class HookSettings(Record):
    """What one rendered block calls and where it keeps state; render_hook takes every value quoted for sh
    (hook_settings quotes plain ones).

    The defaults (a hand-pasted snippet) are the default paths under $HOME; install writes the paths it chose.
    """

    python: str = "python3"
    pyz: str = '"$HOME/bin/ssh_alert.pyz"'
    hook: str = "bash-profile"
    state: str = '"$HOME/.local/state/ssh-alert"'  # the state directory itself
    config_home: str = '"$HOME/.config"'  # XDG_CONFIG_HOME for the check the hook starts
    data_home: str = '"$HOME/.local/share"'  # XDG_DATA_HOME for it


def render_hook(settings: HookSettings = HookSettings()) -> str:
    """Return the hook block (markers included, newline-terminated) for one hook place."""
    return _TEMPLATE.format(begin=BEGIN, end=END, python=settings.python, pyz=settings.pyz, hook=settings.hook,
                            state=settings.state, config_home=settings.config_home, data_home=settings.data_home,
                            parent_check="" if settings.hook == "ssh-rc" else _PARENT_CHECK,
                            sshd_pid=sshd_pid_script("    "))


def hook_settings(plain: HookSettings, home: str) -> HookSettings:
    """The settings install renders: plain's values (not quoted; absolute paths) quoted for sh, the paths under home
    written as "$HOME/..." (pure)."""
    return HookSettings(shlex.quote(plain.python), shell_quote_path(plain.pyz, home), plain.hook,
                        shell_quote_path(plain.state, home), shell_quote_path(plain.config_home, home),
                        shell_quote_path(plain.data_home, home))


def shell_quote_path(path: str, home: str) -> str:
    """Quote path for sh, writing a path under home as "$HOME/..." so the block survives a moved HOME."""
    if path.startswith(home.rstrip("/") + "/"):
        return '"$HOME/{}"'.format(path[len(home.rstrip("/")) + 1:].replace('"', '\\"').replace("$", "\\$")
                                   .replace("`", "\\`"))
    return shlex.quote(path)


# --- finding and editing the blocks (pure: text in, text out) ------------------------------------------

BASH_LOGIN_FILES = (".bash_profile", ".bash_login", ".profile")  # bash reads only the first that exists
BASHRC = ".bashrc"
SSH_RC = ".ssh/rc"
BASH_FILES = BASH_LOGIN_FILES + (BASHRC,)
# The original script's hook and cron job: lines naming these are disabled (prefixed), never deleted.
LEGACY_HOOK_MARKERS = (".ssh_logins", "ssh_login_monitor")
LEGACY_PREFIX = "# disabled by ssh_alert: "


class BrokenBlock(ValueError):
    """A begin marker without its end marker: editing around it could lose the user's lines."""

    def __init__(self, line_number: int, end: str) -> None:
        super().__init__("line {}: no {!r} after it".format(line_number, end))
        self.line_number = line_number
        self.end = end


class Edit(Record):
    """The result of adding a block: the new text, what was done, and whether a final newline was added."""

    text: str
    action: str  # one of UNCHANGED, REPLACED, INSERTED_AT_TOP, APPENDED
    newline_added: bool = False


UNCHANGED, REPLACED, INSERTED_AT_TOP, APPENDED = "unchanged", "replace block", "insert block at top", "append block"


def find_blocks(text: str, begin: str = BEGIN, end: str = END) -> List[Tuple[int, int]]:
    """Return the (start, stop) offsets of every marked block: whole lines, markers and END's newline included.

    Raises BrokenBlock when a begin marker has no end marker after it.
    """
    blocks = []
    start = None
    begin_line = 0
    offset = 0
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        stripped = line.strip()
        if start is None and stripped == begin:
            start, begin_line = offset, number
        elif start is not None and stripped == end:
            blocks.append((start, offset + len(line)))
            start = None
        offset += len(line)
    if start is not None:
        raise BrokenBlock(begin_line, end)
    return blocks


def with_block(text: str, block: str, at_top: bool = False, begin: str = BEGIN, end: str = END) -> Edit:
    """Return text with exactly one copy of block: the first marked block replaced in place (duplicates dropped),
    else block inserted at the top or appended (after a newline when the text lacks a final one).

    Raises BrokenBlock.
    """
    blocks = find_blocks(text, begin, end)
    if blocks:
        first_start, first_stop = blocks[0]
        if len(blocks) == 1 and text[first_start:first_stop] == block:
            return Edit(text, UNCHANGED)
        kept = text[:first_start] + block
        previous_stop = first_stop
        for start, stop in blocks[1:]:
            kept += text[previous_stop:start]
            previous_stop = stop
        return Edit(kept + text[previous_stop:], REPLACED)
    if at_top:
        return Edit(block + text, INSERTED_AT_TOP)
    newline_added = bool(text) and not text.endswith("\n")
    return Edit(text + ("\n" if newline_added else "") + block, APPENDED, newline_added)


def without_blocks(text: str, begin: str = BEGIN, end: str = END) -> str:
    """Return text with every marked block removed and nothing else changed. Raises BrokenBlock."""
    kept = []
    previous_stop = 0
    for start, stop in find_blocks(text, begin, end):
        kept.append(text[previous_stop:start])
        previous_stop = stop
    kept.append(text[previous_stop:])
    return "".join(kept)


def block_text(text: str, begin: str = BEGIN, end: str = END) -> Optional[str]:
    """Return the first marked block of text, or None (also for a broken block)."""
    try:
        blocks = find_blocks(text, begin, end)
    except BrokenBlock:
        return None
    return text[blocks[0][0]:blocks[0][1]] if blocks else None


_SETTING_NAMES = (("python", "sa_py"), ("pyz", "sa_pyz"), ("state", "sa_dir"), ("config_home", "sa_conf"),
                  ("data_home", "sa_data"))


def block_settings(block: str, home: str) -> Dict[str, str]:
    """Return what a rendered block calls and uses ({"python", "pyz", "state", "config_home", "data_home"}),
    $HOME expanded (a block from before install wrote paths lacks the last three); empty when the settings
    line cannot be read."""
    values: Dict[str, str] = {}
    for line in block.splitlines():
        if line.strip().startswith(("sa_py=", "sa_conf=")):
            try:
                words = shlex.split(line)
            except ValueError:
                return {}
            pairs = (word.partition("=") for word in words if "=" in word)
            values.update((name, value) for name, _, value in pairs)
    if "sa_py" not in values:
        return {}
    return {name: home.rstrip("/") + values[variable][len("$HOME"):] if values[variable].startswith("$HOME/")
            else values[variable] for name, variable in _SETTING_NAMES if variable in values}


def bash_login_file(existing: Collection[str]) -> str:
    """The login file bash reads (the first of BASH_LOGIN_FILES in existing), or .bash_profile when none exists."""
    return next((name for name in BASH_LOGIN_FILES if name in existing), BASH_LOGIN_FILES[0])


def default_hooks(shell: str, existing: Collection[str]) -> Tuple[str, ...]:
    """ssh-rc always; the bash hooks too when the login shell is bash or the account has bash's own files."""
    uses_bash = os.path.basename(shell) == "bash" or any(
        name in existing for name in (".bash_profile", ".bash_login", BASHRC))
    return HOOKS if uses_bash else ("ssh-rc",)


def disable_legacy_lines(text: str, markers: Sequence[str] = LEGACY_HOOK_MARKERS) -> Tuple[str, List[str]]:
    """Prefix every non-comment line naming one of markers with LEGACY_PREFIX; returns the text and those lines."""
    lines = text.splitlines(keepends=True)
    disabled = []
    for index, line in enumerate(lines):
        if not line.lstrip().startswith("#") and any(marker in line for marker in markers):
            lines[index] = LEGACY_PREFIX + line
            disabled.append(line.rstrip("\n"))
    return "".join(lines), disabled


def enable_legacy_lines(text: str) -> Tuple[str, List[str]]:
    """Undo disable_legacy_lines byte for byte; returns the text and the lines re-enabled."""
    lines = text.splitlines(keepends=True)
    enabled = []
    for index, line in enumerate(lines):
        if line.startswith(LEGACY_PREFIX):
            lines[index] = line[len(LEGACY_PREFIX):]
            enabled.append(lines[index].rstrip("\n"))
    return "".join(lines), enabled
