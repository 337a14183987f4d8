"""``python -m guard_core.cli``."""

from __future__ import annotations

import sys

from guard_core.cli.main import main

sys.exit(main())
