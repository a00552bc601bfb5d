"""Where a login came from, offline: country, city, ASN and organisation from the user's MMDB files.

``geoip_db = PATH[, PATH]`` names files the user downloads (DB-IP Lite, MaxMind GeoLite2, IPinfo Lite);
nothing is sent anywhere. Each file gives what it has (a country file the country, an ASN file the
network); the first file with a value wins. Every licence asks for attribution: the line of each file
that answered goes with the alert. Novelty: per account, the countries and networks (ASNs) seen before.
"""

from __future__ import annotations

import time

from app.system.record import Record
from app.system.text import printable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

STALE_DAYS = 60  # status warns when a database was built longer ago than this
SEEN_KEY = "geoseen:"  # store meta key prefix, + user: {"countries": [...], "asns": [...]}
SEEN_LIMIT = 500  # countries or networks kept per account
ATTRIBUTIONS = (  # (database_type prefix, lowercased; the licence's attribution line)
    ("dbip", "IP geolocation by DB-IP (https://db-ip.com), CC BY 4.0"),
    ("geolite2", "This product includes GeoLite2 data created by MaxMind, available from https://www.maxmind.com"),
    ("geoip2", "This product includes GeoIP2 data created by MaxMind, available from https://www.maxmind.com"),
    ("ipinfo", "IP address data powered by IPinfo (https://ipinfo.io), CC BY-SA 4.0"),
)
OPEN_FAILED = "geoip_db {path}: {reason}; alerts go out without location until it is replaced"
STALE = "geoip_db {path} was built {days} days ago; update it (ssh_alert.pyz geoip update for DB-IP Lite)"


def open_failed(path: str, error: Exception) -> str:
    """One line naming the file and what is wrong with it (the reader's own text already names the file)."""
    reason = str(error).replace(path + " ", "", 1) if str(error).startswith(path) else \
        getattr(error, "strerror", None) or str(error)
    return OPEN_FAILED.format(path=path, reason=reason)


class Place(Record):
    """What the databases say of one address ("" / 0: not known)."""

    country: str = ""  # ISO 3166 code, e.g. DE
    country_name: str = ""
    city: str = ""
    asn: int = 0
    org: str = ""
    sources: Tuple[str, ...] = ()  # the attribution line of each file that answered

    def where(self) -> str:
        """One line, e.g. "Frankfurt am Main, DE (Germany), AS64500 Example Hosting GmbH"; "" when unknown."""
        parts = [", ".join(part for part in (self.city, self.country) if part)]
        if self.country_name and parts[0]:
            parts[0] += " ({})".format(self.country_name)
        if self.asn:
            parts.append("AS{} {}".format(self.asn, self.org).strip())
        elif self.org:
            parts.append(self.org)
        return ", ".join(part for part in parts if part)


class Novelty(Record):
    new_country: bool = False
    new_network: bool = False


def database_paths(text: str) -> List[str]:
    """The files of geoip_db = PATH[, PATH], ~ expanded."""
    import os

    return [os.path.expanduser(part.strip()) for part in text.split(",") if part.strip()]


def attribution(database_type: str, description: Any = None) -> str:
    """The attribution line the licence of a database of this type asks for ("" for an unknown vendor)."""
    kind = database_type.lower().replace("-", "").replace(" ", "")
    described = " ".join(description.values() if isinstance(description, dict) else []).lower().replace("-", "")
    for found in ([line for prefix, line in ATTRIBUTIONS if kind.startswith(prefix)]
                  + [line for prefix, line in ATTRIBUTIONS if prefix in described.split()]):
        return found
    return ""


def _text(value: Any) -> str:
    return printable(value, 120) if isinstance(value, str) else ""


def _name(node: Any) -> str:
    names = node.get("names") if isinstance(node, dict) else None
    return _text(names.get("en")) if isinstance(names, dict) else ""


def place_of(record: Any) -> Place:
    """Takes one MMDB record (GeoIP2/DB-IP layout, or IPinfo Lite's flat one); returns what it says."""
    if not isinstance(record, dict):
        return Place()
    country = record.get("country")
    code, name = "", ""
    if isinstance(country, dict):  # GeoIP2 layout (MaxMind, DB-IP)
        code, name = _text(country.get("iso_code")), _name(country)
    else:  # IPinfo Lite: country_code, country (a name), asn "AS13335", as_name
        code, name = _text(record.get("country_code")), _text(country)
    asn = record.get("autonomous_system_number", record.get("asn"))
    if isinstance(asn, str) and asn.upper().startswith("AS") and asn[2:].isdigit():
        asn = int(asn[2:])
    org = record.get("autonomous_system_organization", record.get("as_name"))
    return Place(country=code.upper()[:3], country_name=name, city=_name(record.get("city")),
                 asn=asn if isinstance(asn, int) and 0 < asn < 1 << 32 else 0, org=_text(org))


def merged(places: Iterable[Place]) -> Place:
    """The first value of each field among places, and every source that gave one."""
    fields: Dict[str, Any] = {}
    sources: List[str] = []
    for place in places:
        gave = False
        for field in ("country", "country_name", "city", "asn", "org"):
            value = getattr(place, field)
            if value and not fields.get(field):
                fields[field] = value
                gave = True
        sources += [source for source in place.sources if gave and source and source not in sources]
    return Place(sources=tuple(sources), **fields)


