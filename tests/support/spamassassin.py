"""SpamAssassin's verdict on an email as a recipient's mail server would see it, offline.

Debian's ``spamassassin`` with its shipped rules (/usr/share/spamassassin, never sa-update's), local tests
only (``-L``: no DNS blocklists, Razor, Pyzor or URIBL), no Bayes, and its own home and site directory, so
neither the machine's local.cf nor a user's ~/.spamassassin changes the score.
"""

import email.utils
import re
import shutil
import subprocess
from pathlib import Path
from typing import NamedTuple, Tuple

from support.faketime import faked_clock
from support.mailsink import ReceivedMessage

SPAMASSASSIN = Path("/usr/bin/spamassassin")
SHIPPED_RULES = Path("/usr/share/spamassassin")
PLUGIN_LOADERS = Path("/etc/spamassassin")  # the package's *.pre files: which plugins load (no rules)
MISSING = "no {} (Debian's spamassassin: run sudo make prereq)".format(SPAMASSASSIN)

# The sending host as a recipient's MX sees it: a public address with reverse DNS (no address here is ever
# contacted: -L runs no network test). Documentation ranges would fire RCVD_ILLEGAL_IP.
CLIENT_ADDRESS = "93.184.216.34"
CLIENT_RDNS = "web1.example.com"
MX = "mx.example.net"

_STATUS = re.compile(r"^X-Spam-Status: (Yes|No), score=(-?[\d.]+) required=[\d.]+ tests=(.*?)\s+autolearn=",
                     re.MULTILINE | re.DOTALL)


class Verdict(NamedTuple):
    score: float
    rules: Tuple[str, ...]
    report: str  # SpamAssassin's "Content analysis details": each rule with its points

    def __str__(self) -> str:
        return "score {} ({}):\n{}".format(self.score, ", ".join(self.rules) or "no rule", self.report)


def as_delivered(received: ReceivedMessage) -> bytes:
    """The bytes a recipient's SpamAssassin reads: Return-Path and the Received header its MX adds,
    naming the EHLO the sender gave (the sink recorded it) from a public address, so the sending host is
    the first untrusted hop and SpamAssassin's HELO and relay rules judge it."""
    protocol = "ESMTPS" if received.tls else "ESMTP"
    header = ("Return-Path: <{sender}>\r\n"
              "Received: from {helo} ({rdns} [{address}])\r\n"
              "\tby {mx} (Postfix) with {protocol} id 4Hx2Lq0z3Kz9sQR\r\n"
              "\tfor <{recipient}>; {date}\r\n").format(
        sender=received.envelope_from, helo=received.helo or "unknown", rdns=CLIENT_RDNS, address=CLIENT_ADDRESS,
        mx=MX, protocol=protocol, recipient=received.envelope_to[0], date=email.utils.formatdate())
    return header.encode("ascii") + received.raw


def verdict(message: bytes, home: Path) -> Verdict:
    """Run ``spamassassin -L -t`` on message with home as its private HOME; raises AssertionError on failure."""
    site = home / "site"
    site.mkdir(parents=True, exist_ok=True)
    for loader in PLUGIN_LOADERS.glob("*.pre"):
        shutil.copy(str(loader), str(site / loader.name))
    prefs = home / "user_prefs"
    prefs.write_text("use_bayes 0\nbayes_auto_learn 0\n")
    command = [str(SPAMASSASSIN), "--local", "--test-mode", "--configpath", str(SHIPPED_RULES),
               "--siteconfigpath", str(site), "--prefspath", str(prefs)]
    result = subprocess.run(command, input=message, capture_output=True, timeout=120,
                            env=dict({"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}, **faked_clock()))
    output = result.stdout.decode("utf-8", "replace")
    status = _STATUS.search(output)
    if result.returncode != 0 or status is None:
        raise AssertionError("{} exited {}: {}\n{}".format(command, result.returncode,
                                                          result.stderr.decode("utf-8", "replace"), output[-2000:]))
    rules = tuple(rule for rule in re.split(r"[\s,]+", status.group(3)) if rule and rule != "none")
    report = output.partition("Content analysis details:")[2].strip()
    return Verdict(float(status.group(2)), rules, report)
