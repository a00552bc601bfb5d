"""``geoip update``: download the DB-IP Lite files named in geoip_db, verify them, replace them atomically.

DB-IP publishes its Lite databases (CC BY 4.0, no account) monthly as
``https://download.db-ip.com/free/dbip-{country,city,asn}-lite-YYYY-MM.mmdb.gz``. Which one a configured
path is comes from the file's metadata, else its name. A download is kept only when the gzip is whole,
the MMDB opens and is of the same kind, and its build date is neither in the future nor older than the
file it replaces; otherwise the old file stays and the failure is reported. With ``geoip_update = monthly``
the cron run does it once the month has a newer file (at most one attempt a day).
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import ssl
import tempfile
import time
import urllib.request
from app.system.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO, Callable, Dict, List, Optional, Sequence, Tuple

    from pathlib import Path

    from app.settings.config import AlertPolicy
    from app.store.store import Store
    from app.system.paths import Paths

DEFAULT_MIRROR = "https://download.db-ip.com/free"
KINDS = ("country", "city", "asn")
MAX_DOWNLOAD = 200 * 1024 * 1024  # bytes of .gz (DB-IP City Lite is about 60 MB)
MAX_UNPACKED = 600 * 1024 * 1024
TIMEOUT = 60.0
FUTURE_SLACK = 2 * 86400
TRY_EVERY = 86400.0  # the cron run tries again a day after a failure
STATE_KEY = "geoip_update"  # store meta: {"tried": epoch, "error": text or ""}
NOT_DBIP = ("{path}: skipped, not a DB-IP Lite file (dbip-country-lite, dbip-city-lite or dbip-asn-lite); update it "
            "with its vendor's tool (geoipupdate for GeoLite2)")
FAILED = "geoip update of {path} failed: {reason}; the old file is kept"
UPDATED = "{path}: updated to {url} (built {built})"
CURRENT = "{path}: already this month's ({built})"
SYMLINK = "it is a symbolic link; update the file it points to with the tool that keeps it"


class Outcome(Record):
    path: str
    ok: bool
    text: str


def dbip_kind(path: str) -> str:
    """country, city or asn for a DB-IP Lite file (by its metadata, else its name); "" for anything else."""
    from app.system.mmdb import MMDBError, Reader

    try:
        with Reader(path) as reader:
            found = re.match(r"dbip-(country|city|asn)-lite", reader.database_type.lower())
            if found:
                return found.group(1)
    except (OSError, MMDBError):
        pass
    found = re.search(r"dbip-(country|city|asn)-lite", os.path.basename(path).lower())
    return found.group(1) if found else ""


def months(now: float) -> Tuple[str, str]:
    """This month and the one before, as YYYY-MM (DB-IP's file for this month may not be out yet)."""
    today = time.gmtime(now)
    year, month = (today.tm_year, today.tm_mon - 1) if today.tm_mon > 1 else (today.tm_year - 1, 12)
    return "{:04d}-{:02d}".format(today.tm_year, today.tm_mon), "{:04d}-{:02d}".format(year, month)


def download_url(mirror: str, kind: str, month: str) -> str:
    return "{}/dbip-{}-lite-{}.mmdb.gz".format(mirror.rstrip("/"), kind, month)


def _copy_at_most(read: Callable[[int], bytes], out: BinaryIO, limit: int, too_large: str) -> None:
    """Copy what read gives to out in 64 KiB chunks; raises OSError(too_large with limit in MB) past limit bytes."""
    total = 0
    while True:
        chunk = read(1 << 16)
        if not chunk:
            return
        total += len(chunk)
        if total > limit:
            raise OSError(too_large.format(limit >> 20))
        out.write(chunk)


def _download(url: str, target: str, timeout: float) -> None:
    """Fetch url (verified TLS, no redirect to http) into target, at most MAX_DOWNLOAD bytes; raises OSError."""
    if not url.startswith("https://"):
        raise OSError("refusing {}: not https".format(url))
    context = ssl.create_default_context()
    request = urllib.request.Request(url, headers={"User-Agent": "ssh_alert geoip update"})
    with urllib.request.urlopen(request, timeout=timeout, context=context) as response, \
            open(target, "wb") as out:
        if not response.geturl().startswith("https://"):
            raise OSError("redirected away from https")
        _copy_at_most(response.read, out, MAX_DOWNLOAD, "larger than {} MB")


def _unpack(source: str, target: str) -> None:
    """gunzip source into target (a truncated or corrupt gzip raises OSError/EOFError), at most MAX_UNPACKED."""
    with gzip.open(source, "rb") as packed, open(target, "wb") as out:
        _copy_at_most(packed.read, out, MAX_UNPACKED, "unpacks to more than {} MB")
        out.flush()
        os.fsync(out.fileno())


def verify(path: str, kind: str, replaces: int, now: float) -> int:
    """Check a downloaded MMDB: it opens, is DB-IP's kind, its build date is sane; returns that date; raises
    ValueError naming what is wrong."""
    from app.system.mmdb import MMDBError, Reader

    try:
        with Reader(path) as reader:
            built, database_type = reader.build_epoch, reader.database_type
            reader.lookup("1.1.1.1")
    except MMDBError as error:
        raise ValueError(str(error).replace(path, "the download"))
    if not database_type.lower().startswith("dbip-{}-lite".format(kind)):
        raise ValueError("the download is a {!r} database, not DB-IP {} Lite".format(database_type, kind))
    if built > now + FUTURE_SLACK or built <= 0:
        raise ValueError("the download's build date {} is in the future".format(built))
    if built < replaces:
        raise ValueError("the download is older than the file it would replace")
    return built


def update_one(path: str, mirror: str = DEFAULT_MIRROR, now: Optional[float] = None,
               timeout: float = TIMEOUT) -> Outcome:
    """Update one configured file in place (same directory, atomic rename); the old file stays on any failure."""
    from app.system.mmdb import MMDBError, Reader

    now = time.time() if now is None else now
    kind = dbip_kind(path)
    if not kind:
        return Outcome(path, True, NOT_DBIP.format(path=path))
    current = 0
    try:
        with Reader(path) as reader:
            current = reader.build_epoch
    except (OSError, MMDBError):
        pass  # missing or broken: any sound download replaces it
    this_month = months(now)[0]
    if current and time.strftime("%Y-%m", time.gmtime(current)) == this_month:
        return Outcome(path, True, CURRENT.format(path=path, built=_day(current)))
    if os.path.islink(path):
        return Outcome(path, False, FAILED.format(path=path, reason=SYMLINK))
    directory = os.path.dirname(os.path.abspath(path))
    try:
        workdir = tempfile.mkdtemp(prefix=".ssh_alert-geoip-", dir=directory)  # 0700: nobody else can swap files
    except OSError as error:
        return Outcome(path, False, FAILED.format(path=path, reason="cannot write in {}: {}".format(
            directory, error.strerror or error)))
    try:
        packed, unpacked = os.path.join(workdir, "download.gz"), os.path.join(workdir, "new.mmdb")
        errors = []
        for month in months(now):
            url = download_url(mirror, kind, month)
            try:
                _download(url, packed, timeout)
                _unpack(packed, unpacked)
                built = verify(unpacked, kind, current, now)
            except (OSError, EOFError, ValueError) as error:  # HTTP, TLS, timeouts, a bad gzip are OSErrors
                errors.append("{}: {}".format(url, _why(error)))
                continue
            os.chmod(unpacked, 0o644)
            os.replace(unpacked, path)
            return Outcome(path, True, UPDATED.format(path=path, url=url, built=_day(built)))
        return Outcome(path, False, FAILED.format(path=path, reason="; ".join(errors)))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _why(error: BaseException) -> str:
    import urllib.error

    if isinstance(error, urllib.error.HTTPError):
        return "HTTP {} {}".format(error.code, error.reason)
    return str(getattr(error, "reason", None) or error)


def _day(epoch: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))


