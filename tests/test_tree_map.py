"""The maps of the tree in README.md and CONTRIBUTING.md are generated from the docstrings
(``scripts/tree_map.py``); a new, moved or re-described module makes them stale here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("kind", "document"), [("packages", "README.md"), ("modules", "CONTRIBUTING.md")]
)
def test_the_map_of_the_tree_is_current(kind: str, document: str) -> None:
    flag = ["--packages"] if kind == "packages" else []
    now = subprocess.run(
        [sys.executable, str(ROOT / "scripts/tree_map.py"), *flag],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    text = (ROOT / document).read_text()
    shown = text.partition(f"<!-- tree-map:{kind} -->\n")[2].partition("<!-- /tree-map -->")[0]
    assert shown == now, f"{document}'s map is stale: run python scripts/tree_map.py --write"
    assert "guard_core/" in now and "integrations/" in now
