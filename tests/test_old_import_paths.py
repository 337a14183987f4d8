"""Modules that moved keep their old import path for one release, with a DeprecationWarning
naming the new one (README, examples and notebooks use the new paths)."""

from __future__ import annotations

import importlib
import sys

import pytest


@pytest.mark.parametrize(
    "old, new, name",
    [
        ("guard_core.testserver", "guard_core.testing", "OpenAICompatServer"),
        ("guard_core.autoselect", "guard_core.backends", "select_backend"),
    ],
)
def test_an_old_path_still_works_and_says_where_to_go(old: str, new: str, name: str) -> None:
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=new.replace(".", r"\.")):
        module = importlib.import_module(old)
    assert getattr(module, name) is getattr(importlib.import_module(new), name)
