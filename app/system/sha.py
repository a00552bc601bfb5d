"""SHA-256 from the interpreter's own module, the one the login path uses (log anchors, Message-IDs, event ids,
key fingerprints): hashlib loads OpenSSL's _hashlib first, about 4 ms on every login. Same digests as
hashlib.sha256; a Python built without the builtin hashes falls back to hashlib."""

try:
    from _sha2 import sha256  # type: ignore[import-not-found]  # Python 3.12 and newer
except ImportError:
    try:
        from _sha256 import sha256  # type: ignore[import-not-found,no-redef]  # Python 3.8 to 3.11
    except ImportError:
        from hashlib import sha256  # type: ignore[assignment]  # noqa: F401

__all__ = ["sha256"]
