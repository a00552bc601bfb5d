"""Per-login rules (the ``[rules]`` section) and work hours: which logins are skipped, tagged or urgent. Pure.

One rule per key: conditions, ``->``, one action::

    [rules]
    deploy-bot = key SHA256:abc... from 10.0.0.0/8 user deploy kind command -> skip
    office = from 192.0.2.0/24 -> tag office
    root-anywhere = user root -> urgent

A condition word is followed by its value, a comma-separated list of alternatives; every condition given
must match. Work hours (``Mon-Fri 08:00-19:00, Sat 10:00-12:00``) make a login outside them urgent.
"""

from __future__ import annotations

import re
import time

from app.rules.trust import Network, is_trusted, parse_networks
from app.system.record import Record
from app.system.text import printable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import AbstractSet, Dict, FrozenSet, List, Mapping, Optional, Sequence, Set, Tuple

KINDS = ("interactive", "command", "transfer", "tunnel")
CONDITIONS = ("key", "from", "user", "kind", "asn", "country", "new_network", "new_country")
FLAGS = ("new_network", "new_country")  # conditions without a value: the login's network or country is new
SKIP, TAG, URGENT = "skip", "tag", "urgent"
ARROW = "->"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # time.struct_time.tm_wday order
DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_NUMBERS = {name: number for names in (DAYS, DAY_NAMES) for number, name in enumerate(names)}
MINUTES_PER_DAY = 24 * 60
_FINGERPRINT = re.compile(r"\ASHA256:[A-Za-z0-9+/]{43}\Z")
_TAG_WORD = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,31}\Z")
_TIME_RANGE = re.compile(r"(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})")

# [rules] problems: PROBLEM holds one of the others as {problem}
PROBLEM = "[rules] {name}: {problem}"
NO_ARROW = "'{text}' has no '->'; write conditions, then -> and an action, e.g. from 192.0.2.0/24 -> tag office"
NO_CONDITION = "'{text}' has no condition, so it would apply to every login; write e.g. user deploy -> skip"
UNKNOWN_CONDITION = ("'{word}' is not a condition; write key, from, user, kind, asn or country, each followed by "
                     "its value, or new_network or new_country")
MISSING_VALUE = "'{word}' has no value; write e.g. {example}"
REPEATED_CONDITION = "'{word}' is given twice; write one {word} with a comma-separated list"
BAD_KEY = "'key {value}' is not a key fingerprint; write e.g. key SHA256:<43 characters, as ssh-keygen -lf prints>"
BAD_NETWORK = "'from {value}' is not an address or network; write e.g. from 10.0.0.0/8"
BAD_KIND = "'kind {value}' is not a kind of login; write one of " + ", ".join(KINDS)
BAD_ASN = "'asn {value}' is not a network number; write e.g. asn 64500 or asn AS64500"
BAD_COUNTRY = "'country {value}' is not a country code; write two letters, e.g. country DE,FR"
BAD_ACTION = "'-> {value}' is not an action; write -> skip, -> tag <word> or -> urgent"
BAD_TAG = "'-> {value}' needs one word after tag; write e.g. -> tag office (letters, digits, . _ -)"
EXAMPLES = {"key": "key SHA256:<43 characters>", "from": "from 10.0.0.0/8", "user": "user deploy",
            "kind": "kind command", "asn": "asn AS64500", "country": "country DE"}

# work hours problems (ValueError)
WORK_HOURS_EXAMPLE = "Mon-Fri 08:00-19:00"
NO_TIME_RANGE = "'{text}' has no time range; write days, then HH:MM-HH:MM, e.g. " + WORK_HOURS_EXAMPLE
NO_DAYS = "'{range}' has no days before it; write e.g. Mon-Fri, Mon,Wed or Sat-Sun before the times"
BAD_DAY = "'{day}' is not a day; write Mon, Tue, Wed, Thu, Fri, Sat or Sun, or a range like Mon-Fri"
BAD_TIME = "'{time}' is not a time of day; write HH:MM from 00:00 to 23:59 (24:00 only as an end)"
EMPTY_RANGE = "'{range}' starts when it ends; write e.g. 08:00-19:00 (22:00-06:00 runs past midnight)"
AFTER_LAST_RANGE = "'{text}' follows the last time range; write days, then times, e.g. " + WORK_HOURS_EXAMPLE

