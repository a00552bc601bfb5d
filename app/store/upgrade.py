"""The first run after an upgrade: the previous release's state files are imported into the store.

Release 0.1 kept ``state.json`` (log position, recent connections, send times, sessions alerted, last
sent and failure), ``sources.json`` and ``history.jsonl``. They are read once, written into a new
store in one transaction, then renamed with an ``.imported`` suffix, so nothing is alerted twice or
lost across the upgrade.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from app.store import history
from app.store.rows import Seen
from app.store.store import Store
from app.logins.loginlog import Position
from app.system.paths import Paths
from app.system.files import open_regular_file

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

RELEASE_FORMAT = 1
IMPORTED_SUFFIX = ".imported"


class StateProblem(Exception):
    """The old state file exists but cannot be used; str() says why."""


def read_state_file(path: Path) -> Optional[Dict[str, Any]]:
    """The previous release's state.json as a dict, None when there is none. Raises StateProblem."""
    try:
        with open_regular_file(path, "rb") as handle:  # a FIFO is refused, never waited on
            document = json.loads(handle.read().decode("utf-8"))
    except FileNotFoundError:
        return None
    except OSError as error:
        raise StateProblem("cannot read it: {}".format(error.strerror))
    except ValueError:
        raise StateProblem("not valid JSON")
    if not isinstance(document, dict) or document.get("format") != RELEASE_FORMAT:
        raise StateProblem("unexpected content")
    return document


def _position(log: Any) -> Optional[Position]:
    if log is None:
        return None
    position = Position(int(log["device"]), int(log["inode"]), int(log["offset"]), str(log["anchor"]))
    if position.offset < 0:
        raise ValueError("negative offset")
    return position


def _sources(path: Path) -> Dict[Tuple[str, str], Seen]:
    try:
        with open_regular_file(path, "rb") as handle:
            document = json.loads(handle.read().decode("utf-8"))
    except (OSError, ValueError):
        return {}
    found: Dict[Tuple[str, str], Seen] = {}
    for user, addresses in (document.items() if isinstance(document, dict) else ()):
        for ip, seen in (addresses.items() if isinstance(addresses, dict) else ()):
            try:
                found[(str(user), str(ip))] = Seen(float(seen["first"]), float(seen["last"]), int(seen["count"]))
            except (KeyError, TypeError, ValueError):
                continue
    return found


def import_release_files(store: Store, paths: Paths) -> Optional[str]:
    """Import the previous release's files into a new store; returns what was imported, or None.

    Raises StateProblem when state.json exists but is unusable (the caller re-seeds with a notice).
    """
    document = read_state_file(paths.state_file)
    if document is None:
        return None
    try:
        position = _position(document["log"])
        recent = [(str(connection), float(epoch)) for connection, epoch in document.get("recent", ())]
        sent_times = [float(sent) for sent in document.get("sent_times", ())]
        sessions = [str(key) for key in document.get("sessions_alerted", ())]
    except (KeyError, TypeError, ValueError) as error:
        raise StateProblem("unexpected content ({})".format(str(error)[:80] or type(error).__name__))
    sources = _sources(paths.sources_file)
    entries: List[history.HistoryEntry] = history.read_jsonl(paths.history_file)
    with store.transaction():
        store.set_position(position)
        store.add_recent(recent)
        store.put_sources(sources)
        store.add_history([history.row(entry) for entry in entries])
        store.connection.executemany("INSERT INTO sends (time) VALUES (?)", [(sent,) for sent in sent_times])
        store.connection.executemany("INSERT OR IGNORE INTO sessions_alerted (key) VALUES (?)",
                                     [(key,) for key in sessions])
        store.put("holding", bool(document.get("holding", False)))
        last_sent = document.get("last_sent")
        if isinstance(last_sent, dict):
            store.put("last_sent", {"time": last_sent.get("time"), "subject": last_sent.get("subject")})
        failure = document.get("last_failure")
        if isinstance(failure, dict):
            store.record_run("check", str(failure.get("reason", "?")), float(failure.get("epoch", 0) or 0))
    for old in (paths.state_file, paths.sources_file, paths.history_file, Path(str(paths.history_file) + ".1")):
        try:
            os.replace(str(old), str(old) + IMPORTED_SUFFIX)
        except OSError:
            pass  # the store is the record now: a file left behind is never read again
    return "imported {} (position, {} source(s), {} history entries) into {}".format(
        paths.state_file.name, len(sources), len(entries), store.path)