def update_all(paths: Sequence[str], mirror: str = DEFAULT_MIRROR, now: Optional[float] = None) -> List[Outcome]:
    return [update_one(path, mirror, now) for path in paths]


def due(paths: Sequence[str], state: Optional[Dict[str, Any]], now: float) -> bool:
    """True when the cron run should try: a DB-IP file is from an earlier month, and no try in the last day."""
    from app.system.mmdb import MMDBError, Reader

    tried = float((state or {}).get("tried", 0) or 0)
    if 0 <= now - tried < TRY_EVERY:
        return False
    for path in paths:
        if not dbip_kind(path):
            continue
        try:
            with Reader(path) as reader:
                built = reader.build_epoch
        except (OSError, MMDBError):
            return True
        if time.strftime("%Y-%m", time.gmtime(built)) != months(now)[0]:
            return True
    return False


def cron_update(paths: Sequence[str], mirror: str, store: "Store", log: Callable[[str], None],
                now: Optional[float] = None) -> List[Outcome]:
    """The cron run's monthly update: claims the day's try in the store first (a run a minute later does not
    start another download), then records the error for status."""
    now = time.time() if now is None else now
    if not due(paths, store.get(STATE_KEY), now):
        return []
    with store.transaction():
        store.put(STATE_KEY, {"tried": now, "error": ""})
    outcomes = update_all([path for path in paths if dbip_kind(path)], mirror, now)
    errors = [outcome.text for outcome in outcomes if not outcome.ok]
    for outcome in outcomes:
        log(outcome.text)
    with store.transaction():
        store.put(STATE_KEY, {"tried": now, "error": "; ".join(errors)})
    return outcomes


def health(policy: "AlertPolicy", store_file: "Path") -> Tuple[List[str], int]:
    """(problems, number of databases) for status: each geoip_db file unreadable or built more than
    STALE_DAYS ago, and the cron run's last update error (geoip_update = monthly)."""
    from app.logins.geoip import database_paths, stale_databases
    from app.store.store import DatabaseError, opened

    databases = database_paths(policy.geoip_db)
    problems = stale_databases(databases)
    if policy.geoip_update != "off":
        try:
            with opened(store_file, read_only=True) as store:
                problems.append(str((store.get(STATE_KEY) or {}).get("error") or ""))
        except (OSError, DatabaseError):
            pass
    return [problem for problem in problems if problem], len(databases)


def monthly(paths: "Paths") -> None:
    """geoip_update = monthly, from the cron run once its alerts are out: cron_update with the config's files;
    a failure keeps the old files and is logged and shown by status, never raised."""
    from app.check.context import oplog
    from app.logins.geoip import database_paths
    from app.store.store import DatabaseError, opened
    from app.errors import UserError
    from app.settings.config import load_config

    try:
        policy = load_config(paths.config_file).policy
        if policy.geoip_update != "monthly" or not policy.geoip_db:
            return
        with opened(paths.store_file) as store:
            cron_update(database_paths(policy.geoip_db), policy.geoip_mirror, store, oplog(paths).warning)
    except (OSError, UserError, DatabaseError):
        return
