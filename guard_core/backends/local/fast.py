"""Single-pass verdicts: read each verdict line from two token logits instead of generating.

For every request the verdict line's start (``Prompt harm:``) is appended to the prompt and
the log-probabilities of the two label continuations are compared; the larger one is the
verdict (exactly what greedy decoding picks between them) and ``score`` is the unsafe
label's share, a real probability.

A response check is answered by the family's *second* line. Both lines are read in the same
pass by appending ``Prompt harm: unharmful\\nResponse harm:`` (the prompt line's usual
value); only where the prompt line reads ``harmful`` is the response line read again, in a
second pass over those rows, with that line instead. So every verdict is conditioned on the
prompt line the model itself chose, as in generation. The text appended before each label
is the model's own, as the load-time probe found it (:mod:`.answers`): ``Response Harm:``
for a model that writes it so, an empty ``<think></think>`` first where it writes one.

If the two labels together get less than ``min_label_mass`` of the probability, the model
is not answering in its format (wrong model, or float16) and the request fails closed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from guard_core.backends.base import Outcome
from guard_core.backends.local.engine import Engine, Reads
from guard_core.backends.local.inputs import Encoded, Fork, VerdictPlan
from guard_core.errors import ModelOutputError
from guard_core.models import Completion, GuardRequest, ModelFamily

__all__ = ["FastItem", "read_verdicts"]

FastItem = tuple[int, Encoded, VerdictPlan]  # (index in the batch, inputs, how to read)


def read_verdicts(
    engine: Engine,
    family: ModelFamily,
    requests: Sequence[GuardRequest],
    items: Sequence[FastItem],
    outcomes: list[Outcome | None],
    *,
    min_label_mass: float,
    model: str,
) -> None:
    """Fill ``outcomes[i]`` for every item with a :class:`Completion` or an error."""
    rows = []
    for i, encoded, plan in items:
        n = len(encoded.ids)
        first_at = n + len(plan.first.context) - 1
        labels = _labels(plan.first)
        if requests[i].slot == "response" and plan.second is not None:
            answer = plan.second[0].context
            rows.append(
                Reads(
                    encoded,
                    answer,
                    (first_at, n + len(answer) - 1),
                    labels + _labels(plan.second[0]),
                )
            )
        else:
            rows.append(Reads(encoded, plan.first.context, (first_at,), labels))
    again: list[FastItem] = []  # the prompt line read harmful
    for (i, encoded, plan), logp in zip(items, engine.read(rows), strict=True):
        request = requests[i]
        try:
            first, p_first = _label(logp[0, 0:2], family, request, 0, min_label_mass)
            if plan.second is None or request.slot != "response":
                outcomes[i] = _completion(plan, (first,), p_first, model)
            elif first:
                again.append((i, encoded, plan))
            else:
                second, p = _label(logp[1, 2:4], family, request, 1, min_label_mass)
                outcomes[i] = _completion(plan, (False, second), p, model)
        except ModelOutputError as exc:
            outcomes[i] = exc
    if not again:
        return
    forks = [plan.second[1] for _, _, plan in again if plan.second is not None]
    redo = [
        Reads(encoded, fork.context, (len(encoded.ids) + len(fork.context) - 1,), _labels(fork))
        for (_, encoded, _), fork in zip(again, forks, strict=True)
    ]
    for (i, _, plan), logp in zip(again, engine.read(redo), strict=True):
        try:
            second, p = _label(logp[0, 0:2], family, requests[i], 1, min_label_mass)
            outcomes[i] = _completion(plan, (True, second), p, model)
        except ModelOutputError as exc:
            outcomes[i] = exc


def _labels(fork: Fork) -> tuple[int, int]:
    """The tokens read for a verdict line: (first token of safe, of unsafe)."""
    return fork.safe, fork.unsafe


def _label(
    pair: Any, family: ModelFamily, request: GuardRequest, line: int, min_label_mass: float
) -> tuple[bool, float]:
    safe, unsafe = float(pair[0]), float(pair[1])
    mass = math.exp(safe) + math.exp(unsafe)
    # "not mass >= ..." also catches NaN (float16 overflow): NaN compares false both ways
    if not (math.isfinite(safe) and math.isfinite(unsafe)) or not mass >= min_label_mass:
        key = family.verdict_lines(request.slot)[line].key
        raise ModelOutputError(
            f"after {key!r} the model puts {mass:.2f} probability on the two labels: it "
            "is not answering in its format (is this the right model, in bfloat16 or float32?)"
        )
    # A tie goes to unsafe: fail closed.
    return unsafe >= safe, 1.0 / (1.0 + math.exp(safe - unsafe))


def _completion(
    plan: VerdictPlan, labels: tuple[bool, ...], score: float, model: str
) -> Completion:
    return Completion(
        text=plan.text(labels),
        finish_reason="stop",
        model=model,
        score=score,
    )
