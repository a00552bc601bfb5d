"""Whether ssh_alert is still in place: its hook blocks, their startup files, the cron line, the pyz, and the
sshd settings the hooks depend on; and what changed since last time.

The snapshot is JSON-able: {"home", "files": {name: {"state", "mtime", "mode"}}, "hooks": {hook: {"place",
"sha256", "as_installed", "python", "pyz", "hidden"}}, "cron": {"line"} or None, "pyz": {"path", "state",
"sha256", "recorded"}, "permit_user_rc", "auth_info": ["known" | "unknown", ...], "changed"}.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from app.system.record import Record
from app.watch.findings import MISSING, OK, Finding, Snapshot, change_key, is_problem, read_small_file, tilde, when
from app.watch.sshdconf import first_value, settings
from app.install.hookstate import HOOK_FILES, hook_state
from app.install.crontab import find_cron_line
from app.install.hooks import BEGIN, HOOKS, HookSettings, block_settings, hook_settings, render_hook
from app.system.files import NotRegularFile, open_regular_file
from app.system.paths import Paths
from app.system.text import printable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Sequence, TypeAlias, Union

HOOK_FILE_LIMIT = 4 * 1024 * 1024
KNOWN, UNKNOWN = "known", "unknown"
MATCH_NO = "no in a Match block"
Methods: TypeAlias = "Union[str, Sequence[str]]"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def as_installed(block: str, hook: str, home: str) -> bool:
    """True when block is exactly what install writes for hook, with the interpreter and pyz the block names."""
    named = block_settings(block, home)
    if not all(named.get(name) for name in ("python", "pyz", "state", "config_home", "data_home")):
        return False
    return block == render_hook(hook_settings(HookSettings(named["python"], named["pyz"], hook, named["state"],
                                                           named["config_home"], named["data_home"]), home))


def _hook_entries(home: Path, files: Dict[str, Snapshot], texts: Dict[str, str]) -> Dict[str, Snapshot]:
    """Each hook's place and block; a place that cannot be read is "unknown" (carried() keeps what it held)."""
    existing = {name: texts.get(name, "") for name, state in files.items() if state["state"] != MISSING}
    entries = {}
    for hook in HOOKS:
        state = hook_state(hook, existing)
        if is_problem(files[state.place]["state"]):
            entries[hook] = {"place": state.place, "unknown": True}
            continue
        named = block_settings(state.block, str(home)) if state.block else {}
        entries[hook] = {"place": state.place, "sha256": _digest(state.block) if state.block else None,
                         "as_installed": bool(state.block) and as_installed(state.block or "", hook, str(home)),
                         "python": named.get("python"), "pyz": named.get("pyz"), "hidden": state.hidden,
                         "ahead": lines_ahead(texts.get(state.place, "")) if state.place in GUARDED else None}
    return entries


# Every file a hook lives in: a line before the block (exit 0, return, exec) stops it. The login files change more
# often; there a new line is urgent only when it can stop the hook (STOPPING), else it is told without urgency.
GUARDED = (".ssh/rc", ".bashrc", ".bash_profile", ".bash_login", ".profile")
LOGIN_FILES = (".bash_profile", ".bash_login", ".profile")
STOPPING = re.compile(r"(^|[;&|({]\s*|\b(then|do|else)\s+)(exit|return|exec|logout|kill|pkill|trap|unset|source|\.|eval)"
                      r"(\s|;|$)|ssh_alert|SSH_CONNECTION|\bsa_")
AHEAD_SHOWN = 10


def lines_ahead(text: str) -> Optional[List[str]]:
    """The commands before the ssh_alert block (comments and blank lines left out), at most AHEAD_SHOWN, printable;
    None when there is no block."""
    if BEGIN not in text:
        return None
    lines = [line.strip() for line in text.split(BEGIN, 1)[0].splitlines()]
    return [printable(line, 200) for line in lines if line and not line.startswith("#")][:AHEAD_SHOWN]


