"""SSH public keys: the SHA256 fingerprint OpenSSH prints (app.watch.keywatch reads authorized_keys)."""

import base64
import binascii
from typing import Optional

from app.system.sha import sha256


def fingerprint(blob_base64: str) -> Optional[str]:
    """Return ``SHA256:<unpadded base64>`` of the decoded key blob (as ``ssh-keygen -lf``), or None if not base64."""
    try:
        blob = base64.b64decode(blob_base64.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None
    if not blob:
        return None
    digest = base64.b64encode(sha256(blob).digest()).decode("ascii").rstrip("=")
    return "SHA256:" + digest
