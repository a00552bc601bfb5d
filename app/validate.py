"""Email address checks for setup, wrapping email-validator (imported here only: check never needs it)."""

from typing import List, Optional, Sequence, Tuple

DNS_TIMEOUT = 3  # seconds; a machine without DNS must not make setup wait long

NOT_AN_ADDRESS = "{address!r} is not a valid email address: {reason}"
NO_ADDRESS = "no address given"
DNS_WARNING = "warning: could not confirm that {domain} receives mail ({reason}); keeping {address} " \
              "(this machine may have no working DNS)"


class AddressError(ValueError):
    """An address that is not syntactically valid; str() says why, for the person typing it."""


def normalize_address(address: str) -> str:
    """Return the normalized form of one address (syntax only, no DNS); raises AddressError."""
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(address.strip(), check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise AddressError(NOT_AN_ADDRESS.format(address=address.strip(), reason=error)) from None


def normalize_addresses(addresses: Sequence[str]) -> Tuple[Tuple[str, ...], List[str]]:
    """Normalize each address; returns (the normalized addresses, one error line per invalid address)."""
    normalized, errors = [], []
    for address in addresses:
        try:
            normalized.append(normalize_address(address))
        except AddressError as error:
            errors.append(str(error))
    if not addresses:
        errors.append(NO_ADDRESS)
    return tuple(normalized), errors


def deliverability_warning(address: str, timeout: float = DNS_TIMEOUT) -> Optional[str]:
    """Look up the domain's mail servers; return a warning line when that fails, else None.

    Never raises: a machine without DNS can still deliver through its SMTP relay.
    """
    from email_validator import validate_email

    domain = address.rpartition("@")[2]
    try:
        validate_email(address, check_deliverability=True, timeout=timeout)  # type: ignore[arg-type]
    except Exception as error:  # EmailUndeliverableError, and any resolver failure: only a warning
        return DNS_WARNING.format(domain=domain, reason=" ".join(str(error).split())[:160] or type(error).__name__,
                                  address=address)
    return None
