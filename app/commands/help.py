"""``help [TOPIC]``: the documentation pages, printed from inside the pyz (a pyz-only user has no repository).

The build copies docs/*.md and README.md into the package (app/docs/); from a source checkout the pages
are read from docs/ itself.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from app.commands.result import Result
from app.errors import UserError
from app.system.paths import Paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, List

UNKNOWN_TOPIC = "no help topic {topic!r}; topics: {topics}"
NO_PAGES = "this build carries no documentation pages; see the project's docs/ directory"
TOPICS_HEADING = "Help topics (ssh_alert.pyz help TOPIC):"


def add_parser(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser("help", help="print a documentation page (configuration, channels, threat-model, "
                                                "troubleshooting, development, readme); no topic lists them")
    parser.add_argument("topic", nargs="?", metavar="TOPIC", help="the page to print")


def pages() -> Dict[str, Path]:
    """Each topic with its page: the package's docs/ (in the pyz), else the checkout's docs/ and README.md."""
    package = Path(__file__).resolve().parent.parent
    found: Dict[str, Path] = {}
    for directory in (package / "docs", package.parent / "docs"):
        for page in sorted(directory.glob("*.md")) if directory.is_dir() else ():
            found.setdefault(page.stem.lower(), page)
    readme = package.parent / "README.md"
    if "readme" not in found and readme.is_file():
        found["readme"] = readme
    return found


def run(paths: Paths, arguments: argparse.Namespace) -> Result:
    """The page's text, or the list of topics; raises UserError (exit 2) for an unknown topic."""
    found = pages()
    if not found:
        raise UserError(NO_PAGES)
    if not arguments.topic:
        return Result([TOPICS_HEADING] + ["  " + topic for topic in found], data=sorted(found))
    topic = arguments.topic.lower().replace("_", "-")
    topic = topic[:-3] if topic.endswith(".md") else topic
    matches: List[str] = [name for name in found if name == topic] or [name for name in found if
                                                                       name.startswith(topic)]
    if len(matches) != 1:
        raise UserError(UNKNOWN_TOPIC.format(topic=arguments.topic, topics=", ".join(found)))
    text = found[matches[0]].read_text(encoding="utf-8")
    return Result(text.rstrip("\n").splitlines(), data={"topic": matches[0], "text": text})
