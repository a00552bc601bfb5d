"""Questions to the person at the terminal. Commands get a Prompter only when stdin is a terminal."""

from __future__ import annotations

import getpass
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Optional, Sequence


class Prompter:
    """Asks on stdout, reads stdin; re-asks until validate() accepts the answer."""

    def ask(self, question: str, default: str = "", validate: Optional[Callable[[str], Optional[str]]] = None) -> str:
        """Return the answer (default when empty). validate returns an error text to show, or None."""
        while True:
            suffix = " [{}]".format(default) if default else ""
            answer = input("{}{}: ".format(question, suffix)).strip() or default
            problem = validate(answer) if validate else None
            if problem is None:
                return answer
            print("  " + problem)

    def secret(self, question: str, allow_empty: bool = False) -> str:
        """Read a secret without echo; never empty unless allow_empty (setup: Enter keeps the stored one)."""
        while True:
            from app.system.coredump import forbid_core_dumps

            forbid_core_dumps()
            answer = getpass.getpass(question + ": ")
            if answer or allow_empty:
                return answer
            print("  (empty; type it again)")

    def confirm(self, question: str, default: bool = True) -> bool:
        answer = input("{} [{}]: ".format(question, "Y/n" if default else "y/N")).strip().lower()
        return default if not answer else answer in ("y", "yes")

    def choose(self, question: str, choices: Sequence[str], default: str) -> str:
        return self.ask("{} ({})".format(question, "/".join(choices)), default,
                        lambda answer: None if answer in choices else "one of: " + ", ".join(choices))

    def say(self, text: str) -> None:
        print(text)


def terminal_prompter() -> Optional[Prompter]:
    """A Prompter when stdin is a terminal, else None (commands then need flags or refuse)."""
    try:
        return Prompter() if sys.stdin is not None and sys.stdin.isatty() else None
    except (OSError, ValueError):
        return None
