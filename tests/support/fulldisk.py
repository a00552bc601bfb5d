"""A full disk for tests: fill a (small tmpfs) directory until only so many bytes are free."""

import os
from pathlib import Path

NO_ROOM_FOR_A_RESERVE = 260 * 1024  # a store's tables fit, its reserve (about 600 KiB) does not


def fill(directory: Path, leave: int = 0, name: str = "filler") -> Path:
    """Write a file in directory until only about `leave` bytes are free; returns it."""
    filler = directory / name
    free = os.statvfs(str(directory)).f_bavail * os.statvfs(str(directory)).f_frsize
    with open(str(filler), "wb", buffering=0) as handle:
        if leave:
            handle.write(b"\0" * max(0, free - leave))
            return filler
        for size in (65536, 4096, 1):
            try:
                while True:
                    handle.write(b"\0" * size)
            except OSError:
                pass
    assert os.statvfs(str(directory)).f_bavail == 0
    return filler
