"""A copy of the system's hashed CA directory (OpenSSL's <subject hash>.<n> names), with the test CA added when
given: a client that trusts the system's CAs then verifies a loopback server's test certificate."""

import os
import ssl
import subprocess
from pathlib import Path
from typing import Optional

from app.channels.tlscontext import hashed_name


def system_hashed_directory() -> Optional[str]:
    """The system's CA directory when it holds hashed names (Debian's ca-certificates), else None."""
    system = ssl.get_default_verify_paths().capath
    return system if system is not None and any(hashed_name(name) for name in os.listdir(system)) else None


def hashed_copy_of_the_system_store(directory: Path, ca_pem: Optional[Path] = None) -> Path:
    """directory made a hashed directory holding the system's certificates (links) and, when given, the test CA
    under its subject hash, as `openssl x509 -hash` names it. Needs system_hashed_directory()."""
    system = system_hashed_directory()
    assert system is not None, "no hashed system CA directory"
    directory.mkdir(parents=True)
    for name in os.listdir(system):
        if hashed_name(name):
            (directory / name).symlink_to(os.path.realpath(os.path.join(system, name)))
    if ca_pem is not None:
        subject_hash = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", str(ca_pem)], check=True,
                                      capture_output=True, text=True).stdout.strip()
        number = 0  # OpenSSL looks up <hash>.0, .1, ... and stops at the first number missing
        while (directory / "{}.{}".format(subject_hash, number)).exists():
            number += 1
        (directory / "{}.{}".format(subject_hash, number)).symlink_to(ca_pem)
    return directory
