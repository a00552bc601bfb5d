"""Importing a standard module without loading what it imports for rare uses: smtplib imports ssl and hmac
(which loads OpenSSL's _hashlib) for TLS and CRAM-MD5 alone, and email.utils, email.message,
email.generator and copy for send_message() and its address parsing, which ssh_alert does not use; pathlib
imports urllib.parse for Path.as_uri() alone (app's __init__): about 20 ms of every login's path in all."""

from __future__ import annotations

import _thread
import importlib
import importlib.machinery
import sys
import types

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Mapping, Optional, Sequence


def _forwarding(name: str, function: str) -> Callable[..., Any]:
    """A function that imports module name when called, then calls its function."""
    def forward(*args: Any, **keywords: Any) -> Any:
        return getattr(importlib.import_module(name), function)(*args, **keywords)
    return forward


def _stand_in(name: str, package: bool, functions: Sequence[str] = ()) -> types.ModuleType:
    """A module object that imports the real module name on the first name read from it, but for functions:
    reading one (``from name import function``) gives a function that imports the module when called. package:
    whether the real one is a package (a ``from`` import asks for __path__, which only a package has)."""
    def lookup(attribute: str) -> Any:
        if attribute == "__path__" and not package:
            raise AttributeError(attribute)
        return getattr(importlib.import_module(name), attribute)

    module = types.ModuleType(name)
    module.__getattr__ = lookup  # type: ignore
    for function in functions:
        setattr(module, function, _forwarding(name, function))
    return module


def _find_spec(module: str) -> Optional[importlib.machinery.ModuleSpec]:
    """Where module's source is (its package imported first), or None: importlib.util.find_spec, for the modules
    of files deferred here, without importing importlib.util (typing comes with it on Python 3.9)."""
    package, _, _ = module.rpartition(".")
    path = getattr(importlib.import_module(package), "__path__", None) if package else None
    return importlib.machinery.PathFinder.find_spec(module, path)


def _no_other_thread() -> bool:
    """True when no other thread runs: _thread counts the threads it started, threading's among them."""
    count = getattr(_thread, "_count", None)
    if count is not None:
        return bool(count() == 0)
    threading = sys.modules.get("threading")  # an interpreter without _thread._count
    return threading is None or threading.active_count() == 1


def import_deferring(name: str, deferred: Sequence[str],
                     functions: Optional[Mapping[str, Sequence[str]]] = None) -> None:
    """Import module name (once) while each module in deferred that is not loaded yet is a stand-in that imports
    the real module on first use; afterwards everyone else imports the real ones as usual. With other threads
    running (one could read a stand-in while it is in place), a plain import. functions: for a deferred module
    that name imports functions from (``from module import function``), those functions' names.

    A deferred submodule (email.utils) is also its package's attribute, as an import would make it, so that
    ``import email.utils`` then ``email.utils.parseaddr`` works; the real import replaces it there."""
    if name in sys.modules:
        return
    stand_ins = {}
    if _no_other_thread():
        specs = {module: _find_spec(module) for module in deferred if module not in sys.modules}
        stand_ins = {module: _stand_in(module, spec.submodule_search_locations is not None,
                                       (functions or {}).get(module, ()))
                     for module, spec in specs.items() if spec is not None}
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
