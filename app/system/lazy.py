"""Importing a standard module without loading what it imports for rare uses: smtplib imports ssl and hmac
(which loads OpenSSL's _hashlib) at its top, about 10 ms of every login's path, for TLS and CRAM-MD5 alone."""

import importlib
import importlib.util
import sys
import types
from typing import Sequence


def _stand_in(name: str) -> types.ModuleType:
    """A module object that imports the real module name on the first name read from it."""
    module = types.ModuleType(name)
    module.__getattr__ = lambda attribute: getattr(importlib.import_module(name), attribute)  # type: ignore
    return module


def import_deferring(name: str, deferred: Sequence[str]) -> None:
    """Import module name (once) while each module in deferred that is not loaded yet is a stand-in that imports
    the real module on first use; afterwards everyone else imports the real ones as usual. With other threads
    running (one could read a stand-in while it is in place), a plain import."""
    if name in sys.modules:
        return
    threading = sys.modules.get("threading")
    stand_ins = {}
    if threading is None or threading.active_count() == 1:
        stand_ins = {module: _stand_in(module) for module in deferred
                     if module not in sys.modules and importlib.util.find_spec(module) is not None}
    sys.modules.update(stand_ins)
    try:
        __import__(name)  # not importlib.import_module: -X importtime (make bench) shows this one
    finally:
        for module, stand_in in stand_ins.items():
            if sys.modules.get(module) is stand_in:
                del sys.modules[module]
