"""Every docstring example in guard_core and its integrations runs and shows what it says."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import guard_core
import guard_core.integrations
from guard_core.errors import MissingDependencyError

# Deprecated aliases warn on import (tests/test_old_import_paths.py checks them); a __main__
# module runs its command when imported.
SKIPPED = {"guard_core.testserver", "guard_core.autoselect"}

# The integrations live in integrations/, installed as guard_core.integrations: walk both.
MODULES = sorted(
    info.name
    for path, prefix in (
        (guard_core.__path__, "guard_core."),
        (guard_core.integrations.__path__, "guard_core.integrations."),
    )
    for info in pkgutil.walk_packages(path, prefix)
    if not info.name.startswith("guard_core.fixtures")
    and info.name not in SKIPPED
    and not info.name.endswith(".__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    try:
        module = importlib.import_module(name)
    except MissingDependencyError as missing:  # an adapter whose framework this tier lacks
        pytest.skip(str(missing))
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
