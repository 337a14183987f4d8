"""Shared helpers of the CLI tests (a module of its own: conftest is not importable)."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

from guard_core.backends.autoselect import select_backend
from guard_core.errors import ConfigurationError

GUARD_VARS = (
    "GUARD_BACKEND",
    "GUARD_BASE_URL",
    "GUARD_MODEL",
    "GUARD_API_KEY",
    "GUARD_FAMILY",
    "NVIDIA_API_KEY",
    "OPENROUTER_API_KEY",
)
NEMOTRON35 = "nvidia/nemotron-3.5-content-safety"
ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "examples" / "policies"


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in GUARD_VARS}
    env["HF_HUB_OFFLINE"] = "1"
    env.update(extra)
    return env


def run_cli(
    *args: str, env: dict[str, str], stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``python -m guard_core.cli ARGS`` in a real child process."""
    return subprocess.run(
        [sys.executable, "-m", "guard_core.cli", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


@functools.cache
def demo_available() -> bool:
    """Whether this install can build the offline demo model (torch + the shipped fixture)."""
    try:
        backend, _ = select_backend({"GUARD_BACKEND": "demo", "HF_HUB_OFFLINE": "1"})
    except ConfigurationError:
        return False
    backend.close()
    return True
