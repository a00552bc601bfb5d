"""Which logins become emails, and how many emails: pure decisions, property-tested.

Per login: is the source IP new for that user, is it trusted, does ``notify``/``trusted_action``
say to email it. Per run: individual emails, one digest, or waiting for the hourly rate limit.
Nothing here does I/O; ``check`` applies the decisions and commits them.
"""

from __future__ import annotations

from app.logins.loginline import LoginRecord
from app.rules.hourly import HOUR, in_window
from app.rules.trust import canonical_address, is_trusted
from app.store.rows import Seen
from app.system.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional, Sequence, Tuple

    from app.rules.rules import Verdict
    from app.settings.config import AlertPolicy


class Decision(Record):
    """What to do with one login."""

    email: bool
    new_ip: bool
    trusted: bool
    first_seen: Optional[float]  # before this login; None for a new IP
    last_seen: Optional[float]
    earlier: int  # earlier logins from this IP (a field named count would hide tuple.count)
    tags: Tuple[str, ...] = ()  # from [rules]
    urgent: Tuple[str, ...] = ()  # why it is urgent (empty: it is not)
    rule_skipped: bool = False  # a [rules] skip: recorded, not alerted


def with_verdict(decision: Decision, verdict: "Verdict") -> Decision:
    """decision changed by the rules' verdict (app.rules.rules.evaluate): a skip rule silences it, unless
    something made it urgent; urgent always alerts, even a known address under notify = new."""
    urgent = tuple(verdict.reasons) if verdict.urgent else ()
    skipped = verdict.skip and not urgent
    return decision._replace(email=bool(urgent) or (decision.email and not skipped), tags=tuple(verdict.tags),
                             urgent=urgent, rule_skipped=skipped)


class SendPlan(Record):
    """How this run emails its pending alerts."""

    digest: bool  # one email for all of them
    held: bool  # the hourly limit is reached: nothing is emailed now, the alerts stay pending


def source_key(record: LoginRecord) -> Tuple[str, str]:
    """(user, ip) with the address normalised (IPv4-mapped IPv6 as IPv4); ("", raw) for unparsed lines."""
    if not record.parsed:
        return ("", "")
    return (record.user, canonical_address(record.ip) or record.ip)


def decide_seen(record: LoginRecord, seen: Optional[Seen], policy: "AlertPolicy") -> Decision:
    """Decide for one login, given what was known of its (user, address) before it (None: never seen)."""
    if not record.parsed:  # never filtered: it may be tampering
        return Decision(True, False, False, None, None, 0)
    ip = source_key(record)[1]
    trusted = is_trusted(ip, policy.trusted)
    email = True
    if trusted and policy.trusted_action == "skip":
        email = False
    elif seen is not None and policy.notify == "new":
        email = False
    if seen is None:
        return Decision(email, True, trusted, None, None, 0)
    return Decision(email, False, trusted, seen.first, seen.last, seen.logins)


def count_login(seen: Optional[Seen], epoch: float) -> Seen:
    """What is known of a source after one more login from it at epoch."""
    if seen is None:
        return Seen(epoch, epoch, 1)
    return Seen(min(seen.first, epoch) if seen.first else epoch, max(seen.last, epoch), seen.logins + 1)


def emails_left(sent_times: Sequence[float], now: float, max_per_hour: int) -> int:
    """How many emails the hourly limit still allows now."""
    return max(0, max_per_hour - sum(1 for sent in sent_times if in_window(sent, now)))


def next_free(sent_times: Sequence[float], now: float, max_per_hour: int) -> float:
    """When the hourly limit next allows an email: now, or within the hour after now."""
    inside = sorted(sent for sent in sent_times if in_window(sent, now))
    if len(inside) < max_per_hour:
        return now
    return inside[len(inside) - max_per_hour] + HOUR


def plan_sends(emailable: int, left: int, digest_after: int, holding: bool = False) -> SendPlan:
    """One digest when there are more than digest_after alerts, more than the limit allows, or alerts the
    limit held back (they go out together); else one email each. Nothing at all when the limit is reached."""
    if emailable == 0:
        return SendPlan(digest=False, held=False)
    if left <= 0:
        return SendPlan(digest=False, held=True)
    return SendPlan(digest=emailable > digest_after or emailable > left or (holding and emailable > 1), held=False)


DIGEST_EVERY = 60.0  # beyond max_per_hour, held logins go out as a digest at once, at most one per this many seconds


def limit_digest_at(last_digest: Optional[float], now: float) -> float:
    """When the hourly limit next lets a digest of held logins out: now, or DIGEST_EVERY after the last one (a
    last digest in the future, from a clock that ran ahead, holds nothing back)."""
    if last_digest is None or not 0 <= now - last_digest < DIGEST_EVERY:
        return now
    return last_digest + DIGEST_EVERY
