"""SHA-256 from the interpreter's own module, the one the login path uses (log anchors, Message-IDs, event ids,
key fingerprints): hashlib loads OpenSSL's _hashlib first, about 4 ms on every login. Same digests as
hashlib.sha256; a Python built without the builtin hashes falls back to hashlib."""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # the same interface as hashlib's (the builtin modules have no stubs)
    from hashlib import sha256
elif sys.version_info >= (3, 12):
    try:
        from _sha2 import sha256
    except ImportError:
        from hashlib import sha256
else:
    try:
        from _sha256 import sha256
    except ImportError:
        from hashlib import sha256

__all__ = ["sha256"]
