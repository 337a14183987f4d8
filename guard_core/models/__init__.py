"""Guard-model families: one module each, two pure functions each (render, parse).

>>> family_for_model("nvidia/nemotron-3.5-content-safety").name
'nemotron35'
"""

from __future__ import annotations

from guard_core.errors import ConfigurationError
from guard_core.models.base import (
    Completion,
    Exchange,
    GuardRequest,
    Judgement,
    ModelFamily,
    Slot,
)
from guard_core.models.csr4b import ContentSafetyReasoning4B
from guard_core.models.nemoguard8b import NemoGuard8B
from guard_core.models.nemotron35 import Nemotron35ContentSafety

__all__ = [
    "FAMILIES",
    "Completion",
    "ContentSafetyReasoning4B",
    "Exchange",
    "GuardRequest",
    "Judgement",
    "ModelFamily",
    "NemoGuard8B",
    "Nemotron35ContentSafety",
    "Slot",
    "family_for_model",
    "get_family",
]

FAMILIES: dict[str, type[ModelFamily]] = {
    cls.name: cls for cls in (ContentSafetyReasoning4B, Nemotron35ContentSafety, NemoGuard8B)
}
_ID_HINTS: tuple[tuple[str, str], ...] = (
    ("content-safety-reasoning", "csr4b"),
    ("3.5-content-safety", "nemotron35"),
    ("nemoguard-8b-content-safety", "nemoguard8b"),
    ("nemotron-safety-guard-8b", "nemoguard8b"),
)


def get_family(name: str | ModelFamily) -> ModelFamily:
    """A family by name (``csr4b``, ``nemotron35``, ``nemoguard8b``) or instance."""
    if isinstance(name, ModelFamily):
        return name
    try:
        return FAMILIES[name]()
    except KeyError:
        raise ConfigurationError(
            f"unknown model family {name!r}; use one of {', '.join(FAMILIES)}"
        ) from None


def family_for_model(model: str, family: str | ModelFamily | None = None) -> ModelFamily:
    """The family of ``model`` from its id; ``family`` overrides the guess."""
    if family is not None:
        return get_family(family)
    lowered = model.lower()
    for hint, name in _ID_HINTS:
        if hint in lowered:
            return FAMILIES[name]()
    raise ConfigurationError(
        f"cannot tell the guard-model family from {model!r}; pass family= one of "
        f"{', '.join(FAMILIES)}"
    )
