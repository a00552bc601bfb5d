"""`make demo`: the whole round trip on this machine, with nothing configured beforehand.

A loopback SMTP server, a temporary HOME holding ~/bin/ssh_alert.pyz and a config, one simulated SSH
login through bash_profile.snippet, and the email that arrived, printed.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(ROOT))  # the HTTPS test server's module imports app/

from support.hookrun import hook_command  # noqa: E402
from support.httpsworld import HttpsWorld  # noqa: E402
from support.mailsink import MailSink  # noqa: E402

SIGNING_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # a demo key: setup --channel webhook stores a real one

PYZ = ROOT / "dist" / "ssh_alert.pyz"


def step(text: str) -> None:
    print("\n== " + text)


def main() -> int:
    if not PYZ.exists():
        print("build first: make build", file=sys.stderr)
        return 2
    python = os.path.realpath(sys.executable)  # the interpreter itself, not this venv
    with tempfile.TemporaryDirectory(prefix="ssh-alert-demo-") as temporary, MailSink("plain") as sink, \
            HttpsWorld() as receiver:
        home = Path(temporary) / "home"
        (home / "bin").mkdir(parents=True)
        shutil.copy2(str(PYZ), str(home / "bin" / "ssh_alert.pyz"))
        config_dir = home / ".config" / "ssh-alert"
        config_dir.mkdir(parents=True, mode=0o700)
        config = ("[alert]\nto = you@example.com\nfrom = ssh-alert@example.com\nmethod = smtp\n"
                  "host_label = demo.example.com\nchannels = email, webhook\n\n[smtp]\nhost = {}\nport = {}\n"
                  "security = none\n; loopback only: ssh_alert refuses an unencrypted AUTH to any other host\n\n"
                  "[webhook]\nurl = {}/ssh-logins\nsigning_secret_command = echo {}\nca_file = {}\n").format(
                      sink.host, sink.port, receiver.url, SIGNING_SECRET, receiver.ca_file)
        (config_dir / "config.ini").write_text(config)
        (config_dir / "config.ini").chmod(0o600)  # as setup writes it
        environ = {"HOME": str(home), "PATH": os.path.dirname(python) + ":/usr/bin:/bin", "LANG": "C.UTF-8"}

        step("loopback SMTP server listening on {}:{}".format(sink.host, sink.port))
        step("{}/.config/ssh-alert/config.ini".format(home))
        print(config, end="")

        step("first check seeds the state (earlier logins are history, not alerts)")
        subprocess.run([python, str(home / "bin" / "ssh_alert.pyz"), "check"], env=environ, check=True)
        print((home / ".local/state/ssh-alert/ssh_alert.log").read_text(), end="")

        step("an SSH login: sourcing bash_profile.snippet as sshd's login shell would")
        login = dict(environ, USER="alice", SSH_CONNECTION="203.0.113.7 51234 10.0.0.1 22", SSH_TTY="/dev/pts/0")
        started = time.monotonic()
        subprocess.run(hook_command(), env=login, check=True,
                       stdin=subprocess.DEVNULL)
        returned = time.monotonic() - started
        print("hook returned after {:.1f} ms; the check runs detached".format(returned * 1000))
        print("login log: " + (home / ".local/state/ssh-alert/logins.log").read_text(), end="")

        (received,) = sink.wait_for(1, timeout=30)
        step("email accepted by the SMTP server {:.0f} ms after the login started".format(
            (received.received_at - started) * 1000))
        print(received.raw.decode("utf-8", "replace").replace("\r\n", "\n"))

        (request,) = receiver.wait_for(1, timeout=30)
        step("the same login POSTed to the webhook (HTTPS, Standard Webhooks signature)")
        from app.channels.webhook import verify_standard

        for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
            print("{}: {}".format(name, request.headers[name]))
        print("signature valid: {}".format(verify_standard(SIGNING_SECRET, request.headers["webhook-id"],
                                                           int(request.headers["webhook-timestamp"]), request.body,
                                                           request.headers["webhook-signature"])))
        print(json.dumps(json.loads(request.body), indent=2, ensure_ascii=False))

        step("status (this demo installs no hooks and no cron line: on a real account `install` adds them, and "
             "status says FAIL until it has)")
        subprocess.run([python, str(home / "bin" / "ssh_alert.pyz"), "status"], env=environ)
    return 0


if __name__ == "__main__":
    sys.exit(main())
