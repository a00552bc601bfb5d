"""Pure functions from recorded logins to events: what the push channels, syslog and the webhook receive.

An event (app.channels.base) carries a one-line title and a plain-text body that lead with the user, the
address and the host, so a channel that must cut keeps them, and the login's fields for the webhook's JSON.
Every value is made printable here; channels escape it further for their markup.
"""

from __future__ import annotations

import time

from app.store.history import HistoryEntry
from app.channels.base import EVENT_VERSION, Event
from app.system.sha import sha256
from app.system.text import printable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Sequence

DIGEST_MAX = 200  # logins listed in one digest event; more are counted, not listed


def event_id(identity: str, kind: str) -> str:
    """The event's id from what it reports (a login's connection and time): the same on every retry and every
    channel (webhook-id, Matrix transaction id, ntfy sequence id, syslog event=)."""
    digest: str = sha256("{}|{}".format(identity, kind).encode("utf-8", "surrogateescape")).hexdigest()
    return "evt_" + digest[:32]


def posted_identity(identity: str) -> str:
    """A notice's identity for one posting: what it reports plus a random part, so the same change made again
    later is a new notice with a Message-ID and event id of its own. It is stored with the notice: every retry
    of that notice carries the same ids."""
    import binascii
    import os

    return "{}|{}".format(identity, binascii.hexlify(os.urandom(8)).decode("ascii"))


def iso_time(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def login_fields(entry: HistoryEntry) -> Dict[str, Any]:
    """The login as the webhook's JSON shows it, every text made printable."""
    key_type, _, key_fingerprint = entry.key.partition(" ")
    return {"user": printable(entry.user), "ip": printable(entry.ip), "rdns": printable(entry.rdns),
            "methods": [printable(method) for method in entry.methods], "key_type": printable(key_type),
            "key_fingerprint": printable(key_fingerprint), "key_comment": printable(entry.key_comment),
            "kind": printable(entry.kind), "epoch": entry.epoch, "time": printable(entry.time),
            "time_iso": iso_time(entry.epoch) if entry.epoch else "", "new_ip": entry.new_ip,
            "trusted": entry.trusted, "outcome": entry.outcome, "raw": printable(entry.raw),
            "port": printable(entry.port), "country": printable(entry.country),
            "country_name": printable(entry.country_name), "city": printable(entry.city), "asn": entry.asn,
            "org": printable(entry.org),
            "new_country": entry.new_country, "new_network": entry.new_network,
            "geo_attribution": [printable(source) for source in entry.geo_sources]}


def login_where(login: Dict[str, Any]) -> str:
    """ "Frankfurt am Main, DE (Germany), AS64500 Example Hosting GmbH", or "" without geoip_db."""
    from app.logins.geoip import Place

    return Place(login.get("country", ""), login.get("country_name", ""), login.get("city", ""),
                 login.get("asn", 0), login.get("org", "")).where()


def login_title(login: Dict[str, Any], host: str) -> str:
    marks = " [new country]" if login.get("new_country") else ""
    marks += " [new network]" if login.get("new_network") else ""
    marks += " [new address]" if login["new_ip"] else ""
    marks += " [trusted]" if login["trusted"] else ""
    if not login["user"] and not login["ip"]:
        return "SSH login on {} (unreadable log line)".format(printable(host))
    return "SSH login: {}@{} from {}{}".format(login["user"] or "?", printable(host), login["ip"] or "?", marks)


def login_text(login: Dict[str, Any], host: str) -> str:
    """The plain-text lines of one login, most important first."""
    source = login["ip"] + (" ({})".format(login["rdns"]) if login["rdns"] else "")
    lines = ["User: " + login["user"], "From: " + source]
    if login_where(login):
        lines.append("Where: " + login_where(login))
    lines += ["Host: " + printable(host), "Method: " + (", ".join(login["methods"]) or "unknown")]
    if login["key_fingerprint"]:
        comment = ' "{}"'.format(login["key_comment"]) if login["key_comment"] else ""
        lines.append("Key: {} {}{}".format(login["key_type"], login["key_fingerprint"], comment))
    if login["kind"]:
        lines.append("Session: " + login["kind"])
    lines.append("Time: " + (login["time"] or login["time_iso"]))
    lines.append("New address: " + ("yes" if login["new_ip"] else "no") + ("; trusted" if login["trusted"] else ""))
    if login.get("new_country") or login.get("new_network"):
        lines.append("New for this account: " + " and ".join(
            what for what, on in (("country", login.get("new_country")), ("network", login.get("new_network"))) if on))
    if login["raw"]:
        lines.append("Log line: " + login["raw"])
    lines += ["Geo data: " + source for source in login.get("geo_attribution", ())]
    return "\n".join(lines)


def _event(kind: str, identity: str, host: str, title: str, text: str, now: Optional[float]) -> Event:
    """An event with no logins, not urgent: the callers set those."""
    now = time.time() if now is None else now
    return {"version": EVENT_VERSION, "id": event_id(identity, kind), "type": kind, "host": printable(host),
            "time": now, "time_iso": iso_time(now), "title": printable(title), "text": text, "urgent": False,
            "logins": []}


def login_event(entry: HistoryEntry, identity: str, host: str, urgent: bool = False,
                now: Optional[float] = None) -> Event:
    """The event of one login; identity names it across runs (app.check.dispatch.login_identity)."""
    login = login_fields(entry)
    event = _event("login", identity, host, login_title(login, host), login_text(login, host), entry.epoch or now)
    event["urgent"], event["logins"] = urgent, [login]
    return event


def digest_event(events: Sequence[Event], host: str, now: Optional[float] = None) -> Event:
    """One event listing the logins of events (newest first), for a channel that has a backlog or is over its
    hourly limit; its id comes from the events it covers, so a retry sends the same one."""
    logins = [login for event in events for login in event.get("logins", [])]
    notices = [event for event in events if not event.get("logins")]
    shown = list(reversed(logins))[:DIGEST_MAX]
    addresses = sorted({login["ip"] for login in logins})
    title = "SSH: {} logins on {} from {} address(es)".format(len(logins), printable(host), len(addresses))
    if notices and not logins:
        title = "ssh_alert: {} notices on {}".format(len(notices), printable(host))
    lines = ["{}  {}@{} from {}{}{}{}".format(login["time"] or login["time_iso"], login["user"], printable(host),
                                           login["ip"], " ({})".format(login["rdns"]) if login["rdns"] else "",
                                           " [{}]".format(login_where(login)) if login_where(login) else "",
                                           " [new address]" if login["new_ip"] else "") for login in shown]
    if len(logins) > len(shown):
        lines.append("... and {} earlier logins (ssh_alert.pyz history)".format(len(logins) - len(shown)))
    lines.extend("Notice: " + event["title"] for event in notices)
    identity = "{}..{}".format(events[0]["id"], events[-1]["id"]) if events else ""
    event = _event("digest", identity, host, title, "\n".join(lines), now)
    event["urgent"], event["logins"] = any(e.get("urgent") for e in events), shown
    return event


def notice_event(title: str, text: str, identity: str, host: str, urgent: bool = True,
                 now: Optional[float] = None) -> Event:
    """An event about ssh_alert itself (a refused recipient, a re-seeded store, a tamper or key change)."""
    event = _event("notice", identity, host, title, "\n".join(printable(line) for line in text.split("\n")), now)
    event["urgent"] = urgent
    return event


def test_event(title: str, text: str, host: str) -> Event:
    """An event that tests a channel (test --channel, setup --channel): new every time, never urgent."""
    return _event("test", "test|{}|{}".format(title, time.time()), host, title, text, None)
