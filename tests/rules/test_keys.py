"""Key fingerprints match what ssh-keygen prints; the authorized_keys comment is found as a user wrote it."""

import os
import shutil
import subprocess
from pathlib import Path
from typing import Dict, List

import pytest

from app.rules.keys import fingerprint
from app.watch.keywatch import snapshot_keys

BLOB = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
OTHER_BLOB = "AAAAC3NzaC1lZDI1NTE5AAAAIBBBBnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


def ssh_keygen() -> str:
    """Path of ssh-keygen; skipped locally when missing, a failure in CI."""
    found = shutil.which("ssh-keygen")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("ssh-keygen is required in CI")
        pytest.skip("ssh-keygen is not installed")
    return found


def printed_fingerprint(keygen: str, public_key: Path) -> str:
    """The SHA256 fingerprint ssh-keygen -lf prints for public_key."""
    printed = subprocess.run([keygen, "-lf", str(public_key)], check=True, capture_output=True, text=True,
                             timeout=30).stdout
    return printed.split()[1]


@pytest.mark.parametrize("key_type", ["ed25519", "rsa", "ecdsa"])
def test_fingerprint_of_a_generated_key_is_what_ssh_keygen_prints(tmp_path: Path, key_type: str) -> None:
    keygen = ssh_keygen()
    key = tmp_path / "key"
    subprocess.run([keygen, "-t", key_type, "-N", "", "-C", "alice@laptop", "-f", str(key), "-q"], check=True,
                   stdin=subprocess.DEVNULL, timeout=60)
    _, blob, comment = (tmp_path / "key.pub").read_text(encoding="ascii").split()
    assert comment == "alice@laptop"
    expected = printed_fingerprint(keygen, tmp_path / "key.pub")
    assert expected.startswith("SHA256:") and not expected.endswith("=")
    assert fingerprint(blob) == expected


def test_fingerprint_of_a_known_blob_is_what_ssh_keygen_prints_for_it(tmp_path: Path) -> None:
    assert fingerprint(BLOB) == "SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU"
    assert fingerprint(OTHER_BLOB) != fingerprint(BLOB)
    public_key = tmp_path / "known.pub"
    public_key.write_text("ssh-ed25519 {} known\n".format(BLOB), encoding="ascii")
    assert printed_fingerprint(ssh_keygen(), public_key) == fingerprint(BLOB)


@pytest.mark.parametrize("text", ["not base64!", "AAAA C3Nz", "AAAAC3NzaC1lZDI1NTE5AAAAIOMq=x", "", "é"])
def test_fingerprint_of_invalid_base64_is_none(text: str) -> None:
    assert fingerprint(text) is None


def comments_of(tmp_path: Path, data: bytes) -> Dict[str, List[str]]:
    """The comments of each key in an authorized_keys file holding data, by fingerprint, as check reads them."""
    keys = tmp_path / "authorized_keys"
    keys.write_bytes(data)
    return {digest: [entry["comment"] for entry in entries] for digest, entries in snapshot_keys([keys])["keys"].items()}


def test_authorized_key_comment_found_after_options_with_quoted_spaces(tmp_path: Path) -> None:
    text = ('ssh-ed25519 {} someone else\n'
            'from="1.2.3.4",command="echo a b" ssh-ed25519 {} my laptop\n').format(OTHER_BLOB, BLOB)
    assert comments_of(tmp_path, text.encode())[fingerprint(BLOB)] == ["my laptop"]


def test_authorized_key_comment_of_a_key_without_comment_is_empty(tmp_path: Path) -> None:
    assert comments_of(tmp_path, "ssh-ed25519 {}\n".format(BLOB).encode())[fingerprint(BLOB)] == [""]


def test_authorized_key_comment_of_an_absent_key_is_none(tmp_path: Path) -> None:
    assert fingerprint(BLOB) not in comments_of(tmp_path, "ssh-ed25519 {} other\n".format(OTHER_BLOB).encode())
    assert comments_of(tmp_path, b"") == {}


def test_authorized_key_comment_ignores_commented_out_lines(tmp_path: Path) -> None:
    assert comments_of(tmp_path, "# ssh-ed25519 {} old laptop\n".format(BLOB).encode()) == {}
    assert comments_of(tmp_path, "  #ssh-ed25519 {} old laptop\nssh-ed25519 {} new laptop\n".format(
        BLOB, BLOB).encode())[fingerprint(BLOB)] == ["new laptop"]


def test_authorized_key_comment_does_not_match_a_key_that_merely_starts_with_the_blob(tmp_path: Path) -> None:
    assert fingerprint(BLOB) not in comments_of(tmp_path, "ssh-ed25519 {}extra laptop\n".format(BLOB).encode())


def test_authorized_key_comment_in_a_file_that_is_not_utf8_keeps_the_rest_of_the_comment(tmp_path: Path) -> None:
    data = 'ssh-ed25519 {} caf\xe9 laptop\n'.format(BLOB).encode("latin-1")
    assert comments_of(tmp_path, data)[fingerprint(BLOB)] == ["caf\ufffd laptop"]
