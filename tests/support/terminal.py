"""The pyz on a pseudo-terminal, as a person at a terminal runs it: expect a prompt, type an answer."""

import fcntl
import os
import select
import signal
import subprocess
import sys
import termios
import time
from typing import Dict, Optional, Sequence

from helpers import PYZ

PTY_STEP = 30.0  # seconds to wait for one prompt; a prompt normally appears within a fraction of that


class Terminal:
    """The pyz running on a pseudo-terminal it has as its controlling terminal (getpass reads /dev/tty)."""

    def __init__(self, arguments: Sequence[str], environment: Dict[str, str],
                 program: Optional[Sequence[str]] = None) -> None:
        master, slave = os.openpty()
        self.master = master
        self.output = ""
        self.seen = 0  # expect() looks only at output after the previous match

        def controlling_terminal() -> None:  # runs in the child, after setsid and the dup2 to fd 0
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        program = [sys.executable, str(PYZ)] if program is None else program
        self.process = subprocess.Popen(list(program) + list(arguments), stdin=slave, stdout=slave,
                                        stderr=slave, env=dict(environment, TERM="dumb"), start_new_session=True,
                                        preexec_fn=controlling_terminal, close_fds=True)
        os.close(slave)

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.master, 4096)
        except OSError:  # EIO: the child closed the terminal
            return False
        if not data:
            return False
        self.output += data.decode("utf-8", "replace").replace("\r\n", "\n")
        return True

    def expect(self, *texts: str) -> str:
        """Wait until one of texts appears after the previous match; return it."""
        deadline = time.monotonic() + PTY_STEP
        while True:
            found = [(self.output.find(text, self.seen), text) for text in texts]
            found = [(index, text) for index, text in found if index >= 0]
            if found:
                index, text = min(found)
                self.seen = index + len(text)
                return text
            if time.monotonic() > deadline or not self._read(0.2) and self.process.poll() is not None:
                raise AssertionError("waited for {!r}; the terminal shows:\n{}".format(texts, self.output))

    def answer(self, question: str, text: str) -> None:
        """Wait for question and the end of its prompt line (after any [default]), then type text and Enter."""
        if question != ": ":
            self.expect(question)
        self.expect(": ")
        self.write(text + "\n")

    def write(self, text: str) -> None:
        os.write(self.master, text.encode())

    def finish(self) -> int:
        """Read until the program exits; return its exit code."""
        deadline = time.monotonic() + PTY_STEP
        while time.monotonic() < deadline and self._read(0.2):
            if self.process.poll() is not None and not select.select([self.master], [], [], 0)[0]:
                break
        try:
            return self.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        finally:
            os.close(self.master)

    def close(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
