"""The wheel ships every subpackage and its data: setup.py finds the packages in the tree
(``integrations/`` installs as ``guard_core.integrations``); this builds the real wheel and
reads its file list, so a subpackage or a data file left out of a release fails here."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _packages_in(folder: Path, prefix: str) -> set[str]:
    found = set()
    for init in folder.rglob("__init__.py"):
        parts = init.parent.relative_to(folder).parts
        if "__pycache__" in parts:
            continue
        found.add(".".join((prefix, *parts)))
    return found


@pytest.fixture(scope="module")
def wheel_files(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    out = tmp_path_factory.mktemp("wheel")
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    subprocess.run(
        [*command, "-q", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        env={**os.environ, "PIP_NO_INDEX": "1"},
        timeout=240,
    )
    (wheel,) = out.glob("guard_core_agents-*.whl")
    return set(zipfile.ZipFile(wheel).namelist())


def test_the_wheel_ships_every_package_of_the_tree(wheel_files: set[str]) -> None:
    tree = _packages_in(ROOT / "guard_core", "guard_core")
    tree |= _packages_in(ROOT / "integrations", "guard_core.integrations")
    missing = [p for p in sorted(tree) if p.replace(".", "/") + "/__init__.py" not in wheel_files]
    assert not missing, f"the wheel lacks {missing}: check setup.py"
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert config["package-dir"] == {"guard_core.integrations": "integrations"}
    assert not any(name.startswith(("integrations/", "tests/")) for name in wheel_files)


def test_the_wheel_ships_the_data(wheel_files: set[str]) -> None:
    data = [ROOT / "guard_core/py.typed", *(ROOT / "guard_core/models/templates").glob("*.txt")]
    data += [
        p for p in (ROOT / "guard_core/fixtures").rglob("*") if p.is_file() and p.suffix != ".pyc"
    ]
    missing = [
        str(p.relative_to(ROOT)) for p in data if str(p.relative_to(ROOT)) not in wheel_files
    ]
    assert not missing, f"the wheel lacks data files: {missing[:5]}"
