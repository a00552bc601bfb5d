"""Doubles of what app.store.outbox.flush and app.check.fanout talk to: the operations log and the Sender that hears
the replies."""

from typing import List, Tuple

from app.store.rows import OutboxRow


class Log:
    """An operations log that keeps its lines."""

    def __init__(self) -> None:
        self.lines: List[Tuple[str, str]] = []

    def info(self, text: str) -> None:
        self.lines.append(("info", text))

    def warning(self, text: str) -> None:
        self.lines.append(("warning", text))

    def error(self, text: str) -> None:
        self.lines.append(("error", text))


class Told:
    """Hears what a flush tells of refusals and deferrals (the check run's Sender in the product)."""

    def __init__(self) -> None:
        self.refusals: List[Tuple[str, str]] = []
        self.deferrals: List[Tuple[str, str]] = []
        self.accepted_subjects: List[str] = []

    def refused(self, address: str, reply: str) -> None:
        self.refusals.append((address, reply))

    def deferred(self, address: str, reply: str) -> None:
        self.deferrals.append((address, reply))

    def accepted(self, row: OutboxRow) -> None:
        self.accepted_subjects.append(row.subject)
