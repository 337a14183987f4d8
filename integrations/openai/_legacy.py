"""Legacy completions (``client.completions``): an answer -> what to screen, and the refusal
of a blocked one. Pure: no I/O.

The request is read by :func:`._request.completions_request`: each prompt string and
``suffix`` are judged as user input, a prompt of token ids is refused, every other string of
the body is screened as text (the chat path's rule). An answer's choices come ``n`` per
prompt, in prompt order: each choice's ``text`` is judged as model output with the prompt it
answers as context, and every other string of the answer (``logprobs`` tokens and their
alternatives, fields an SDK release adds) is screened as output text by the call's
:meth:`~._screen.Call.left_over`, as on the chat path.

A refusal is a ``Completion`` whose every choice carries the refusal text, with
``finish_reason="content_filter"`` and no ``logprobs``; it keeps only the blocked answer's
content-free fields (id, model, usage), as a chat refusal does. A stream's refusal is one
such chunk per choice.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from openai.types import Completion, CompletionUsage

from guard_core.content import UserMessage

from ._convert import Entry, assistant_entries, field
from ._refusal import lend, new_id, zero_usage

__all__ = ["choices", "context_of", "refusal", "refusal_chunks", "response"]


def context_of(prompts: Sequence[UserMessage], n: int, index: object) -> UserMessage | None:
    """The prompt the choice at ``index`` answers (``n`` choices per prompt)."""
    if not prompts:
        return None
    at = index // max(n, 1) if isinstance(index, int) and index >= 0 else len(prompts) - 1
    return prompts[min(at, len(prompts) - 1)]


def choices(n: int, prompts: Sequence[UserMessage]) -> int:
    """How many choices a call asks for: ``n`` for each prompt."""
    return max(n, 1) * max(len(prompts), 1)


def response(
    completion: Any, prompts: Sequence[UserMessage], n: int
) -> tuple[list[Entry], set[str]]:
    """Each choice's text, judged against its prompt; and the strings they cover."""
    out: list[Entry] = []
    covered: set[str] = set()
    for choice in field(completion, "choices") or ():
        text = field(choice, "text")
        if isinstance(text, str) and text:
            covered.add(text)
            out += assistant_entries(text, (), context_of(prompts, n, field(choice, "index")))
    return out, covered


def _choice(index: int, text: str) -> dict[str, Any]:
    return {"index": index, "text": text, "finish_reason": "content_filter", "logprobs": None}


def refusal(text: str, *, model: str, like: Any = None, choices: int = 1) -> Completion:
    """A refusal ``Completion``; ``like`` (the blocked answer) lends id, model, usage."""
    return Completion.model_validate(
        {
            "id": new_id("cmpl"),
            "object": "text_completion",
            "created": int(time.time()),
            "model": model,
            "choices": [_choice(i, text) for i in range(max(choices, 1))],
            "usage": zero_usage(CompletionUsage),
            **lend(like, "id", "created", "model", "usage", "system_fingerprint"),
        }
    )


def refusal_chunks(
    text: str, *, model: str, like: Any = None, choices: int = 1
) -> list[Completion]:
    """The chunks of a refusal stream: one per choice, its whole text and its finish
    (``like``: the stream's first chunk, which lends id and model)."""
    base = {
        "id": new_id("cmpl"),
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        **lend(like, "id", "created", "model"),
    }
    return [
        Completion.model_validate({**base, "choices": [_choice(i, text)]})
        for i in range(max(choices, 1))
    ]
