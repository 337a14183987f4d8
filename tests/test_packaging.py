"""The wheel ships every subpackage: the hand-written ``packages`` list in pyproject.toml
(needed because ``integrations/`` installs as ``guard_core.integrations``) must match the
tree, so a new subpackage cannot be left out of a release silently."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _packages_in(folder: Path, prefix: str) -> set[str]:
    found = set()
    for init in folder.rglob("__init__.py"):
        parts = init.parent.relative_to(folder).parts
        if "__pycache__" in parts:
            continue
        found.add(".".join((prefix, *parts)))
    return found


def test_the_packages_list_is_the_tree() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    declared = set(config["packages"])
    tree = _packages_in(ROOT / "guard_core", "guard_core")
    tree |= _packages_in(ROOT / "integrations", "guard_core.integrations")
    missing = tree - declared
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {sorted(missing)}"
    for name in declared - tree:  # a data-only folder (templates, fixtures) shipped as data
        folder = ROOT / name.replace(".", "/")
        assert folder.is_dir() and any(folder.iterdir()), f"{name} is listed but not in the tree"
    assert config["package-dir"] == {"guard_core.integrations": "integrations"}
