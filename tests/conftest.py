"""Test tiers, by folder (one place to read them; ``CONTRIBUTING.md`` says when to run each).

- the default tier (``scripts/test``): the core, the CLI, the three adapters, the API
  snapshot and the security canaries: everything a change to the library can break, in
  about three minutes of CPU (2,700 tests);
- ``extended`` (added by ``scripts/test --all``, which CI runs): the local backend on real
  tiny transformers models, the notebooks and examples executed end to end, the fault and
  load suites;
- ``slow`` (opt-in, ``-m slow``): the real Gemma-3 tokenizer.

A plain ``pytest`` runs the default and extended tiers, as CI does.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent
EXTENDED = frozenset({"local", "notebooks", "examples", "reliability"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    extended = pytest.mark.extended
    for item in items:
        parts = Path(str(item.fspath)).relative_to(HERE).parts
        if parts[0] in EXTENDED:
            item.add_marker(extended)
