"""Shared helpers for the core tests: model ids and reference templates."""

from __future__ import annotations

import os
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

from guard_core.backends.remote import RemoteBackend

N35 = "nvidia/nemotron-3.5-content-safety"
CSR = "nvidia/Nemotron-Content-Safety-Reasoning-4B"
NEMOGUARD = "nvidia/llama-3.1-nemoguard-8b-content-safety"


def _reference_dir() -> Path:
    """``../shared/reference`` beside the repository (where CI and every session have it), or
    ``GUARD_REFERENCE_DIR``. Missing is an error, not a silent fallback: without the reference
    the template-fidelity tests would compare the package with itself and could not fail."""
    configured = os.environ.get("GUARD_REFERENCE_DIR")
    root = Path(__file__).resolve().parents[2]
    found = Path(configured) if configured else root.parent / "shared" / "reference"
    if not (found / "nemotron_formats.md").is_file():
        raise RuntimeError(
            f"the models' reference formats are not at {found}: check out the shared folder "
            "beside the repository (../shared/reference) or set GUARD_REFERENCE_DIR"
        )
    return found


REFERENCE_DIR = _reference_dir()

MakeRemote = Callable[..., RemoteBackend]
"""The ``remote`` fixture: ``remote(model=N35, base_url=None, **kwargs) -> RemoteBackend``."""


def package_template(name: str) -> str:
    """The template text shipped inside the package."""
    return files("guard_core.models").joinpath("templates", name).read_text(encoding="utf-8")


def reference_template(name: str) -> str:
    """The reference prompt text (the shared reference copy, never the package's own)."""
    return (REFERENCE_DIR / name).read_text(encoding="utf-8")
