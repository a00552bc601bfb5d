"""SSH public keys: the base64 key blob decoded, its type, and the SHA256 fingerprint OpenSSH prints
(app.watch.keywatch reads authorized_keys with these)."""

from __future__ import annotations

import binascii
import re

from app.system.sha import sha256

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional


# base64.b64decode(validate=True)'s own check, then its own decoder: the base64 module (and struct) cost
# about 1 ms of every login.
_STRICT_BASE64 = rb"[A-Za-z0-9+/]*={0,2}"


def decode_blob(blob_base64: str) -> Optional[bytes]:
    """The key blob that blob_base64 encodes (strict base64), or None when it is not base64."""
    try:
        data = blob_base64.encode("ascii")
        if not re.fullmatch(_STRICT_BASE64, data):
            return None
        return binascii.a2b_base64(data)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None


def blob_type(blob_base64: str) -> Optional[str]:
    """The key type named inside a public key blob (its first string), or None when it is not one."""
    blob = decode_blob(blob_base64)
    if blob is None:
        return None
    length = int.from_bytes(blob[:4], "big")
    if len(blob) < 4 + length or not 0 < length < 100:
        return None
    return blob[4:4 + length].decode("ascii", "replace")


def fingerprint(blob_base64: str) -> Optional[str]:
    """Return ``SHA256:<unpadded base64>`` of the decoded key blob (as ``ssh-keygen -lf``), or None if not base64."""
    blob = decode_blob(blob_base64)
    if not blob:
        return None
    digest = binascii.b2a_base64(sha256(blob).digest(), newline=False).decode("ascii").rstrip("=")
    return "SHA256:" + digest
