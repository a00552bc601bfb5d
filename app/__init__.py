"""ssh_alert: email the account owner the moment someone logs in over SSH."""

from __future__ import annotations

from app.system.lazy import import_deferring

__version__ = "0.2.0"

# Here, before any module of ours imports pathlib: it imports urllib.parse (a regular expression and eight named
# tuples) for Path.as_uri() alone, about 1 ms of every login.
import_deferring("pathlib", ("urllib.parse",), {"urllib.parse": ("quote_from_bytes",)})
