"""Running the login hook as sshd would: the snippet sourced by a shell whose parent process is "sshd"."""

import shutil
import tempfile
from pathlib import Path
from typing import List, Optional

SNIPPET = Path(__file__).resolve().parent.parent.parent / "bash_profile.snippet"


def fake_sshd(directory: Optional[Path] = None) -> Path:
    """A /bin/sh named sshd (a process's name is its executable's): the hook records only under sshd."""
    link = (directory or Path(tempfile.gettempdir())) / "sshd"
    if not link.exists():
        link.symlink_to(shutil.which("sh") or "/bin/sh")
    return link


def hook_command(parent: Optional[Path] = None, snippet: Path = SNIPPET, shell: str = "sh") -> List[str]:
    """argv that sources snippet in `shell` whose parent is `parent` (a fake sshd by default)."""
    parent = parent or fake_sshd()
    # "; true" keeps the parent from exec'ing the shell in its place: the shell must be its child.
    return [str(parent), "-c", shell + ' -c \'. "$0"\' "$1"; true', "sshd", str(snippet)]


def hooks_of_one_connection(*hooks: str, snippet: Path = SNIPPET) -> List[str]:
    """argv that sources snippet once per entry of hooks, one after the other, under one fake sshd: the hooks
    of one connection (rc, then ~/.bashrc) share its sshd process. Each entry is the shell to use ("sh",
    "bash"), optionally after variable assignments for that hook alone ("PATH=/spy sh")."""
    parent = fake_sshd()
    commands = ["{} -c '. \"$0\"' \"$1\"".format(hook) for hook in hooks]
    return [str(parent), "-c", "; ".join(commands) + "; true", "sshd", str(snippet)]
