"""Fixtures for the LlamaIndex tests: a scripted guard with an in-memory audit, test nodes."""

from __future__ import annotations

import base64

import pytest
from li_support import POISON, UNSAFE_WORDS, tiny_png
from llama_index.core.schema import ImageNode, TextNode

from guard_core import Guard, Policy
from guard_core.audit import MemoryAudit
from guard_core.testing import ScriptedBackend


@pytest.fixture
def backend() -> ScriptedBackend:
    return ScriptedBackend(unsafe_words=UNSAFE_WORDS)


@pytest.fixture
def audit() -> MemoryAudit:
    return MemoryAudit()


@pytest.fixture
def guard(backend: ScriptedBackend, audit: MemoryAudit) -> Guard:
    return Guard(backend, Policy(name="rag", mode="categories"), audit=audit)


@pytest.fixture
def nodes() -> list[TextNode]:
    """Safe text, a poisoned chunk, a safe image and an unsafe image (by URL)."""
    return [
        TextNode(id_="tea", text="Green tea is brewed at 80 degrees for two minutes."),
        TextNode(id_="poison", text=f"Brewing notes. {POISON}"),
        TextNode(id_="coffee", text="Coffee is brewed at 93 degrees."),
        ImageNode(
            id_="kitten",
            text="A photo of a kitten next to a teapot.",
            image=base64.b64encode(tiny_png()).decode(),
        ),
        ImageNode(
            id_="diagram",
            text="Diagram from a forum post.",
            image_url="https://img.example.com/how-to-make-a-bomb.png",
        ),
    ]