# Verdict reasons
REASON_RULE = "rule {name}: {action}"
REASON_STALE_KEY = "key no longer in authorized_keys: a certificate or a stale agent"
REASON_OUTSIDE_HOURS = "outside work hours ({hours})"
REASON_SKIP_OVERRULED = "not skipped by {names}: the login is urgent"
REASON_KIND_FROM_CLIENT = ("not skipped by {name}: the client chose the kind {kind} (a skip rule needs a key or from "
                           "condition too)")
# The client picks these (a pty request, the command's text); only the cron scan's "tunnel" is observed.
CLIENT_KINDS = ("interactive", "command", "transfer")


class Rule(Record):
    """One [rules] key; an empty condition set is a condition not given (it matches any login)."""

    name: str
    text: str  # as written (whitespace collapsed), for status
    action: str  # SKIP, TAG or URGENT
    tag: str = ""
    keys: FrozenSet[str] = frozenset()  # SHA256:... fingerprints
    networks: Tuple[Network, ...] = ()
    users: FrozenSet[str] = frozenset()
    kinds: FrozenSet[str] = frozenset()
    asns: FrozenSet[int] = frozenset()
    countries: FrozenSet[str] = frozenset()  # ISO codes, upper case
    flags: FrozenSet[str] = frozenset()  # FLAGS given


class Window(Record):
    """Work hours on some days; an end not after the start is on the next day."""

    days: FrozenSet[int]  # the days it starts on, 0 Monday to 6 Sunday (tm_wday)
    start: int  # minutes after midnight, 0 to 1439
    end: int  # minutes after midnight, 1 to 1440


class WorkHours(Record):
    """The parsed work_hours setting."""

    windows: Tuple[Window, ...]
    text: str  # as written (whitespace collapsed), for messages


class Verdict(Record):
    """What the rules say about one login."""

    skip: bool  # recorded, not sent
    tags: Tuple[str, ...]
    urgent: bool
    reasons: Tuple[str, ...]  # one phrase per rule or check that applied


def _shown(text: str, limit: int = 80) -> str:
    return printable(" ".join(text.split()), limit)


def normalize_fingerprint(text: str) -> str:
    """Takes a fingerprint as ssh-keygen prints it or history records it ("ssh-ed25519 SHA256:..."); returns
    SHA256:<43 characters>, or "" when text holds none."""
    for word in text.split():
        if word[:7].lower() == "sha256:":
            candidate = "SHA256:" + word[7:].rstrip("=")
            return candidate if _FINGERPRINT.match(candidate) else ""
    return ""


def _condition_values(text: str, problems: List[str]) -> Dict[str, Tuple[str, ...]]:
    """The value list of each condition word in text; problems gets one line per bad part."""
    tokens = re.sub(r"\s*,\s*", ",", text.strip()).split()
    values: Dict[str, Tuple[str, ...]] = {}
    index = 0
    while index < len(tokens):
        word = tokens[index].lower()
        value = tokens[index + 1] if index + 1 < len(tokens) else ""
        has_value = bool(value) and value.lower() not in CONDITIONS and word not in FLAGS
        if word in FLAGS:
            if word in values:
                problems.append(REPEATED_CONDITION.format(word=word))
            values[word] = ("yes",)
        elif word not in CONDITIONS:
            problems.append(UNKNOWN_CONDITION.format(word=_shown(tokens[index])))
        else:
            items = tuple(item for item in value.split(",") if item) if has_value else ()
            if not items:
                problems.append(MISSING_VALUE.format(word=word, example=EXAMPLES[word]))
            elif word in values:
                problems.append(REPEATED_CONDITION.format(word=word))
            else:
                values[word] = items
        index += 2 if has_value else 1
    return values


def _parse_action(text: str, problems: List[str]) -> Tuple[str, str]:
    words = text.split()
    lowered = [word.lower() for word in words]
    if lowered in ([SKIP], [URGENT]):
        return lowered[0], ""
    if lowered[:1] == [TAG]:
        if len(words) == 2 and _TAG_WORD.match(words[1]):
            return TAG, words[1]
        problems.append(BAD_TAG.format(value=_shown(text)))
    else:
        problems.append(BAD_ACTION.format(value=_shown(text)))
    return "", ""


