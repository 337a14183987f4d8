"""``Verdict.score`` from a server's log-probabilities, as the local backend reads logits.

For a client-rendered family on ``/v1/completions`` (vLLM, NIM) the backend asks for the
top log-probabilities of every answer token (``logprobs``). The score is read at the token
where the request's own verdict label starts (``Prompt harm:`` for a prompt check, the
``Response harm:`` line for a response check, after the model's own first line): the
probability of the tokens that begin the unsafe label over that of the tokens that begin
either label, among the alternatives the server returned. A label missing from them counts
as 0. Anything that cannot be read that way gives None, never a guess: the verdict itself
always comes from the answer's text.

>>> from guard_core.models import get_family
>>> lp = {"tokens": ["Prompt", " harm", ":", " harmful"], "text_offset": [0, 6, 11, 12],
...       "token_logprobs": [0.0, 0.0, 0.0, -0.25],
...       "top_logprobs": [{}, {}, {}, {" harmful": -0.25, " un": -1.5, " None": -9.0}]}
>>> round(label_score(get_family("csr4b"), "prompt", "Prompt harm: harmful", lp), 3)
0.777
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from guard_core.models import ModelFamily, Slot
from guard_core.models.answers import find_labels

__all__ = ["LOGPROBS_TOP", "label_score"]

LOGPROBS_TOP = 5  # the most the OpenAI protocol allows; vLLM and NIM accept it


def label_score(family: ModelFamily, slot: Slot, text: str, logprobs: Any) -> float | None:
    """P(unsafe) for ``slot``'s verdict in ``text`` from a ``/v1/completions`` ``logprobs``
    object, or None where it cannot be read."""
    lines = family.verdict_lines(slot)
    table = _tokens(logprobs, text)
    if not lines or table is None:
        return None
    labels = [label for line in lines for label in (line.safe, line.unsafe)]
    spans = find_labels(text, [line.key for line in lines], labels)
    if spans is None:
        return None
    line, span = lines[-1], spans[-1]
    for token, start, chosen, top in table:
        if start <= span.start < start + len(token):
            before = text[start : span.start]  # the part of this token before the label
            safe = unsafe = 0.0
            for candidate, logp in {**top, token: chosen}.items():
                rest = candidate[len(before) :].lower() if candidate.startswith(before) else ""
                is_safe = bool(rest) and _begins(line.safe, rest)
                is_unsafe = bool(rest) and _begins(line.unsafe, rest)
                if is_safe != is_unsafe:
                    p = math.exp(logp)
                    safe, unsafe = (safe + p, unsafe) if is_safe else (safe, unsafe + p)
            total = safe + unsafe
            return unsafe / total if total > 0 and math.isfinite(total) else None
    return None


def _begins(label: str, rest: str) -> bool:
    return label.startswith(rest) or rest.startswith(label)


def _tokens(logprobs: Any, text: str) -> list[tuple[str, int, float, dict[str, float]]] | None:
    """(token, offset, its logprob, top alternatives) per token, checked against ``text``."""
    if not isinstance(logprobs, Mapping):
        return None
    tokens, chosen = logprobs.get("tokens"), logprobs.get("token_logprobs")
    tops, offsets = logprobs.get("top_logprobs"), logprobs.get("text_offset")
    if not (isinstance(tokens, list) and isinstance(chosen, list) and isinstance(tops, list)):
        return None
    if not (len(tokens) == len(chosen) == len(tops)) or not all(isinstance(t, str) for t in tokens):
        return None
    if not isinstance(offsets, list) or len(offsets) != len(tokens):
        offsets, at = [], 0
        for token in tokens:
            offsets.append(at)
            at += len(token)
    out = []
    for token, start, logp, top in zip(tokens, offsets, chosen, tops, strict=True):
        if not isinstance(start, int) or text[start : start + len(token)] != token:
            return None  # offsets that do not point into this text: read nothing
        alternatives = {
            k: float(v)
            for k, v in (top if isinstance(top, Mapping) else {}).items()
            if isinstance(k, str) and isinstance(v, int | float)
        }
        value = float(logp) if isinstance(logp, int | float) else -math.inf
        out.append((token, start, value, alternatives))
    return out
