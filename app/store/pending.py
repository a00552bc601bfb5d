"""How many logins wait for delivery: what ``status`` and a failed delivery report.

Those in the outbox's unsent messages or, when more, the events some channel still waits for, plus the
connections in the log's lines the store has not handled yet.
"""

from __future__ import annotations

from app.logins import runmark
from app.logins.loginline import parse_line
from app.logins.loginlog import read_entries
from app.logins.statediff import is_repeat, plan
from app.store.eventstore import waiting_count
from app.system.files import open_regular_file
from app.system.paths import Paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Sequence, Set, Union

    from app.store.store import Store


def pending_logins(store: "Store", paths: Paths, channels: Sequence[str] = ()) -> int:
    """Logins (and notices) not yet delivered: those in unsent messages or, when more, the events some of channels
    (app.store.eventstore.event_channels) waits for, plus the connections in the log's pending lines."""
    # a login waiting for email and a channel is one login: the larger count, not the sum
    count = max(sum(row.logins for row in store.unsent()), waiting_count(store, channels) if channels else 0)
    mark = runmark.read_file(paths.lock_file)  # logins sent while the store could not record them are not pending
    try:
        segments, _ = plan(runmark.position(mark, runmark.AHEAD) or store.position(), paths.login_log)
    except OSError:
        return count
    recent = store.recent() + tuple(runmark.unrecorded(mark))
    seen: Set[Union[str, int]] = set()  # connection keys; a line without one counts alone (its end offset)
    for segment in segments:
        try:
            with open_regular_file(segment.path, "rb") as handle:
                for entry in read_entries(handle, segment.start, include_partial=True):
                    record = parse_line(entry.data)
                    key = record.connection_key
                    if key and record.epoch is not None and is_repeat(recent, key, record.epoch):
                        continue
                    seen.add(key or entry.end)
        except OSError:
            continue
    return count + len(seen)
