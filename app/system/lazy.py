"""Importing a standard module without loading what it imports for rare uses: smtplib imports ssl and hmac
(which loads OpenSSL's _hashlib) for TLS and CRAM-MD5 alone, and email.utils, email.message,
email.generator and copy for send_message() and its address parsing, which ssh_alert does not use: about
20 ms of every login's path in all."""

from __future__ import annotations

import _thread
import importlib
import importlib.util
import sys
import types

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Sequence


def _stand_in(name: str) -> types.ModuleType:
    """A module object that imports the real module name on the first name read from it."""
    module = types.ModuleType(name)
    module.__getattr__ = lambda attribute: getattr(importlib.import_module(name), attribute)  # type: ignore
    return module


def _no_other_thread() -> bool:
    """True when no other thread runs: _thread counts the threads it started, threading's among them."""
    count = getattr(_thread, "_count", None)
    if count is not None:
        return bool(count() == 0)
    threading = sys.modules.get("threading")  # an interpreter without _thread._count
    return threading is None or threading.active_count() == 1


def import_deferring(name: str, deferred: Sequence[str]) -> None:
    """Import module name (once) while each module in deferred that is not loaded yet is a stand-in that imports
    the real module on first use; afterwards everyone else imports the real ones as usual. With other threads
    running (one could read a stand-in while it is in place), a plain import.

    A deferred submodule (email.utils) is also its package's attribute, as an import would make it, so that
    ``import email.utils`` then ``email.utils.parseaddr`` works; the real import replaces it there."""
    if name in sys.modules:
        return
    stand_ins = {}
    if _no_other_thread():
        stand_ins = {module: _stand_in(module) for module in deferred
                     if module not in sys.modules and importlib.util.find_spec(module) is not None}
    sys.modules.update(stand_ins)
    for module, stand_in in stand_ins.items():
        package, _, attribute = module.rpartition(".")
        if package:  # find_spec imported the package
            setattr(sys.modules[package], attribute, stand_in)
    try:
        __import__(name)  # not importlib.import_module: -X importtime (make bench) shows this one
    finally:
        for module, stand_in in stand_ins.items():
            if sys.modules.get(module) is stand_in:
                del sys.modules[module]
