"""The client side of TLS: a context that verifies the server against the ca_file the user named, or else the
system's CAs, without paying OpenSSL 3.0's price for the system's CA bundle at every login.

OpenSSL 3.0 (Debian 12, Ubuntu 22.04 and 24.04, RHEL 9) decodes a CA bundle slowly: create_default_context()
loads the system's 150-odd certificates in 30 to 50 ms (python/cpython#95031, openssl/openssl#16878). The
same CAs sit in OpenSSL's hashed directory (/etc/ssl/certs on Debian, where update-ca-certificates writes
both from one list), which OpenSSL reads during the handshake, one certificate per issuer it looks up. So the
context trusts the directory alone when it names at least as many certificates as the bundle holds; anywhere
else (no such directory, fewer, SSL_CERT_FILE naming a file of the user's) it loads the defaults as
create_default_context() does. The directory's CAs are a subset of the defaults (the bundle's and the
directory's), so it never trusts more; a certificate it cannot verify is tried once more with the defaults.
"""

from __future__ import annotations

import os
import ssl

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Optional, Tuple, Type, TypeVar

    Result = TypeVar("Result")

_BEGIN = b"-----BEGIN CERTIFICATE-----"


def hashed_name(name: str) -> bool:
    """True for a certificate's name in a hashed directory: its subject's hash in 8 hex digits, a dot and a
    number (a revocation list's is .r and a number)."""
    stem, dot, number = name.partition(".")
    return len(stem) == 8 and bool(dot) and number.isdigit() and number.isascii() \
        and all(character in "0123456789abcdef" for character in stem)


def system_ca_directory() -> Optional[str]:
    """The system's hashed CA directory when it names at least as many certificates as the system's CA bundle
    holds (or there is no bundle), and SSL_CERT_FILE names no bundle of the user's; else None."""
    paths = ssl.get_default_verify_paths()
    if not paths.capath or os.environ.get("SSL_CERT_FILE"):
        return None
    try:
        names = sum(1 for name in os.listdir(paths.capath) if hashed_name(name))
        bundled = 0
        if paths.cafile:
            with open(paths.cafile, "rb") as bundle:
                bundled = bundle.read().count(_BEGIN)
    except OSError:
        return None
    return paths.capath if names and names >= bundled else None


def client_context(ca_file: str = "", full_store: bool = False) -> Tuple[ssl.SSLContext, bool]:
    """A context that checks the server's certificate and name: against ca_file alone when given, else the
    system's CAs (their hashed directory unless full_store). Returns it and whether a certificate it cannot
    verify is to be tried again with full_store. Raises OSError, ssl.SSLError or ValueError for a ca_file it
    cannot load."""
    if ca_file:
        return ssl.create_default_context(cafile=ca_file), False
    directory = None if full_store else system_ca_directory()
    if directory is None:
        return ssl.create_default_context(), False
    return ssl.create_default_context(capath=directory), True


def verified(trust: Tuple[ssl.SSLContext, bool], attempt: Callable[[ssl.SSLContext], Result],
             untrusted: Type[BaseException] = ssl.SSLCertVerificationError) -> Result:
    """attempt(context) with trust's context (what client_context returned); when that was the hashed directory
    and attempt raised untrusted (the server's certificate not verified), once more with the full system store.
    Returns what attempt returns; raises what it raises."""
    context, narrowed = trust
    try:
        return attempt(context)
    except untrusted:
        if not narrowed:
            raise
    return attempt(client_context(full_store=True)[0])
