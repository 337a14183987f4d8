"""Fixtures for the local backend tests: the tiny Gemma-3 models shipped in guard_core/fixtures.

They load through the same ``from_pretrained`` code as the real guard models, offline
(``HF_HUB_OFFLINE=1`` is set before transformers is imported). Loaded once per session.
Tests marked ``slow`` (the real Gemma-3 tokenizer) run only when asked: ``-m slow``.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers / huggingface_hub read it

from collections.abc import Iterator
from pathlib import Path

import pytest

from guard_core.backends.local import LocalBackend, fixture_path

TEXT_FIXTURE = fixture_path("tiny-gemma3-content-safety-reasoning")
IMAGE_FIXTURE = fixture_path("tiny-gemma3-3.5-content-safety")
HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "slow" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="opt-in slower tier: run with -m slow")
    for item in items:
        if "slow" in item.keywords and HERE in Path(str(item.fspath)).parents:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def text_backend() -> Iterator[LocalBackend]:
    """The trained toy CSR-4B model: text with a word like "bomb" is harmful."""
    backend = LocalBackend(TEXT_FIXTURE, device="cpu")
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def image_backend() -> Iterator[LocalBackend]:
    """The trained toy Nemotron 3.5 model (text like "bomb" is unsafe; its vision tower is
    random), on the template shaped like the real one."""
    backend = LocalBackend(IMAGE_FIXTURE, device="cpu")
    yield backend
    backend.close()
