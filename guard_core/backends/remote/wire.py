"""The OpenAI wire format of guard requests and answers: pure functions, no I/O.

Request bodies for ``/v1/chat/completions`` and the batched ``/v1/completions`` (with
``logprobs`` asked for, when wanted, for ``Verdict.score``), and the answers read straight
from their JSON (no SDK response objects: that is cheaper, and a field the SDK does not
model, like ``reasoning_content``, is read all the same).

>>> chat_completion({"choices": [{"message": {"content": "User Safety: safe"},
...                               "finish_reason": "stop"}]}, model="m").text
'User Safety: safe'
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from guard_core.backends.base import Outcome
from guard_core.backends.remote.logprobs import LOGPROBS_TOP, label_score
from guard_core.errors import BackendError
from guard_core.models import Completion, GuardRequest, ModelFamily

__all__ = ["batch_body", "batch_outcomes", "chat_body", "chat_completion"]


def _same(text: str) -> str:
    return text


def chat_body(model: str, request: GuardRequest) -> dict[str, Any]:
    """SDK ``chat.completions.create`` arguments for one request (greedy decoding)."""
    args: dict[str, Any] = {
        "model": model,
        "messages": list(request.messages),
        "max_tokens": request.max_tokens,
        "temperature": 0.0,
    }
    if request.chat_template_kwargs is not None:
        args["extra_body"] = {"chat_template_kwargs": dict(request.chat_template_kwargs)}
    return args


def batch_body(
    model: str, family: ModelFamily, chunk: Sequence[GuardRequest], *, logprobs: bool = False
) -> dict[str, Any]:
    """SDK ``completions.create`` arguments: every prompt already templated, one request;
    ``logprobs``: also the top log-probabilities of each answer token."""
    body: dict[str, Any] = {
        "model": model,
        "prompt": [family.raw_prompt(r) for r in chunk],
        "max_tokens": max(r.max_tokens for r in chunk),
        "temperature": 0.0,
    }
    if logprobs:
        body["logprobs"] = LOGPROBS_TOP
    return body


def chat_completion(data: Any, *, model: str, redact: Callable[[str], str] = _same) -> Completion:
    """The first choice of a chat completion's JSON; raises ValueError/TypeError if malformed."""
    if not isinstance(data, dict) or not data.get("choices"):
        raise ValueError("the answer has no choices")
    text, finish, reasoning = completion_fields(data["choices"][0])
    # an echoing endpoint must not get the key into a verdict, its reasoning or the audit
    return Completion(
        text=redact(text),
        finish_reason=finish,
        reasoning=redact(reasoning) if reasoning else reasoning,
        model=data.get("model") or model,
    )


def batch_outcomes(
    data: Any,
    chunk: Sequence[GuardRequest],
    family: ModelFamily,
    *,
    base_url: str,
    model: str,
    redact: Callable[[str], str] = _same,
) -> list[Outcome]:
    """One outcome per prompt of a ``/v1/completions`` answer, in prompt order; a choice
    with ``logprobs`` gets the score of its request's verdict label."""
    expected = len(chunk)
    try:
        choices = sorted(data["choices"], key=lambda c: c["index"])
        answered_by = data.get("model") or model
        outcomes: list[Outcome] = [
            Completion(
                text=redact(c.get("text") or ""),
                finish_reason=c.get("finish_reason"),
                model=answered_by,
                score=_score(family, request, c),
            )
            for c, request in zip(choices, chunk, strict=False)
        ]
    except (KeyError, TypeError, AttributeError) as exc:
        return [
            BackendError(f"malformed /v1/completions answer from {base_url}: {exc!r}")
        ] * expected
    if len(choices) != expected:
        return [
            BackendError(f"{base_url} answered {len(choices)} completions for {expected} prompts")
        ] * expected
    return outcomes


def _score(family: ModelFamily, request: GuardRequest, choice: Any) -> float | None:
    text = choice.get("text")
    if choice.get("logprobs") is None or not isinstance(text, str):
        return None
    return label_score(family, request.slot, text, choice["logprobs"])


def completion_fields(choice: Any) -> tuple[str, str | None, str | None]:
    """(content, finish_reason, reasoning) from one choice of a chat completion's JSON."""
    message = choice["message"]
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise TypeError(f"message content is {type(content).__name__}, not text")
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    finish = choice.get("finish_reason")
    return (
        content or "",
        finish if isinstance(finish, str) else None,
        reasoning if isinstance(reasoning, str) else None,
    )