def pyz_state(path: Path) -> Snapshot:
    """Takes the installed pyz's path; returns {"path", "state", "sha256"} (a link or FIFO there is not read)."""
    digest = hashlib.sha256()
    try:
        with open_regular_file(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1024 * 1024), b""):
                digest.update(chunk)
    except NotRegularFile as error:
        return {"path": str(path), "state": "not a regular file: " + error.kind, "sha256": None}
    except (FileNotFoundError, NotADirectoryError):
        return {"path": str(path), "state": MISSING, "sha256": None}
    except OSError as error:
        return {"path": str(path), "state": "unreadable: " + (error.strerror or str(error)), "sha256": None}
    return {"path": str(path), "state": OK, "sha256": digest.hexdigest()}


def permit_user_rc(sshd_text: str) -> Optional[str]:
    """PermitUserRC from `sshd -T` or sshd_config text: "yes", "no", MATCH_NO, or None when the text is empty."""
    if not sshd_text.strip():
        return None
    value = first_value(sshd_text, "PermitUserRC") or "yes"
    in_match = [setting.arguments[0].lower() for setting in settings(sshd_text, "PermitUserRC")
                if setting.in_match and setting.arguments]
    return MATCH_NO if value != "no" and "no" in in_match else value


def method_states(recent_methods: Sequence[Methods]) -> List[str]:
    """Takes the auth methods of recent logins, oldest first ("publickey" or ("publickey", "password"));
    returns KNOWN or UNKNOWN for each (UNKNOWN: the hook found no SSH_USER_AUTH, i.e. ExposeAuthInfo is off)."""
    states = []
    for methods in recent_methods:
        names = methods.split(",") if isinstance(methods, str) else list(methods)
        states.append(KNOWN if [name for name in names if name and name != "unknown"] else UNKNOWN)
    return states


class Readings(Record):
    """What the cron run read this time, for the watch to compare with the stored snapshot."""

    crontab_text: Optional[str]  # None: the crontab could not be read
    pyz: Path  # the pyz install copied (app.watch.watch.installed)
    recorded_hash: Optional[str]  # the sha256 install recorded for it (None: none recorded)
    recent_methods: Sequence[Methods]  # the auth methods of the last logins the hook recorded, oldest first
    sshd_text: str  # sshd's settings (app.watch.watch.sshd_text)


def integrity_snapshot(paths: Paths, readings: Readings, now: float) -> Snapshot:
    """Takes what the cron run read (Readings); returns the snapshot (module docstring). Never raises for a bad
    file."""
    crontab_text, pyz, recorded_hash = readings.crontab_text, readings.pyz, readings.recorded_hash
    files, texts = {}, {}
    for name in HOOK_FILES:
        read = read_small_file(paths.home / name, HOOK_FILE_LIMIT, follow_links=True)
        files[name] = {"state": read.state, "mtime": read.mtime, "mode": read.mode}
        if read.data is not None:
            texts[name] = read.data.decode("utf-8", "surrogateescape")
    recorded = recorded_hash.lower().split(":")[-1].strip() if recorded_hash else None
    return {"home": str(paths.home), "files": files, "hooks": _hook_entries(paths.home, files, texts),
            "cron": None if crontab_text is None else {"line": find_cron_line(crontab_text)},
            "pyz": dict(pyz_state(pyz), recorded=recorded), "permit_user_rc": permit_user_rc(readings.sshd_text),
            "auth_info": method_states(readings.recent_methods), "changed": now}


def carried(previous: Optional[Snapshot], current: Snapshot) -> Snapshot:
    """Returns current where what could not be read now (a hook's file, the crontab, sshd's settings) keeps
    its previous value, so a restore is compared with the state before the outage."""
    if not isinstance(previous, dict):
        return current
    result = dict(current)
    hooks = dict(current.get("hooks") or {})
    for hook, entry in hooks.items():
        if entry.get("unknown") and isinstance((previous.get("hooks") or {}).get(hook), dict):
            hooks[hook] = previous["hooks"][hook]
    result["hooks"] = hooks
    for name in ("cron", "permit_user_rc"):
        if current.get(name) is None:
            result[name] = previous.get(name)
    return result


def _restore(current: Snapshot) -> str:
    pyz = (current.get("pyz") or {}).get("path") or "~/bin/ssh_alert.pyz"
    return "run: {} install".format(printable(tilde(pyz, str(current.get("home", "")))))