def parse_rule(name: str, text: str) -> Tuple[Optional[Rule], List[str]]:
    """Takes a rule's key and text; returns (the rule, or None when it has problems; the problems, each one
    line without the "[rules] name:" prefix)."""
    conditions, arrow, action_text = text.partition(ARROW)
    if not arrow:
        return None, [NO_ARROW.format(text=_shown(text))]
    problems: List[str] = []
    action, tag = _parse_action(action_text, problems)
    values = _condition_values(conditions, problems)
    if not conditions.split():
        problems.append(NO_CONDITION.format(text=_shown(text)))
    keys = {item: normalize_fingerprint(item) for item in values.get("key", ())}
    problems += [BAD_KEY.format(value=_shown(item)) for item, fingerprint in keys.items() if not fingerprint]
    networks, bad_networks = parse_networks(",".join(values.get("from", ())))
    problems += [BAD_NETWORK.format(value=_shown(item)) for item in bad_networks]
    kinds = tuple(dict.fromkeys(item.lower() for item in values.get("kind", ())))
    problems += [BAD_KIND.format(value=_shown(item)) for item in kinds if item not in KINDS]
    asns = {item: _asn_number(item) for item in values.get("asn", ())}
    problems += [BAD_ASN.format(value=_shown(item)) for item, number in asns.items() if not number]
    countries = [item.upper() for item in values.get("country", ())]
    problems += [BAD_COUNTRY.format(value=_shown(item)) for item in countries if not re.match(r"\A[A-Z]{2}\Z", item)]
    if problems:
        return None, problems
    return Rule(name=printable(name, 80), text=_shown(text, 500), action=action, tag=tag,
                keys=frozenset(keys.values()), networks=networks, users=frozenset(values.get("user", ())),
                kinds=frozenset(kinds), asns=frozenset(asns.values()), countries=frozenset(countries),
                flags=frozenset(word for word in FLAGS if word in values)), []


def _asn_number(text: str) -> int:
    """64500 from "64500" or "AS64500"; 0 when it is neither."""
    digits = text[2:] if text[:2].lower() == "as" else text
    return int(digits) if digits.isdigit() and 0 < int(digits) < 1 << 32 else 0


def parse_rules(items: Mapping[str, str]) -> Tuple[List[Rule], List[str]]:
    """Takes the [rules] section (key -> text, in file order); returns (the good rules in that order, every
    problem of every rule, each one line naming the rule, the bad value and what to write instead)."""
    rules, problems = [], []  # type: List[Rule], List[str]
    for name, text in items.items():
        rule, own = parse_rule(name, text)
        if rule is not None:
            rules.append(rule)
        problems += [PROBLEM.format(name=printable(name, 80), problem=problem) for problem in own]
    return rules, problems


def rule_matches(rule: Rule, login: Mapping[str, object]) -> bool:
    """Takes a rule and a login (user, ip, kind, key_fingerprint; asn, country, new_network, new_country when
    geoip_db is set); returns True when every condition matches.

    A login whose kind is not known matches no kind condition, a password login no key condition, and a
    login the databases do not place no asn, country, new_network or new_country condition.
    """
    if rule.keys and normalize_fingerprint(str(login.get("key_fingerprint") or "")) not in rule.keys:
        return False
    if rule.networks and not is_trusted(str(login.get("ip") or ""), rule.networks):
        return False
    if rule.users and str(login.get("user") or "") not in rule.users:
        return False
    if rule.asns and login.get("asn") not in rule.asns:
        return False
    if rule.countries and str(login.get("country") or "").upper() not in rule.countries:
        return False
    if any(not login.get(flag) for flag in rule.flags):
        return False
    return not rule.kinds or str(login.get("kind") or "").lower() in rule.kinds


def _parse_days(text: str) -> FrozenSet[int]:
    days: Set[int] = set()
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        first, dash, last = item.partition("-")
        start, end = (_DAY_NUMBERS.get(word.strip().lower()) for word in (first, last if dash else first))
        if start is None or end is None:
            raise ValueError(BAD_DAY.format(day=_shown(item)))
        days.update((start + offset) % 7 for offset in range((end - start) % 7 + 1))  # Fri-Mon wraps
    return frozenset(days)


def _minutes(text: str, end: bool) -> int:
    hours, minutes = (int(part) for part in text.split(":"))  # _TIME_RANGE matched: digits:digits
    if hours > (24 if end else 23) or minutes > 59 or hours * 60 + minutes > MINUTES_PER_DAY:
        raise ValueError(BAD_TIME.format(time=_shown(text)))
    return hours * 60 + minutes


