"""Deprecated: backend selection moved to :mod:`guard_core.backends.autoselect` (and
``from guard_core.backends import select_backend``). This alias goes in the next release."""

from __future__ import annotations

import warnings

from guard_core.backends.autoselect import *  # noqa: F403
from guard_core.backends.autoselect import __all__ as __all__

warnings.warn(
    "guard_core.autoselect is deprecated: use guard_core.backends.autoselect "
    "(or from guard_core.backends import select_backend)",
    DeprecationWarning,
    stacklevel=2,
)
