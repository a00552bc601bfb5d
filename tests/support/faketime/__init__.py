"""`make test-future`: the tests once more under libfaketime, 400 days ahead (see sitecustomize.py here)."""

import os
from typing import Dict

# libfaketime's variables (`make test-future`): a subprocess started with a clean environment must see the
# same faked clock as the test that started it.
# PYTHONPATH carries support/faketime/sitecustomize.py, which keeps time.sleep working under libfaketime.
FAKETIME_VARIABLES = ("LD_PRELOAD", "FAKETIME", "FAKETIME_DONT_FAKE_MONOTONIC", "FAKETIME_SHARED", "PYTHONPATH")


def faked_clock() -> Dict[str, str]:
    """Returns libfaketime's variables from this process's environment (empty outside `make test-future`)."""
    if not os.environ.get("FAKETIME"):
        return {}
    return {name: os.environ[name] for name in FAKETIME_VARIABLES if name in os.environ}
