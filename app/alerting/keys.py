"""SSH public keys: the SHA256 fingerprint OpenSSH prints, and the comment of the matching authorized_keys line."""

import base64
import binascii
import hashlib
from typing import Optional


def fingerprint(blob_base64: str) -> Optional[str]:
    """Return ``SHA256:<unpadded base64>`` of the decoded key blob (as ``ssh-keygen -lf``), or None if not base64."""
    try:
        blob = base64.b64decode(blob_base64.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None
    if not blob:
        return None
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii").rstrip("=")
    return "SHA256:" + digest


def authorized_key_comment(authorized_keys_text: str, blob_base64: str) -> Optional[str]:
    """Return the comment of the authorized_keys line holding blob_base64 ("" when it has none), or None if absent.

    Options before the key type may contain quoted spaces, so the line is searched for the blob token
    rather than parsed from the left.
    """
    for line in authorized_keys_text.splitlines():
        tokens = line.split()
        if blob_base64 in tokens and not line.lstrip().startswith("#"):
            return " ".join(tokens[tokens.index(blob_base64) + 1:])
    return None
