"""Deprecated: the test server moved to :mod:`guard_core.testing` (``from guard_core.testing
import OpenAICompatServer, Fault``). This alias goes in the next release."""

from __future__ import annotations

import warnings

from guard_core.testing.server import *  # noqa: F403
from guard_core.testing.server import __all__ as __all__

warnings.warn(
    "guard_core.testserver is deprecated: import OpenAICompatServer and Fault from "
    "guard_core.testing",
    DeprecationWarning,
    stacklevel=2,
)