def _file_findings(previous: Snapshot, current: Snapshot) -> List[Finding]:
    findings = []
    for name, now in (current.get("files") or {}).items():
        before = (previous.get("files") or {}).get(name) or {}
        if not is_problem(now.get("state")) or now.get("state") == before.get("state"):
            continue
        mode, state = before.get("mode"), printable(str(now["state"]))
        restore = ("run: chmod {:o} ~/{}".format(mode, name) if isinstance(mode, int) and state.startswith("unread")
                   else "put the file back (ls -l ~/{} shows what is there now), then {}".format(
                       name, _restore(current)))
        text = ("~/{} can no longer be read ({}; noticed at {}): a login hook in it does not run, so logins may go "
                "unalerted until the every-minute check. Restore: {}").format(name, state, when(current.get("changed")),
                                                                             restore)
        findings.append(Finding("hook-file", change_key("hook-file", name, previous, before.get("state"), now["state"]),
                                "~/{} cannot be read: {}".format(name, state), text, True))
    return findings


def _ahead_finding(hook: str, before: Snapshot, now: Snapshot, current: Snapshot, previous: Snapshot) -> Optional[Finding]:
    """Commands added before the block in a hook's startup file (an exit 0 there silences the hook)."""
    old, new = before.get("ahead"), now.get("ahead")
    if old is None or new is None or new == old or not set(new) - set(old):
        return None
    place = "~/" + str(now.get("place"))
    added = [line for line in new if line not in old]
    text = ("New commands run before the ssh_alert hook in {}: {}. A command such as exit 0 or return there stops "
            "the hook, so logins would not be recorded. Check the file; remove what you did not add.").format(
                place, "; ".join(added))
    urgent = str(now.get("place")) not in LOGIN_FILES or any(STOPPING.search(line) for line in added)
    return Finding("hook-preceded", change_key("hook-preceded", hook, previous, "\n".join(old), "\n".join(new)),
                   printable("commands added before the login hook in {}".format(place)), printable(text), urgent)


def _hook_findings(previous: Snapshot, current: Snapshot) -> List[Finding]:
    findings = []
    for hook, now in (current.get("hooks") or {}).items():
        before = (previous.get("hooks") or {}).get(hook) or {}
        preceded = None if now.get("unknown") else _ahead_finding(hook, before, now, current, previous)
        if preceded is not None:
            findings.append(preceded)
        if not before.get("sha256") or now.get("unknown") or now.get("sha256") == before.get("sha256"):
            continue
        place = "~/" + str(now.get("place"))
        modified = when(((current.get("files") or {}).get(now.get("place")) or {}).get("mtime"))
        if not now.get("sha256"):
            kind, title = "hook-removed", "login hook ({}) removed from {}".format(hook, place)
            text = "The ssh_alert block is gone from {} (the file changed at {}).".format(place, modified)
            if now.get("hidden"):
                text += " bash now reads {} first and skips ~/{}, where the hook still is.".format(place, now["hidden"])
        else:
            same = [now.get(name) == before.get(name) for name in ("python", "pyz")]
            if now.get("as_installed") and all(same):
                continue  # exactly what install writes, same interpreter and pyz: a re-install or upgrade
            kind, title = "hook-edited", "login hook ({}) in {} was edited".format(hook, place)
            text = "The ssh_alert block in {} changed (the file changed at {})".format(place, modified)
            text += "; it now runs {} {} (was {} {})".format(now.get("python"), now.get("pyz"), before.get("python"),
                                                          before.get("pyz")) if not all(same) else ""
            text += "." if now.get("as_installed") else "; it is not what install writes."
        text += " Logins are not recorded by this hook until it is restored. Restore: " + _restore(current)
        findings.append(Finding(kind, change_key(kind, hook, previous, before.get("sha256"), now.get("sha256")),
                                printable(title), printable(text), True))
    return findings


def _cron_findings(previous: Snapshot, current: Snapshot) -> List[Finding]:
    before, now = (previous.get("cron") or {}).get("line"), (current.get("cron") or {}).get("line")
    if before is None or now == before or current.get("cron") is None:
        return []
    noticed = when(current.get("changed"))
    if now is None:
        kind, title = "cron-removed", "the ssh_alert cron line is gone"
        text = ("Your crontab no longer runs ssh_alert every minute (noticed at {}): retries and ssh -N connections "
                "are not alerted.").format(noticed)
    else:
        kind, title = "cron-changed", "the ssh_alert cron line changed"
        text = "Your crontab's ssh_alert line changed (noticed at {}). It is now: {}".format(noticed, printable(now))
    text += "\nIt was: {}\nRestore: {}".format(printable(before), _restore(current))
    return [Finding(kind, change_key(kind, "crontab", previous, before, now), title, text, True)]


