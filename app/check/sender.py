"""The send step of one check run: what the outbox holds goes out, email in this thread while the event channels
send in theirs (app.check.fanout). The dispatcher and the cron run's scans call ``send`` after each post; the
Sender keeps what the run needs to report: how many went out, the email failure, the recipients that deferred.
"""

from __future__ import annotations

from app.store import outbox
from app.check.context import RunParts
from app.check.handoff import NO_HANDOFF, HandOff
from app.store.rows import OutboxRow
from app.system.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Sequence

    from app.check.fanout import Channels
    from app.store.outbox import Transport

DEFERRED = "{address} deferred {count} alert(s): {reply}; it gets them when it accepts again (the others got theirs)"
CHANNEL_FAILED = "{name}: {detail}"


class Deferral(Record):
    reply: str  # the recipient's first 4xx reply in this run
    times: int  # how many messages it deferred


class Sender:
    """Sends the outbox of one run through its transport and its channels; told of refusals, deferrals and
    accepted messages (outbox.Replies), it releases the waiting hook (handoff) once its login's message left.
    Not retried in the same run: a mail server that failed once is not waited on again."""

    def __init__(self, parts: RunParts, transport: "Transport", channels: "Channels",
                 mark: Optional[outbox.AcceptedMark] = None, handoff: HandOff = NO_HANDOFF) -> None:
        self.parts, self.transport, self.channels, self.mark, self.handoff = parts, transport, channels, mark, handoff
        self._waiting: Dict[str, List[str]] = {}  # Message-ID -> the connections its acceptance settles
        self.emailed = 0  # messages every recipient now has
        self.pushed = 0  # events the channels took
        self.email_failure: Optional[outbox.SendFailed] = None
        self.deferrals: Dict[str, Deferral] = {}  # by address: 4xx in this run, retried alone by the next

    def send(self) -> None:
        """Send what the outbox holds: the event channels in their threads while email goes in this one.
        Raises SendFailed when the mail server failed (then, for the rest of the run, email is not tried)."""
        parts = self.parts
        self.channels.start()
        try:
            if parts.config.emails and self.email_failure is None:
                try:
                    self.emailed += outbox.flush(parts.store, self.transport, parts.config.recipients, parts.log,
                                                 self.mark, self)
                except outbox.SendFailed as failure:
                    self.email_failure = failure
                    raise
        finally:
            self.pushed += self.channels.collect()
            for name, detail in self.channels.take_refused():
                self._tell(name, detail, "channel_refused")
            for name, detail in self.channels.take_long_waits():
                self._tell(name, detail, "channel_waits")

    def expect(self, message_id: str, connections: Sequence[str]) -> None:
        """The message message_id, once every recipient took it, settles connections (a waiting hook's among them)."""
        self._waiting[message_id] = list(connections)

    def accepted(self, row: OutboxRow) -> None:
        """Every recipient took row and the mark noted it: release a hook waiting for one of its logins now."""
        self.handoff.progress(self._waiting.pop(row.message_id, []))

    def refused(self, address: str, reply: str) -> None:
        """address refused a message for good (5xx): told once, by a notice through the other ways."""
        self._tell(address, reply, "refused")

    def deferred(self, address: str, reply: str) -> None:
        """address deferred a message (4xx): it gets it, alone, in a later run."""
        known = self.deferrals.get(address)
        self.deferrals[address] = Deferral(reply, 1) if known is None else known._replace(times=known.times + 1)

    def alerts(self) -> int:
        """The alerts sent, counted once: the emails, or where alerts do not go by email, the events."""
        return self.emailed if self.parts.config.emails else self.pushed

    def problems(self) -> List[str]:
        """What some recipient or channel still waits for, each deferral logged; empty when all got everything."""
        problems = [DEFERRED.format(address=address, count=deferral.times, reply=deferral.reply)
                    for address, deferral in sorted(self.deferrals.items())]
        for problem in problems:
            self.parts.log.warning(problem)
        return problems + [detail if detail.startswith(name + ":") else CHANNEL_FAILED.format(name=name, detail=detail)
                           for name, detail in self.channels.take_failed()]

    def close(self) -> None:
        """Close the mail session and collect a fan-out still running (a send that raised)."""
        self.transport.close()
        self.channels.finish()

    def _tell(self, address: str, reply: str, meta: str) -> None:
        from app.check.notices import tell_refused

        tell_refused(self.parts, address, reply, meta)
