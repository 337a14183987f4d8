"""The distribution is guard-core-agents; ``import guard_core`` refuses to run beside the
index's unrelated ``guard-core``, which installs a top-level ``guard_core`` too.

The other project's metadata is put on ``sys.path`` as an installer writes it (a
``.dist-info`` folder); ``importlib.metadata`` then finds it exactly as it would in a venv.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from guard_core import MissingDependencyError
from guard_core._distribution import DISTRIBUTION, TAKEN_NAME, pip_install

ROOT = Path(__file__).resolve().parents[1]
# "pip install guard-core", "pip install -U 'guard-core[openai]'", "guard-core[all]" ...
HINT = re.compile(rf"(install\s+(-U\s+)?['\"]?{TAKEN_NAME}(?![\w-]))|{TAKEN_NAME}\[")

# What `import guard_core` loaded before refusing, and the error it raised.
PROGRAM = """
import sys
try:
    import guard_core
except ImportError as exc:
    loaded = sorted(m for m in sys.modules if m.startswith("guard_core"))
    print(type(exc).__name__, loaded, exc, sep="\\n")
else:
    print("imported")
"""


def _metadata(folder: Path, summary: str, *, version: str = "4.4.0") -> None:
    info = folder / f"guard_core-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {TAKEN_NAME}\nVersion: {version}\nSummary: {summary}\n"
    )
    (info / "RECORD").write_text("guard_core/__init__.py,,\nguard_core/engine.py,,\n")
    (info / "top_level.txt").write_text("guard_core\n")


def _import_with(path: Path, cwd: Path) -> list[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(path), str(ROOT)])}
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.splitlines()


def test_the_project_is_named_for_a_name_free_on_the_index() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == DISTRIBUTION != TAKEN_NAME
    assert project["scripts"]["guard-core"] == "guard_core.cli:main"  # the command keeps its name
    extras = project["optional-dependencies"]
    assert all(dep.startswith(f"{DISTRIBUTION}[") for dep in extras["all"])


def test_imports_alone(tmp_path: Path) -> None:
    assert _import_with(tmp_path, tmp_path) == ["imported"]


def test_the_other_project_installed_too_stops_the_import_naming_both(tmp_path: Path) -> None:
    _metadata(tmp_path / "site", "Security engine for the Guard ecosystem")
    kind, loaded, message = _import_with(tmp_path / "site", tmp_path)
    assert kind == "DistributionConflictError"
    # refused before any module that the other project's files could have replaced ran
    assert loaded == "['guard_core._distribution', 'guard_core.errors']"
    assert f"{TAKEN_NAME} 4.4.0 (Security engine for the Guard ecosystem)" in message
    assert DISTRIBUTION in message and f"pip uninstall -y {TAKEN_NAME} {DISTRIBUTION}" in message


def test_this_project_under_its_old_name_says_what_to_remove(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _metadata(site, "NVIDIA Nemotron content-safety guards for every step", version="0.1.0")
    *_, message = _import_with(site, tmp_path)
    assert "former name" in message and f"pip uninstall -y {TAKEN_NAME}" in message
    # the metadata an old editable install left in a checkout: uninstalling misses it
    checkout = tmp_path / "checkout"
    (checkout / "guard_core.egg-info").mkdir(parents=True)
    (checkout / "guard_core.egg-info" / "PKG-INFO").write_text(
        f"Metadata-Version: 2.1\nName: {TAKEN_NAME}\nVersion: 0.1.0\n"
        "Summary: NVIDIA Nemotron content-safety guards for every step\n"
    )
    *_, message = _import_with(checkout, checkout)
    assert f"delete {checkout / 'guard_core.egg-info'}" in message


@pytest.mark.parametrize("extra", ["openai", "local"])
def test_install_hints_name_this_distribution(extra: str) -> None:
    assert pip_install(extra) == f"pip install '{DISTRIBUTION}[{extra}]'"
    assert pip_install(extra) in str(MissingDependencyError("x", extra))


def test_no_install_hint_anywhere_names_the_taken_distribution() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    wrong = []
    for name in tracked:
        if name in ("tests/test_distribution.py", "guard_core/_distribution.py"):
            continue  # these two say what the taken name is
        path = ROOT / name
        if path.suffix not in {".py", ".md", ".toml", ".txt", ".ipynb", ".in", ".sh", ""}:
            continue
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        if HINT.search(text):
            wrong.append(name)
    assert not wrong, f"install hints naming {TAKEN_NAME} instead of {DISTRIBUTION}: {wrong}"
