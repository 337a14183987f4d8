"""The README's offline snippets run as written.

A Python block preceded by ``<!-- readme-test ... -->`` is one a reader can paste with no key
and no network; each runs in a fresh interpreter, in an empty folder, with no guard backend
set in the environment.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"<!-- readme-test[^>]*-->\n```python\n(.*?)```", re.DOTALL)
SNIPPETS = BLOCK.findall((ROOT / "README.md").read_text())
CLEARED = ("GUARD_BASE_URL", "NVIDIA_API_KEY", "OPENROUTER_API_KEY", "GUARD_BACKEND", "GUARD_MODEL")


def test_the_readme_marks_its_offline_snippets() -> None:
    assert SNIPPETS, "no <!-- readme-test --> block in README.md"


@pytest.mark.parametrize("code", SNIPPETS, ids=lambda code: code.splitlines()[0][:40])
def test_an_offline_snippet_runs(code: str, tmp_path: Path) -> None:
    pytest.importorskip("torch")  # LocalBackend.demo() is among them
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
