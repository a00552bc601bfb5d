"""Run from a source checkout: ``python -m app``."""

import sys

from app.entry import main

sys.exit(main())
