"""SSH connections no hook saw, found from the account's own sshd processes (Linux /proc).

After authentication sshd runs one process per connection as the user, titled ``sshd: USER`` until
a session channel opens and ``sshd: USER@pts/N`` / ``USER@notty`` after. A tunnel-only connection
(``ssh -N``) runs no hook at all; its process is the only trace an unprivileged account can see.
Its start time is readable; its socket (the client address) is not: sshd makes the process
non-dumpable, so /proc/PID/fd belongs to root.
"""

from __future__ import annotations

import os
from app.system.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Collection, Iterable, List, Optional, Sequence

GRACE_SECONDS = 10  # hooks write their line within a second of the process starting (it starts after auth)
# A recorded login this close to a process's start accounts for it (log times are whole seconds).
MATCH_BEFORE, MATCH_AFTER = 2, 60
SSHD_NAMES = ("sshd", "sshd-session")  # OpenSSH 9.8 renamed the per-session process


class SshProcess(Record):
    pid: int
    started: float  # Unix time
    title: str  # e.g. "sshd: alice@notty"
    key: str  # "pid:start ticks": stable for the life of the process, never reused together
    ppid: int = 0  # its parent: the connection's root monitor, which the hook records as spid

    @property
    def has_session(self) -> bool:
        """False for a connection with no session channel yet or at all (ssh -N)."""
        return "@" in self.title


def start_ticks(stat_text: str) -> Optional[int]:
    """Field 22 (starttime, clock ticks after boot) of /proc/PID/stat; the name in field 2 may hold spaces."""
    fields = stat_text.rpartition(")")[2].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def parent_pid(stat_text: str) -> int:
    """Field 4 (ppid) of /proc/PID/stat; 0 when unreadable."""
    fields = stat_text.rpartition(")")[2].split()
    try:
        return int(fields[1])
    except (IndexError, ValueError):
        return 0


def boot_time(proc_stat_text: str) -> Optional[float]:
    for line in proc_stat_text.splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    return None


def own_sshd_processes(user: str, proc: str = "/proc") -> List[SshProcess]:
    """The per-connection sshd processes of this account; [] where /proc is not Linux's."""
    try:
        with open(os.path.join(proc, "stat"), encoding="utf-8", errors="replace") as handle:
            booted = boot_time(handle.read())
        names = os.listdir(proc)
    except OSError:
        return []
    if booted is None:
        return []
    ticks_per_second = os.sysconf("SC_CLK_TCK")
    uid = os.getuid()
    found = []
    for name in names:
        if not name.isdigit():
            continue
        base = os.path.join(proc, name)
        try:
            if os.stat(base).st_uid != uid:
                continue
            with open(os.path.join(base, "comm"), encoding="utf-8", errors="replace") as handle:
                if handle.read().strip() not in SSHD_NAMES:
                    continue
            with open(os.path.join(base, "cmdline"), "rb") as handle:
                title = handle.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
            with open(os.path.join(base, "stat"), encoding="utf-8", errors="replace") as handle:
                stat_text = handle.read()
            ticks = start_ticks(stat_text)
        except OSError:
            continue  # gone meanwhile, or not ours to read
        if ticks is None or not (title.startswith("sshd: " + user) or title.startswith("sshd-session: " + user)):
            continue
        found.append(SshProcess(int(name), booted + ticks / ticks_per_second, title, "{}:{}".format(name, ticks),
                                parent_pid(stat_text)))
    return sorted(found, key=lambda process: process.started)


def unrecorded(processes: Iterable[SshProcess], recorded: Sequence[float], already_alerted: Iterable[str],
               now: float, spids: Collection[str] = ()) -> List[SshProcess]:
    """The processes no recorded login accounts for, old enough for a hook to have run, not yet alerted.

    A login line naming its connection's sshd process (spid) accounts for that connection's process only
    (the process itself, or its parent, the root monitor), whenever it started: no other login can hide a
    tunnel. recorded: the times of logins whose line names no spid (older hooks); each accounts for at most one
    process starting close to it (the earliest that fits).
    """
    alerted = set(already_alerted)
    connections = set(spids)
    available = sorted(recorded)
    found = []
    for process in sorted(processes, key=lambda item: item.started):
        if str(process.pid) in connections or (process.ppid and str(process.ppid) in connections):
            continue
        match = next((epoch for epoch in available
                      if process.started - MATCH_BEFORE <= epoch <= process.started + MATCH_AFTER), None)
        if match is not None:
            available.remove(match)
        elif now - process.started >= GRACE_SECONDS and process.key not in alerted:
            found.append(process)
    return found
