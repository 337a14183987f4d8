"""The load-time probe: one greedy answer per policy form, read into answer shapes.

The three probe requests go through ``generate`` in one batch, decoded as every generated
answer is. :mod:`guard_core.backends.local.answers` reads each into a shape, or says why
that form is answered with ``generate``.
"""

from __future__ import annotations

from typing import Any

from guard_core.backends.local.answers import (
    PROBE_EXCHANGE,
    PROBE_POLICIES,
    TRACED,
    AnswerProbe,
    Shape,
    assumed_shape,
    learn_shape,
)
from guard_core.backends.local.engine import Engine
from guard_core.backends.local.inputs import Encoder
from guard_core.models import Completion, ModelFamily
from guard_core.models.base import PolicyForm

__all__ = ["PROBE_TOKENS", "TRACE_TOKENS", "probe_answers"]

PROBE_TOKENS = 48  # a reasoning-off answer, an empty think block included, fits easily
TRACE_TOKENS = 768  # what a fast check gets where the model reasons first (3.5's think budget)


def probe_answers(
    family: ModelFamily, encoder: Encoder, engine: Engine, tokenizer: Any, *, lenient: bool
) -> dict[PolicyForm, AnswerProbe]:
    """One :class:`AnswerProbe` per form. ``lenient`` (``min_label_mass=0``: read labels
    whatever the model writes, for random-weight benchmarks) keeps the documented shape
    where an answer does not parse; a reasoning trace always means ``generate``."""
    import torch

    requests = {form: family.render(PROBE_EXCHANGE, p) for form, p in PROBE_POLICIES.items()}
    try:
        encoded = [encoder.encode(r, with_prefix=False) for r in requests.values()]
        with torch.inference_mode():
            results = engine.generate(encoded, [PROBE_TOKENS] * len(encoded))
    except Exception as exc:  # the model cannot even answer: fast checks generate (and fail)
        note = f"the probe failed: {type(exc).__name__}: {exc}"
        return {form: AnswerProbe(form, None, note) for form in requests}
    out: dict[PolicyForm, AnswerProbe] = {}
    for (form, request), (tokens, ended) in zip(requests.items(), results, strict=True):
        text = tokenizer.decode(tokens, skip_special_tokens=True)
        found = learn_shape(family, request, Completion(text, "stop" if ended else "length"))
        if isinstance(found, Shape):
            out[form] = AnswerProbe(form, found, "prefix learned from the model", text)
        elif lenient and found != TRACED:
            note = f"documented prefix assumed, min_label_mass=0: {found}"
            out[form] = AnswerProbe(form, assumed_shape(family), note, text)
        else:
            traced = found == TRACED
            out[form] = AnswerProbe(form, None, found, text, traced=traced)
    return out