def parse_work_hours(text: str) -> Optional[WorkHours]:
    """Takes days and a time range, several comma-separated ("Mon-Fri 08:00-19:00, Sat 10:00-12:00"; a range
    ending before it starts runs past midnight); returns them, None for "", off or none; raises ValueError."""
    collapsed = " ".join(text.split())
    if collapsed.lower() in ("", "off", "none"):
        return None
    parts = _TIME_RANGE.split(collapsed)  # days, start, end, days, start, end, ..., the rest
    if len(parts) == 1:
        raise ValueError(NO_TIME_RANGE.format(text=_shown(collapsed)))
    if parts[-1].strip(" ,"):
        raise ValueError(AFTER_LAST_RANGE.format(text=_shown(parts[-1].strip(" ,"))))
    windows = []
    for index in range(0, len(parts) - 1, 3):
        days, start_text, end_text = parts[index:index + 3]
        start, end = _minutes(start_text, end=False), _minutes(end_text, end=True)
        if start == end:
            raise ValueError(EMPTY_RANGE.format(range="{}-{}".format(start_text, end_text)))
        if not days.strip(" ,"):
            raise ValueError(NO_DAYS.format(range="{}-{}".format(start_text, end_text)))
        windows.append(Window(_parse_days(days.strip(" ,")), start, end))
    return WorkHours(tuple(windows), printable(collapsed, 200))


def _inside(window: Window, day: int, minute: int) -> bool:
    if window.start < window.end:
        return day in window.days and window.start <= minute < window.end
    return ((day in window.days and minute >= window.start)
            or ((day - 1) % 7 in window.days and minute < window.end))


def outside_work_hours(hours: Optional[WorkHours], local_time: time.struct_time) -> bool:
    """Takes work hours (None: none set) and a local time; returns True when the time is in none of them."""
    if hours is None:
        return False
    minute = local_time.tm_hour * 60 + local_time.tm_min
    return not any(_inside(window, local_time.tm_wday, minute) for window in hours.windows)


def _kind_alone(rule: Rule, login: Mapping[str, object]) -> bool:
    """True when rule matches login only through a kind the client chose, with no key or from condition beside it:
    such a rule must not skip (an intruder could pick the kind)."""
    return bool(rule.kinds) and not (rule.keys or rule.networks) and \
        str(login.get("kind") or "").lower() in CLIENT_KINDS


def evaluate(rules: Sequence[Rule], login: Mapping[str, object], authorized_fingerprints: Optional[AbstractSet[str]],
             work_hours: Optional[WorkHours], local_time: Optional[time.struct_time]) -> Verdict:
    """Takes the rules (file order), a login (user, ip, kind, key_fingerprint), the fingerprints in
    authorized_keys (None: not checked), work hours and the login's local time (None: not checked); returns
    the verdict.

    Every rule is checked, in file order, and every matching rule applies: its tag is added (each tag once,
    in file order). The login is urgent when a matching rule says urgent, when it used a key that is not in
    authorized_fingerprints (a certificate, a stale agent; a key whose fingerprint cannot be read counts as
    not there), or when its time is outside the work hours. It is skipped only when a matching rule says
    skip and nothing made it urgent: an intruder must not hide behind a skip rule by using a removed key or
    by logging in at night.
    """
    tags, reasons, skipped_by = [], [], []  # type: List[str], List[str], List[str]
    urgent = False
    for rule in rules:
        if not rule_matches(rule, login):
            continue
        if rule.action == SKIP and _kind_alone(rule, login):
            reasons.append(REASON_KIND_FROM_CLIENT.format(name=rule.name, kind=str(login.get("kind")).lower()))
            continue
        reasons.append(REASON_RULE.format(name=rule.name, action=TAG + " " + rule.tag if rule.tag else rule.action))
        if rule.action == SKIP:
            skipped_by.append(rule.name)
        elif rule.action == TAG and rule.tag not in tags:
            tags.append(rule.tag)
        urgent = urgent or rule.action == URGENT
    used_key = str(login.get("key_fingerprint") or "").strip()
    if authorized_fingerprints is not None and used_key:
        authorized = {normalize_fingerprint(fingerprint) for fingerprint in authorized_fingerprints} - {""}
        if normalize_fingerprint(used_key) not in authorized:
            urgent = True
            reasons.append(REASON_STALE_KEY)
    if work_hours is not None and local_time is not None and outside_work_hours(work_hours, local_time):
        urgent = True
        reasons.append(REASON_OUTSIDE_HOURS.format(hours=work_hours.text))
    if skipped_by and urgent:
        reasons.append(REASON_SKIP_OVERRULED.format(names=", ".join(skipped_by)))
    return Verdict(bool(skipped_by) and not urgent, tuple(tags), urgent, tuple(reasons))