def _pyz_findings(previous: Snapshot, current: Snapshot) -> List[Finding]:
    before, now = previous.get("pyz") or {}, current.get("pyz") or {}
    if not before.get("sha256") or now.get("sha256") == before.get("sha256") or \
            (now.get("sha256") and now.get("sha256") == now.get("recorded")):
        return []
    pyz = printable(tilde(str(now.get("path")), str(current.get("home", ""))))
    noticed = when(current.get("changed"))
    if not now.get("sha256"):
        title = "{} is gone or cannot be read: {}".format(pyz, printable(str(now.get("state"))))
        text = ("The installed ssh_alert ({}) cannot be read (noticed at {}): the login hooks and the cron line "
                "do nothing.").format(pyz, noticed)
    else:
        title = "{} was replaced".format(pyz)
        compared = "install recorded " + now["recorded"] if now.get("recorded") else "it was " + before["sha256"]
        text = ("The installed ssh_alert ({}) has other contents (noticed at {}; sha256 now {}, {}). If you did "
                "not upgrade it, treat this account as compromised.").format(pyz, noticed, now["sha256"], compared)
    text += " Restore: from a copy you trust, run: python3 ssh_alert.pyz install"
    urgent = bool(now.get("recorded")) or not now.get("sha256")
    return [Finding("pyz-replaced", change_key("pyz-replaced", str(now.get("path")), previous, before.get("sha256"),
                                               now.get("sha256")), title, text, urgent)]


def _sshd_findings(previous: Snapshot, current: Snapshot) -> List[Finding]:
    findings = []
    before, now = previous.get("permit_user_rc"), current.get("permit_user_rc")
    if now in ("no", MATCH_NO) and before != now and before is not None:
        text = ("sshd is now set to PermitUserRC {} (noticed at {}): ~/.ssh/rc, ssh_alert's first login hook, "
                "no longer runs. Logins into bash are still recorded by the bash hooks; others (ssh host command, "
                "sftp) only by the every-minute check. Restore: ask the administrator to remove \"PermitUserRC no\" from "
                "/etc/ssh/sshd_config.").format(now, when(current.get("changed")))
        findings.append(Finding("permit-user-rc", change_key("permit-user-rc", "sshd", previous, before, now),
                                "sshd no longer runs ~/.ssh/rc (PermitUserRC {})".format(now), text, True))
    recent, earlier = current.get("auth_info") or [], previous.get("auth_info") or []
    baseline = earlier[-1] if earlier else (KNOWN if KNOWN in recent[:-1] else None)
    if recent and recent[-1] == UNKNOWN and baseline == KNOWN and recent != earlier:
        text = ("The last login's authentication method was not recorded (noticed at {}), where earlier logins' were: "
                "sshd's ExposeAuthInfo was probably switched off, so alerts no longer name the key used. Restore: ask "
                "the administrator to set \"ExposeAuthInfo yes\" in /etc/ssh/sshd_config.").format(
                    when(current.get("changed")))
        findings.append(Finding("auth-info-off", change_key("auth-info-off", "sshd", previous, earlier, recent),
                                "logins no longer show their key (ExposeAuthInfo off?)", text, False))
    return findings


def integrity_changes(previous: Optional[Snapshot], current: Snapshot) -> List[Finding]:
    """Takes two snapshots; returns one Finding per change that weakens ssh_alert. No previous snapshot (a first
    run): no findings; the same state again: none."""
    if not isinstance(previous, dict) or not previous:
        recorded = (current.get("pyz") or {}).get("recorded")
        # The first run has nothing to compare with but install's record: a pyz swapped before it is still told.
        return _pyz_findings({"pyz": {"sha256": recorded}}, current) if recorded else []
    current = carried(previous, current)
    return (_file_findings(previous, current) + _hook_findings(previous, current) + _cron_findings(previous, current)
            + _pyz_findings(previous, current) + _sshd_findings(previous, current))
