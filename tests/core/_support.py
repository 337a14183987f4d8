"""Shared helpers for the core tests: model ids and reference templates."""

from __future__ import annotations

from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

from guard_core.backends.remote import RemoteBackend

N35 = "nvidia/nemotron-3.5-content-safety"
CSR = "nvidia/Nemotron-Content-Safety-Reasoning-4B"
NEMOGUARD = "nvidia/llama-3.1-nemoguard-8b-content-safety"

REFERENCE_DIR = Path("/work/shared/reference")

MakeRemote = Callable[..., RemoteBackend]
"""The ``remote`` fixture: ``remote(model=N35, base_url=None, **kwargs) -> RemoteBackend``."""


def package_template(name: str) -> str:
    """The template text shipped inside the package."""
    return files("guard_core.models").joinpath("templates", name).read_text(encoding="utf-8")


def reference_template(name: str) -> str:
    """The reference prompt text: the shared reference copy where it exists, else the package's."""
    shared = REFERENCE_DIR / name
    return shared.read_text(encoding="utf-8") if shared.exists() else package_template(name)
