"""The checks and normalizers the schema's text keys use: each takes the key's text and returns its problems
(none: valid), or the text as stored. Imports beyond the standard library's cheapest happen inside them."""

from __future__ import annotations

import os

from app.rules.trust import parse_networks

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Tuple


def trusted_problems(text: str) -> Tuple[str, ...]:
    example = "203.0.113.0/24, 2001:db8::/48, 10.0.0.5"
    return tuple("{!r} is not an IP address or network (e.g. {})".format(entry, example)
                 for entry in parse_networks(text)[1])


def ehlo_problems(text: str) -> Tuple[str, ...]:
    from app.settings.names import ehlo_problem

    problem = ehlo_problem(text)
    return (problem,) if problem else ()


def readable_problems(text: str) -> Tuple[str, ...]:
    path = os.path.expanduser(text)
    return () if os.access(path, os.R_OK) else ("{} does not exist or is not readable".format(path),)


def work_hours_problems(text: str) -> Tuple[str, ...]:
    from app.rules.rules import parse_work_hours

    try:
        parse_work_hours(text)
    except ValueError as error:
        return (str(error),)
    return ()


def syslog_target_problems(text: str) -> Tuple[str, ...]:
    from app.settings.names import target_problem

    problem = target_problem(text)
    return (problem,) if problem else ()


def host_name(text: str) -> str:
    return text.lower().rstrip(".")


def url_problems(text: str) -> Tuple[str, ...]:
    from urllib.parse import urlsplit

    parts = urlsplit(text)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return ("{!r} is not an https:// URL".format(text),)
    return ()
