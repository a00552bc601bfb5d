"""The pyz's entry point: hand over to the CLI (the version gate lives in the zip's __main__)."""

from __future__ import annotations

import gc
import sys


def main() -> int:
    """Run the command line and return its exit code."""
    # Importing the command builds thousands of objects that live as long as the process: the collector's
    # passes over them cost the login hook about 5 ms. The CLI turns it back on once its command is imported.
    gc.disable()
    from app.cli import main as cli_main

    return cli_main(sys.argv[1:])
