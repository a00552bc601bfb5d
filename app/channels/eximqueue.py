"""What exim did with a message sendmail accepted: delivered, or bounced/frozen in its queue.

exim's sendmail exits 0 on acceptance; a local-only configuration then fails the remote recipients and
freezes the bounce (addressed to the non-local envelope sender) in its queue, where ``exim -bp`` lists it and
``exim -Mvh ID`` shows its headers: the bounce carries ``References: <our Message-ID>``. Listing the queue
needs exim's admin rights (root or the Debian-exim group) by default; without them nothing can be told.
"""

from __future__ import annotations

import re
import time

from app.system import proc
from app.system.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional

FROZEN = ("{sendmail} accepted the message, then exim {what} (exim -bp lists {queue_id}; exim -Mvh {queue_id} "
          "shows it): nothing arrives; use method = smtp with your provider's mail server, or have root run "
          "dpkg-reconfigure exim4-config to send mail out")
_QUEUE_LINE = re.compile(r"^\s*\S+\s+\S+\s+(\S+-\S+-\S+)\s+<[^>]*>(\s+\*\*\* frozen \*\*\*)?")


class Queued(Record):
    queue_id: str
    frozen: bool


def parse_queue(text: str) -> List[Queued]:
    """The messages of ``exim -bp`` output (pure): queue id and whether exim froze it."""
    return [Queued(match.group(1), bool(match.group(2))) for match in map(_QUEUE_LINE.match, text.splitlines())
            if match]


def relation(headers: str, message_id: str) -> str:
    """How a queued message's headers (``exim -Mvh``) relate to message_id: "own", "bounce" or "" (pure)."""
    wanted = message_id.strip().lower()
    for line in headers.splitlines():
        name, _, value = line.partition(":")
        name = name.split()[-1].lower() if name.split() else ""
        if wanted not in value.lower():
            continue
        if name == "message-id":
            return "own"
        if name in ("references", "in-reply-to"):
            return "bounce"
    return ""


def _exim(binary: str, *arguments: str) -> Optional[str]:
    try:
        finished = proc.run([binary] + list(arguments), timeout=5)
    except (OSError, proc.TimedOut):
        return None
    return finished.stdout.decode("utf-8", "replace") if finished.returncode == 0 else None


def fate(binary: str, sendmail: str, message_id: str, seconds: float = 4.0, step: float = 0.25) -> Optional[str]:
    """Watch exim's queue for up to seconds after a send; returns FROZEN's text when exim froze the message or
    bounced it, None when it left the queue without a bounce, or when the queue cannot be read."""
    deadline = time.monotonic() + seconds
    seen_gone = 0
    while True:
        listing = _exim(binary, "-bp")
        if listing is None:
            return None
        ours = False
        for queued in parse_queue(listing):
            headers = _exim(binary, "-Mvh", queued.queue_id) or ""
            kind = relation(headers, message_id)
            if kind == "bounce":
                return FROZEN.format(sendmail=sendmail, what="bounced it" + (" and froze the bounce" if
                                                                               queued.frozen else ""),
                                     queue_id=queued.queue_id)
            if kind == "own":
                if queued.frozen:
                    return FROZEN.format(sendmail=sendmail, what="froze it", queue_id=queued.queue_id)
                ours = True
        seen_gone = 0 if ours else seen_gone + 1
        if seen_gone >= 3 or time.monotonic() >= deadline:  # gone for a while, with no bounce: delivered
            return None
        time.sleep(step)
