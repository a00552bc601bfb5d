"""`make bench` rows for geoip_db: the login check with it set against without, and the reader alone."""

import statistics
import time
from pathlib import Path
from typing import Dict, List, Tuple

from bench import PYTHON, check_command, make_home, median_ms, timed
from support.mailsink import MailSink

MMDB = Path(__file__).resolve().parent / "fixtures" / "mmdb"
DATABASES = "{}, {}".format(MMDB / "dbip-city-lite-test.mmdb", MMDB / "dbip-asn-lite-test.mmdb")


def _home(base: Path, sink: MailSink, name: str, policy: str) -> Tuple[Path, Dict[str, str]]:
    home, environ = make_home(base, sink, name, policy="max_per_hour = 10000\ndigest_after = 1000\n"
                              "reverse_dns = no\n" + policy)  # no DNS wait in either: the difference is geoip's
    timed(check_command(), environ)  # seed
    return home / ".local" / "state" / "ssh-alert" / "logins.log", environ


def _check_per_login(base: Path, sink: MailSink, rounds: int) -> Tuple[List[float], List[float]]:
    """(without, with) seconds of a check alerting one new login, the two accounts taking turns (the machine's
    load drifts alike for both)."""
    homes = [_home(base, sink, "geo-off", ""), _home(base, sink, "geo-on", "geoip_db = {}\n".format(DATABASES))]
    samples: Tuple[List[float], List[float]] = ([], [])
    for number in range(rounds):
        for index, (log, environ) in enumerate(homes):
            with open(str(log), "ab") as handle:
                handle.write("{} 203.0.113.{} alice publickey cport={} saddr=10.0.0.1 sport=22 tty=none "
                             "kind=command\n".format(time.strftime("%Y-%m-%d %H:%M:%S +0000", time.gmtime()),
                                                     number % 250 + 1, 30000 + number).encode())
            samples[index].append(timed(check_command(), environ)[0])
    return samples


COLD = """
import sys, time
import app.check.dispatch, app.check.run, app.channels.delivery, app.channels.smtp  # what a check run has imported
started = time.perf_counter()
from app.logins.geoip import Locator, database_paths
locator = Locator(database_paths(sys.argv[1]))
place = locator.locate("203.0.113.7")
assert place.country == "DE" and place.asn == 64500
print(time.perf_counter() - started)
"""


def _cold_cost(rounds: int) -> float:
    """Seconds a fresh process spends on geoip for one login: imports, opening both files, the lookup."""
    import subprocess

    from bench import ROOT

    return statistics.median(float(subprocess.run([PYTHON, "-S", "-c", COLD, DATABASES], env={"PYTHONPATH": str(ROOT)},
                                                  capture_output=True, text=True, check=True).stdout)
                             for _ in range(rounds))


def bench_geoip(base: Path, sink: MailSink, rounds: int = 25) -> List[Tuple[str, str, str]]:
    floor = median_ms([timed([PYTHON, "-S", "-c", "pass"], {})[0] for _ in range(15)])
    off, on = _check_per_login(base, sink, rounds)
    without, with_geo = median_ms(off), median_ms(on)
    cold = _cold_cost(rounds)
    from app.system.mmdb import Reader

    opened, looked = [], []
    for number in range(200):
        started = time.perf_counter()
        reader = Reader(str(MMDB / "maxmind" / "GeoIP2-City-Test.mmdb"))
        middle = time.perf_counter()
        reader.lookup("81.2.69.{}".format(160 + number % 32))
        looked.append(time.perf_counter() - middle)
        opened.append(middle - started)
        reader.close()
    return [("check, one new login, without geoip_db (median)",
             "{:.0f} ms ({:.1f}x floor)".format(without, without / floor), ""),
            ("check, one new login, geoip_db city + ASN (median)",
             "{:.0f} ms ({:.1f}x floor)".format(with_geo, with_geo / floor), ""),
            ("  difference (noisy: two whole runs)", "{:+.1f} ms".format(with_geo - without), ""),
            ("geoip's own part of a check: imports, open 2 files, locate (median)",
             "{:.2f} ms ({:.2f}x floor)".format(cold * 1000, cold * 1000 / floor), "≤ 2 ms"),
            ("  MMDB open (metadata) / one city lookup (median)",
             "{:.3f} ms / {:.3f} ms".format(statistics.median(opened) * 1000, statistics.median(looked) * 1000), ""),
            ("  floor: python3 -S -c pass (median)", "{:.1f} ms".format(floor), "")]
