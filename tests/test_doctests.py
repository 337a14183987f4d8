"""Every docstring example in guard_core and its integrations runs and shows what it says."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import guard_core.integrations
import pytest

import guard_core

# The integrations live in integrations/, installed as guard_core.integrations: walk both.
MODULES = sorted(
    info.name
    for path, prefix in ((guard_core.__path__, "guard_core."),
                         (guard_core.integrations.__path__, "guard_core.integrations."))
    for info in pkgutil.walk_packages(path, prefix)
    if not info.name.startswith("guard_core.fixtures")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
