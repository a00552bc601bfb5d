"""The ``[users]`` section: where each account's logins go (mostly for the system-wide mode). Pure but for
group membership, which ``in_group`` reads from the group database.

    [users]
    alice = alice@example.com          # alice's logins also go to her (besides [alert] to)
    deploy = skip                      # no alert for deploy's logins (a [rules] skip: urgent logins still go)
    %admins = ops@example.com, sec@example.com   # every member of the group admins

A ``skip`` becomes a rule of the rules engine (``user deploy -> skip``), so an urgent login (a key no longer
in authorized_keys, outside work hours) is still alerted; addresses add recipients to that account's alerts.
"""

from __future__ import annotations

import re
from app.system.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

    from app.rules.rules import Rule

SECTION = "users"
SKIP = "skip"
_ACCOUNT = re.compile(r"\A%?[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}\Z")
_ADDRESS = re.compile(r"\A[^@\s,;<>\"]+@[^@\s,;<>\"]+\.[^@\s,;<>\"]+\Z")
BAD_ACCOUNT = "[users] {name}: not an account name or %group; write e.g. alice = alice@example.com or %admins = ..."
BAD_VALUE = ("[users] {name}: {value!r} is not skip or a comma-separated list of email addresses; write e.g. "
             "alice = alice@example.com, or deploy = skip")


class Route(Record):
    account: str  # an account name, or %group
    addresses: Tuple[str, ...]  # () with skip
    skip: bool


def parse_users(items: Mapping[str, str]) -> Tuple[List[Route], List[str]]:
    """The routes of a [users] section and one problem text per bad entry."""
    routes, problems = [], []
    for name, value in items.items():
        text = " ".join(value.split())
        if not _ACCOUNT.match(name):
            problems.append(BAD_ACCOUNT.format(name=name))
            continue
        if text.lower() == SKIP:
            routes.append(Route(name, (), True))
            continue
        addresses = tuple(part.strip() for part in text.split(",") if part.strip())
        if not addresses or not all(_ADDRESS.match(address) for address in addresses):
            problems.append(BAD_VALUE.format(name=name, value=value))
            continue
        routes.append(Route(name, addresses, False))
    return routes, problems


def in_group(user: str, group: str) -> bool:
    """True when user is a member of group (listed, or it is the user's primary group)."""
    import grp
    import pwd

    try:
        entry = grp.getgrnam(group)
    except (KeyError, ValueError):
        return False
    if user in entry.gr_mem:
        return True
    try:
        return pwd.getpwnam(user).pw_gid == entry.gr_gid
    except (KeyError, ValueError):
        return False


def matches(route: Route, user: str, member: Callable[[str, str], bool] = in_group) -> bool:
    return member(user, route.account[1:]) if route.account.startswith("%") else route.account == user


def addresses_for(routes: Tuple[Route, ...], user: str, already: Tuple[str, ...] = (),
                  member: Callable[[str, str], bool] = in_group) -> Tuple[str, ...]:
    """The extra recipients of user's login alerts (each once, none already among the recipients)."""
    found: List[str] = []
    for route in routes:
        if not route.skip and matches(route, user, member):
            found.extend(address for address in route.addresses if address not in already and address not in found)
    return tuple(found)


def skip_rules(routes: Sequence[Route], member_lists: Optional[Dict[str, List[str]]] = None) -> List["Rule"]:
    """The skip entries as rules of the rules engine (app.rules.rules), in order."""
    from app.rules.rules import SKIP as RULE_SKIP, Rule

    rules = []
    for route in routes:
        if not route.skip:
            continue
        if route.account.startswith("%"):
            users = frozenset((member_lists or {}).get(route.account[1:]) or _members(route.account[1:]))
            if not users:
                continue
        else:
            users = frozenset([route.account])
        rules.append(Rule(name="users." + route.account, text="user {} -> skip".format(",".join(sorted(users))),
                          action=RULE_SKIP, users=users))
    return rules


def _members(group: str) -> List[str]:
    import grp
    import pwd

    try:
        entry = grp.getgrnam(group)
    except (KeyError, ValueError):
        return []
    return list(entry.gr_mem) + [user.pw_name for user in pwd.getpwall() if user.pw_gid == entry.gr_gid]
