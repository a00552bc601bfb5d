"""The pyz's entry point: hand over to the CLI (the version gate lives in the zip's __main__)."""

import sys


def main() -> int:
    """Run the command line and return its exit code."""
    from app.cli import main as cli_main

    return cli_main(sys.argv[1:])