class Locator:
    """The configured databases, opened on first use; a file that cannot be read is reported, not raised."""

    def __init__(self, paths: Sequence[str]) -> None:
        self.paths = tuple(paths)
        self._readers: Optional[List[Tuple[Any, str]]] = None
        self.problems: List[str] = []
        self._cache: Dict[str, Place] = {}

    def _open(self) -> List[Tuple[Any, str]]:
        if self._readers is None:
            from app.system.mmdb import MMDBError, Reader

            self._readers = []
            for path in self.paths:
                try:
                    reader = Reader(path)
                except (OSError, MMDBError) as error:
                    self.problems.append(open_failed(path, error))
                    continue
                self._readers.append((reader, attribution(reader.database_type,
                                                          reader.metadata.get("description"))))
        return self._readers

    def locate(self, address: str) -> Place:
        """Takes an address; returns what the databases say of it (Place() when nothing, or on any error)."""
        if address in self._cache:
            return self._cache[address]
        from app.system.mmdb import MMDBError

        places = []
        for reader, source in self._open():
            try:
                record = reader.lookup(address)
            except ValueError as error:  # a bad address, or a corrupt record (MMDBError)
                if isinstance(error, MMDBError) and str(error) not in self.problems:
                    self.problems.append(str(error))
                continue
            if record is not None:
                places.append(place_of(record)._replace(sources=(source,)))
        self._cache[address] = merged(places)
        return self._cache[address]

    def close(self) -> None:
        for reader, _ in self._readers or ():
            reader.close()
        self._readers = None


# --- novelty: the countries and networks an account logged in from ------------------------------------------


def novelty(seen: Optional[Dict[str, List[Any]]], place: Place) -> Novelty:
    """Takes what the account was seen from (None or empty: nothing yet, no baseline) and a place; returns what
    is new. With no baseline nothing is new: the first located login starts it."""
    if not seen or not (seen.get("countries") or seen.get("asns")):
        return Novelty()
    return Novelty(new_country=bool(place.country) and place.country not in seen.get("countries", []),
                   new_network=bool(place.asn) and place.asn not in seen.get("asns", []))


def remembered(seen: Optional[Dict[str, List[Any]]], place: Place) -> Dict[str, List[Any]]:
    """What the account was seen from after a login from place (each list capped at SEEN_LIMIT, oldest dropped)."""
    countries = list((seen or {}).get("countries", []))
    asns = list((seen or {}).get("asns", []))
    if place.country and place.country not in countries:
        countries.append(place.country)
    if place.asn and place.asn not in asns:
        asns.append(place.asn)
    return {"countries": countries[-SEEN_LIMIT:], "asns": asns[-SEEN_LIMIT:]}


def stale_databases(paths: Sequence[str], now: Optional[float] = None) -> List[str]:
    """One warning per configured database built more than STALE_DAYS ago, or not readable as one."""
    from app.system.mmdb import MMDBError, Reader

    now = time.time() if now is None else now
    warnings = []
    for path in paths:
        try:
            with Reader(path) as reader:
                built = reader.build_epoch
        except (OSError, MMDBError) as error:
            warnings.append(open_failed(path, error))
            continue
        days = int((now - built) // 86400)
        if days > STALE_DAYS:
            warnings.append(STALE.format(path=path, days=days))
    return warnings


class AccountPlaces:
    """One check run's geoip work: each login located, its novelty judged against what its account was seen from
    before (the store, else its recorded history), and the seen sets kept up to date for the store."""

    def __init__(self, locator: Locator, stored: Callable[[str], Optional[Dict[str, List[Any]]]],
                 history_addresses: Callable[[str], Iterable[str]]) -> None:
        """stored(user): the seen sets in the store (None: never kept); history_addresses(user): its past addresses."""
        self.locator, self._stored, self._history = locator, stored, history_addresses
        self.facts: Dict[Any, Tuple[Place, Novelty]] = {}  # per batch, by log entry
        self.seen: Dict[str, Dict[str, List[Any]]] = {}  # per batch, by user
        self.after: Dict[Any, Dict[str, List[Any]]] = {}  # per batch, by log entry: its account's seen sets after it

    def clear(self) -> None:
        self.facts.clear()
        self.seen.clear()
        self.after.clear()

    def locate(self, key: Any, user: str, address: str) -> None:
        place = self.locator.locate(address)
        if user not in self.seen:
            stored = self._stored(user)
            if stored is None:
                stored = {}
                for past in self._history(user):
                    stored = remembered(stored, self.locator.locate(past))
            self.seen[user] = stored
        self.facts[key] = (place, novelty(self.seen[user], place))
        self.seen[user] = self.after[key] = remembered(self.seen[user], place)

    def rule_facts(self, key: Any) -> Dict[str, Any]:
        """The login's asn, country, new_network and new_country for [rules] ({} when not located)."""
        if key not in self.facts:
            return {}
        place, new = self.facts[key]
        return {"asn": place.asn, "country": place.country, "new_country": new.new_country,
                "new_network": new.new_network}
