"""Debian's msmtp, run by its own path with a private msmtprc, relaying to a loopback ``MailSink``.

Nothing here depends on what /usr/sbin/sendmail is (exim4, Debian's default, msmtp-mta, postfix or none):
the package ``msmtp`` installs /usr/bin/msmtp beside any MTA, and msmtp takes sendmail's options
(``-t``, ``-oi``) under any name.
"""

import os
import shlex
import stat
from pathlib import Path
from typing import Iterable, Optional, Union

from support.mailsink import MODES, HangingServer, MailSink

MSMTP = Path("/usr/bin/msmtp")
MSMTP_MISSING = "no {} (Debian's msmtp: run sudo make prereq)".format(MSMTP)

PathLike = Union[str, "os.PathLike[str]"]


def explain_msmtp_failure(command: Iterable[str], returncode: int, stderr: Union[bytes, str]) -> str:
    """Return a failure message for an msmtp run, with the usual fix when one is known."""
    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else stderr
    explanation = "{} exited {}: {}".format(list(command), returncode, text.strip())
    if "Permission denied" in text or "cannot open" in text:
        # Debian/Ubuntu's enforced AppArmor profile for /usr/bin/msmtp only lets
        # it read files directly in /tmp or ~/**/*msmtprc, not pytest's tmp_path.
        explanation += (
            "\nIf AppArmor is enabled, /etc/apparmor.d/usr.bin.msmtp blocks config/CA files"
            " outside /tmp/* and ~/**/*msmtprc: run `sudo aa-complain /usr/bin/msmtp`"
            " (apparmor-utils) or `sudo apparmor_parser -R /etc/apparmor.d/usr.bin.msmtp`."
        )
    return explanation


def _msmtp_value(value: str) -> str:
    """Return ``value`` double-quoted for msmtprc; raises ValueError for characters needing escapes."""
    if any(character in value for character in '\n\r"\\'):
        raise ValueError("msmtprc values here cannot contain newlines, quotes or backslashes: {!r}".format(value))
    return '"{}"'.format(value)


def msmtp_config(
    path: PathLike,
    sink: Union[MailSink, HangingServer],
    ca_file: Optional[PathLike] = None,
    user: Optional[str] = None,
    password: Optional[str] = None,
    *,
    from_address: str = "ssh-alert@localhost",
    mode: Optional[str] = None,
    timeout_seconds: int = 10,
) -> Path:
    """Write an msmtprc (mode 0600) whose default account relays to ``sink``; return its path.

    mode defaults to sink.mode ("plain" for a HangingServer). starttls/ssl
    need ca_file (the CA PEM msmtp must trust). user and password go together
    and turn on AUTH. Raises ValueError for inconsistent arguments.
    """
    mode = mode if mode is not None else sink.mode
    if mode not in MODES:
        raise ValueError("mode must be one of {}, not {!r}".format(MODES, mode))
    if (user is None) != (password is None):
        raise ValueError("give both user and password, or neither")
    lines = [
        "# Written by tests/support/msmtp.py for {!r}".format(sink),
        "account default",
        "host {}".format(sink.host),
        "port {}".format(sink.port),
        "from {}".format(_msmtp_value(from_address)),
        "timeout {}".format(timeout_seconds),
        "syslog off",
    ]
    if mode == "plain":
        lines.append("tls off")
    else:
        if ca_file is None:
            raise ValueError("mode {!r} needs ca_file (msmtp would fall back to the system CAs)".format(mode))
        lines += [
            "tls on",
            "tls_starttls {}".format("on" if mode == "starttls" else "off"),
            "tls_trust_file {}".format(_msmtp_value(os.fspath(Path(ca_file).resolve()))),
        ]
    if user is not None and password is not None:
        # Without TLS msmtp's "auth on" refuses every method that sends the
        # password in the clear; naming the method makes it use PLAIN anyway.
        lines += [
            "auth {}".format("plain" if mode == "plain" else "on"),
            "user {}".format(_msmtp_value(user)),
            "password {}".format(_msmtp_value(password)),
        ]
    else:
        lines.append("auth off")
    target = Path(path)
    descriptor = os.open(os.fspath(target), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as config_file:
        # The file may have existed with wider permissions, and (for non-root
        # users) msmtp exits 78 on a group/world-readable config holding a password.
        os.fchmod(config_file.fileno(), 0o600)
        config_file.write("\n".join(lines) + "\n")
    return target


def sendmail_wrapper(directory: PathLike, msmtprc: PathLike) -> Path:
    """Write an executable ``directory/sendmail`` that runs /usr/bin/msmtp with ``msmtprc``; return its path.

    ssh_alert runs it as it runs any sendmail (``-t -oi``). Raises AssertionError if msmtp is missing.
    """
    if not MSMTP.is_file():
        raise AssertionError(MSMTP_MISSING)
    script = Path(directory) / "sendmail"
    script.write_text(
        '#!/bin/sh\nexec {} -C {} "$@"\n'.format(
            shlex.quote(os.fspath(MSMTP)), shlex.quote(os.fspath(Path(msmtprc).resolve()))
        ),
        encoding="utf-8",
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return script
