"""Where the login hooks are: the one list of files they can be in, and which hook is in place.

setup (is any hook installed?), status (one check per hook) and install/uninstall (which files to edit)
all ask here, so they agree on the files and on bash reading only its first login file.
"""

from __future__ import annotations

import os
from pathlib import Path

from app.install.hooks import BASH_FILES, BASH_LOGIN_FILES, BASHRC, HOOKS, SSH_RC, bash_login_file, block_text
from app.system.paths import Paths
from app.system.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Collection, Dict, List, Mapping, Optional, Tuple

HOOK_FILES = (SSH_RC,) + BASH_FILES  # every file a hook can be in, relative to home, in install's order


class HookState(Record):
    """One hook: the file it belongs in, its block there, and (bash-profile) a block bash never reads."""

    hook: str
    place: str  # relative to home
    block: Optional[str]  # None: no (complete) block in place
    hidden: Optional[str]  # a bash login file bash skips that holds a block, else None


def hook_file(hook: str, existing: Collection[str]) -> str:
    """The file (relative to home) hook belongs in; for bash-profile the first login file bash reads."""
    if hook == "bash-profile":
        return bash_login_file(existing)
    return {"ssh-rc": SSH_RC, "bashrc": BASHRC}[hook]


def read_texts(home: Path) -> Dict[str, str]:
    """The text of every hook file that exists and can be read, by name relative to home."""
    texts = {}
    for name in HOOK_FILES:
        try:
            texts[name] = (home / name).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
    return texts


def hook_state(hook: str, texts: Mapping[str, str]) -> HookState:
    """Where hook is, from the hook files' texts (by name relative to home)."""
    place = hook_file(hook, list(texts))
    hidden = None
    if hook == "bash-profile":
        hidden = next((name for name in BASH_LOGIN_FILES if name != place and block_text(texts.get(name, ""))), None)
    return HookState(hook, place, block_text(texts.get(place, "")), hidden)


def hook_states(texts: Mapping[str, str]) -> List[HookState]:
    """Every hook's state, in HOOKS order."""
    return [hook_state(hook, texts) for hook in HOOKS]


def installed(paths: Paths) -> Tuple[str, ...]:
    """The hooks whose block is in place (empty: none is installed)."""
    return tuple(state.hook for state in hook_states(read_texts(paths.home)) if state.block is not None)


def pyz_problem(pyz: str) -> Optional[str]:
    """Why the login hook and the cron line would not, or should not, run pyz: another user owns it or a
    directory above it, or can write either (the hook tests ownership with `[ -O`; this also sees write bits).
    None also when pyz is missing (reported as a missing target)."""
    from app.errors import USE_CODE
    from app.system.files import unsafe_reason

    if not os.path.isfile(pyz):
        return None
    return unsafe_reason(pyz, os.getuid(), USE_CODE)


HOOK_UNSAFE_PYZ = "the hook in {place} will not run {pyz}: {reason}"
HOOK_OTHER_STATE = ("the hook in {place} keeps logins in {used}, but this account's state directory is {state}: "
                    "re-run ssh_alert.pyz install")


def hook_problem(place: str, settings: Mapping[str, str], state_dir: Path) -> Optional[str]:
    """Why a hook block that is in place does not do its job (status FAILs): the pyz it runs is not the account's
    alone, or it keeps logins in another state directory than this account's; None when neither."""
    pyz = settings.get("pyz", "")
    problem = pyz_problem(pyz) if os.path.isabs(pyz) else None
    if problem is not None:
        return HOOK_UNSAFE_PYZ.format(place=place, pyz=pyz, reason=problem)
    used = settings.get("state")
    if used and os.path.abspath(used) != os.path.abspath(str(state_dir)):
        return HOOK_OTHER_STATE.format(place=place, used=used, state=state_dir)
    return None
