"""``geoip update``: download the DB-IP Lite files named in geoip_db now (app.check.geoupdate)."""

from __future__ import annotations

from app.commands.result import Result
from app.errors import ExitCode, UserError
from app.system.paths import Paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

NO_DATABASES = "geoip_db is not set in {path}; download a DB-IP Lite file first (see docs/geoip.md)"
NO_DBIP = "geoip_db in {path} names no DB-IP Lite file: nothing to update (see docs/geoip.md)"


def add_parser(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser("geoip", help="update the offline location databases (geoip_db)")
    parser.add_argument("action", choices=["update"],
                        help="update: download this month's DB-IP Lite files, verify them, replace atomically")
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON")


def run(paths: Paths, arguments: "argparse.Namespace") -> Result:
    """Update every DB-IP Lite file of geoip_db; exit 1 when one failed (its old file is kept)."""
    from app.logins.geoip import database_paths
    from app.check.geoupdate import update_all
    from app.settings.config import load_config

    config = load_config(paths.config_file)
    databases = database_paths(config.policy.geoip_db)
    if not databases:
        raise UserError(NO_DATABASES.format(path=paths.config_file), ExitCode.USAGE)
    from app.check.geoupdate import dbip_kind

    if not any(dbip_kind(path) for path in databases):
        raise UserError(NO_DBIP.format(path=paths.config_file), ExitCode.NOT_DONE)
    outcomes = update_all(databases, config.policy.geoip_mirror)
    failed = any(not outcome.ok for outcome in outcomes)
    return Result(lines=[outcome.text for outcome in outcomes], exit_code=ExitCode.NOT_DONE if failed else ExitCode.OK,
                  data=[outcome._asdict() for outcome in outcomes])
