"""`make bench` rows for TLS with the system's CAs (no ca_file): what a TLS context costs as
create_default_context() builds it (OpenSSL 3.0 decoding the whole CA bundle) and as ssh_alert builds it (the
hashed directory, read during the handshake), then hook start to alert accepted over STARTTLS trusting a copy of
the system's store that also holds the test CA (SSL_CERT_DIR)."""

import shutil
import subprocess
from pathlib import Path
from typing import List, Tuple

from bench import PYTHON, ROOT, latency_samples, make_home, median_ms
from support.castore import hashed_copy_of_the_system_store, system_hashed_directory
from support.mailsink import MailSink, TestCA

ROUNDS = 15
# Seconds one context takes to build in a fresh interpreter, ssl already imported (so only the CA loading differs).
CONTEXT_TIME = """
import ssl, sys, time
sys.path.insert(0, sys.argv[2])
from app.channels.tlscontext import client_context
started = time.perf_counter()
ssl.create_default_context() if sys.argv[1] == "bundle" else client_context()
print(time.perf_counter() - started)
"""


def _context_ms(how: str) -> float:
    samples = [float(subprocess.run([PYTHON, "-S", "-c", CONTEXT_TIME, how, str(ROOT)], capture_output=True,
                                    text=True, check=True, env={"PATH": "/usr/bin:/bin"}).stdout)
               for _ in range(ROUNDS)]
    return median_ms(samples)


def bench_tls_trust(base: Path, sink: MailSink) -> List[Tuple[str, str, str]]:
    if system_hashed_directory() is None or not shutil.which("openssl"):
        return [("TLS with the system's CAs", "skipped: no hashed CA directory or no openssl", "")]
    rows = [("TLS context, the system's CAs: create_default_context() (the whole bundle)",
             "{:.2f} ms".format(_context_ms("bundle")), ""),
            ("  ssh_alert's (the hashed directory, after counting its names)", "{:.2f} ms".format(_context_ms("ours")),
             "")]
    ca = TestCA()
    with MailSink("starttls", cert=ca.leaf(), auth={"alice": "s3cret"}) as tls_sink:
        home, environ = make_home(base, tls_sink, "tls-system")
        config = home / ".config" / "ssh-alert" / "config.ini"
        config.write_text(config.read_text().replace("security = none", "security = starttls\nhost = localhost\n"
                                                     "user = alice\npassword_store = file").replace(
            "host = 127.0.0.1\n", ""))
        secrets = home / ".local" / "share" / "ssh-alert" / "secrets.json"
        secrets.parent.mkdir(parents=True)
        secrets.write_text('{"ssh-alert": {"alice": "s3cret"}}')
        secrets.chmod(0o600)
        environ["SSL_CERT_DIR"] = str(hashed_copy_of_the_system_store(base / "tls-store",
                                                                      ca.write_ca_pem(base / "tls-system-ca.pem")))
        samples, floors = latency_samples(environ, tls_sink, ROUNDS)
    floor = median_ms(floors)
    rows.append(("hook start → alert accepted, STARTTLS + AUTH, the system's CAs (median)",
                 "{:.0f} ms ({:.1f}x floor)".format(median_ms(samples), median_ms(samples) / floor), "≤ 8x floor"))
    rows.append(("  floor: python3 -S -c pass, median of one before each login", "{:.1f} ms".format(floor), ""))
    return rows
