"""Key fingerprints match what ssh-keygen prints; the authorized_keys comment is found as a user wrote it."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from app.alerting.keys import authorized_key_comment, fingerprint, read_key_comment

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


def test_fingerprint_of_a_real_key_equals_ssh_keygen_output(tmp_path: Path) -> None:
    keygen = ssh_keygen()
    key = tmp_path / "key"
    subprocess.run([keygen, "-t", "ed25519", "-N", "", "-C", "alice@laptop", "-f", str(key), "-q"], check=True,
                   stdin=subprocess.DEVNULL, timeout=30)
    key_type, blob, comment = (tmp_path / "key.pub").read_text().split()
    assert (key_type, comment) == ("ssh-ed25519", "alice@laptop")
    printed = subprocess.run([keygen, "-lf", str(tmp_path / "key.pub")], check=True, capture_output=True,
                             text=True, timeout=30).stdout
    assert fingerprint(blob) == printed.split()[1]
    assert fingerprint(blob).startswith("SHA256:") and not fingerprint(blob).endswith("=")


def test_fingerprint_of_a_known_blob_is_stable() -> None:
    assert fingerprint(BLOB) == fingerprint(BLOB)
    assert fingerprint(BLOB) != fingerprint(OTHER_BLOB)


@pytest.mark.parametrize("text", ["not base64!", "AAAA C3Nz", "AAAAC3NzaC1lZDI1NTE5AAAAIOMq=x", "", "é"])
def test_fingerprint_of_invalid_base64_is_none(text: str) -> None:
    assert fingerprint(text) is None


def test_authorized_key_comment_found_after_options_with_quoted_spaces() -> None:
    text = ('ssh-ed25519 {} someone else\n'
            'from="1.2.3.4",command="echo a b" ssh-ed25519 {} my laptop\n').format(OTHER_BLOB, BLOB)
    assert authorized_key_comment(text, BLOB) == "my laptop"


def test_authorized_key_comment_of_a_key_without_comment_is_empty() -> None:
    assert authorized_key_comment("ssh-ed25519 {}\n".format(BLOB), BLOB) == ""


def test_authorized_key_comment_of_an_absent_key_is_none() -> None:
    assert authorized_key_comment("ssh-ed25519 {} other\n".format(OTHER_BLOB), BLOB) is None
    assert authorized_key_comment("", BLOB) is None


def test_authorized_key_comment_ignores_commented_out_lines() -> None:
    assert authorized_key_comment("# ssh-ed25519 {} old laptop\n".format(BLOB), BLOB) is None
    assert authorized_key_comment("  #ssh-ed25519 {} old laptop\nssh-ed25519 {} new laptop\n".format(BLOB, BLOB),
                                  BLOB) == "new laptop"


def test_authorized_key_comment_does_not_match_a_key_that_merely_starts_with_the_blob() -> None:
    assert authorized_key_comment("ssh-ed25519 {}extra laptop\n".format(BLOB), BLOB) is None


def test_read_key_comment_with_a_missing_file_is_none(tmp_path: Path) -> None:
    assert read_key_comment(tmp_path / "no" / "authorized_keys", BLOB) is None


def test_read_key_comment_reads_the_file(tmp_path: Path) -> None:
    authorized_keys = tmp_path / "authorized_keys"
    authorized_keys.write_bytes('ssh-ed25519 {} caf\xe9 laptop\n'.format(BLOB).encode("latin-1"))
    assert read_key_comment(authorized_keys, BLOB) == "caf\ufffd laptop"
