"""A lost store is an event, not a first run.

A check that finds no usable store (missing, empty, unusable) while something shows that ssh_alert ran here
before posts a "state was reset" notice through every channel and alerts the log lines written since the last
position it can still know: the run mark's (app.logins.runmark), else those of the last RESET_WINDOW seconds
by their epoch. The watch then says its baseline was reset (app.check.selfwatch). A true first run (no
store, no sign of an earlier run) seeds silently, as before.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from app.logins import runmark
from app.logins.loginlog import Position, anchor_at, position_at, read_entries
from app.system.files import last_lines, open_regular_file
from app.system.paths import Paths
from app.system.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

    from app.check.context import RunParts
    from app.store.store import Store

RESET_WINDOW = 86400.0
BASELINE_RESET = "baseline_reset"  # meta: the watch's next snapshot is a new baseline, told as such
MISSING, EMPTY, UNUSABLE = "missing", "empty", "unusable"
RESET_SUBJECT = "state was reset: the store was {how}"
RESET_TEXT = ("ssh_alert's store {path} was {how}{reason}, yet ssh_alert ran here before ({signs}). If you did "
              "not remove it, someone with this account may have, to hide a login or a key.\n\n"
              "Logins recorded since {since} are alerted again now (a repeat carries the Message-ID of its first "
              "alert). Which addresses are known, the history and the key watch's baseline start anew: the "
              "next cron run lists the authorized keys it finds as the new baseline.")
SINCE_MARK = "the last position a check recorded outside the store ({when})"
SINCE_WINDOW = "{when} (the last 24 hours: no position survived)"
BASELINE_SUBJECT = "key watch baseline was reset"
BASELINE_TEXT = ("The store was reset ({why}), so the key watch cannot tell which of these keys were added while it "
                 "was gone; it takes them as its new baseline. Check that you know each one:\n{keys}")
SEED_MARKERS = ("first run:", "sent: ")  # oplog lines that only a check that got past its config writes


class Reset(Record):
    """Why the store is taken as reset, and where alerting starts again."""

    how: str  # MISSING, EMPTY or UNUSABLE
    signs: List[str]
    start: Optional[Position]  # None: the log's start (no log existed)
    since: str  # where start comes from, for the notice
    reason: str = ""


def earlier_run_signs(paths: Paths, mark: Dict[str, Any]) -> List[str]:
    """What shows that ssh_alert ran here before (a config alone does not): the run mark in the lock file, an
    operations log line of a seed or a sent alert, an install record made after a seed, the hook blocks of an
    install whose record is gone."""
    from app.install.installplan import load_record, read_optional, record_path

    signs = []
    if mark.get("seeded") or mark.get("position"):
        signs.append("the lock file {} records a run".format(paths.lock_file))
    try:
        logged = last_lines(paths.oplog_file)
    except OSError:
        logged = []
    if any(marker.encode() in line for line in logged for marker in SEED_MARKERS):
        signs.append("the operations log {} records runs".format(paths.oplog_file))
    try:
        record = load_record(read_optional(record_path(paths)))
    except OSError:
        record = None
    if record is not None and record.get("seeded") is not False:
        signs.append("the install record {}".format(record_path(paths)))
    if record is None:
        from app.install.hookstate import installed

        hooks = installed(paths)
        if hooks:
            signs.append("the login hooks ({}) with no install record".format(", ".join(hooks)))
    return signs


def start_since(log: Path, since: float) -> Optional[Position]:
    """The position of the first line of log whose epoch is at or after since (its end when none is); None when
    there is no log. Lines without an epoch are taken with the lines around them. Raises OSError (NotRegularFile)."""
    from app.logins.loginline import parse_line

    try:
        handle = open_regular_file(log, "rb")
    except FileNotFoundError:
        return None
    with handle:
        offset = 0
        for entry in read_entries(handle, 0, include_partial=True):
            epoch = parse_line(entry.data).epoch
            if epoch is not None and epoch >= since:
                status = os.fstat(handle.fileno())
                return Position(status.st_dev, status.st_ino, offset, anchor_at(handle, offset))
            offset = entry.end
        return position_at(handle)


def detect(paths: Paths, mark: Dict[str, Any], how: str, reason: str = "",
           now: Optional[float] = None) -> Optional[Reset]:
    """The reset to announce, or None for a true first run (no sign of an earlier run). An unusable store is
    always a reset. Raises OSError when the log cannot be read."""
    signs = earlier_run_signs(paths, mark)
    if not signs and how != UNUSABLE:
        return None
    now = time.time() if now is None else now
    kept = runmark.furthest(mark)
    if kept is not None:
        when = mark.get("time")
        stamp = time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(float(when))) if isinstance(
            when, (int, float)) else "time unknown"
        return Reset(how, signs or ["the unusable store itself"], kept, SINCE_MARK.format(when=stamp), reason)
    since = now - RESET_WINDOW
    stamp = time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(since))
    return Reset(how, signs or ["the unusable store itself"], start_since(paths.login_log, since),
                 SINCE_WINDOW.format(when=stamp), reason)


def begin(paths: Paths, store: "Store", mark: Dict[str, Any], existed: bool, unusable: Optional[str]) -> bool:
    """A new (or unusable, moved aside) store: announce the reset and set the position to alert from; False for a
    true first run (the caller seeds). existed: a store file was there (empty); unusable: why it was moved aside.
    Raises OSError when the log cannot be read, UserError for the config."""
    from app.check.context import RunParts
    from app.settings.config import load_config

    how = UNUSABLE if unusable else EMPTY if existed else MISSING
    found = detect(paths, mark, how, unusable or "")
    if found is None:
        return False
    parts = RunParts.of(paths, store, load_config(paths.config_file))
    announce(parts, found)
    parts.log.warning("{}{}".format(RESET_SUBJECT.format(how=how), ": " + unusable if unusable else ""))
    return True


def announce(parts: "RunParts", reset: Reset, now: Optional[float] = None) -> None:
    """Post the reset notice (email and every channel) in the transaction that sets the log position to
    reset.start and marks the watch's baseline as reset; the run then alerts the lines from there."""
    from app.store.eventstore import add_channels_from_start, event_channels
    from app.check.notices import Notice, post_notices

    config = parts.config
    now = time.time() if now is None else now
    text = RESET_TEXT.format(path=parts.paths.store_file, how=reset.how, signs="; ".join(reset.signs),
                             since=reset.since, reason=" ({})".format(reset.reason) if reset.reason else "")
    identity = "reset|{}|{:.0f}".format(reset.how, now)

    def record(target: "Store") -> None:
        add_channels_from_start(target, event_channels(config))
        target.set_position(reset.start)
        target.put(BASELINE_RESET, RESET_SUBJECT.format(how=reset.how))

    post_notices(parts, [Notice(RESET_SUBJECT.format(how=reset.how), text, identity)], record)


def baseline_notice(keys: Dict[str, List[Dict[str, Any]]], why: str) -> Tuple[str, str]:
    """(subject, text) of the watch's notice that its baseline was reset, listing keys (fingerprint -> entries)."""
    lines = ["  {} {} ({}){}".format(entries[0].get("type", "?"), digest, entries[0].get("file", "?"),
                                     ' "{}"'.format(entries[0]["comment"]) if entries[0].get("comment") else "")
             for digest, entries in sorted(keys.items()) if entries]
    return BASELINE_SUBJECT, BASELINE_TEXT.format(why=why, keys="\n".join(lines) or "  (no key found)")
