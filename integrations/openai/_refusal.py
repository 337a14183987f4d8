"""Refusals of the SDK's own types: what ``on_block="refuse"`` returns instead of raising.

A chat refusal is a ``ChatCompletion`` (``ParsedChatCompletion`` for ``parse``) whose
assistant message says it was blocked, in both ``content`` and ``refusal``, with
``finish_reason="content_filter"``. A Responses refusal is a ``Response`` with
``status="incomplete"`` and ``incomplete_details.reason="content_filter"``, whose
``output_text`` says it was blocked. Streams yield the matching chunk / event sequence.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from openai.types.chat import ChatCompletion, ChatCompletionChunk, ParsedChatCompletion
from openai.types.responses import (
    ParsedResponse,
    Response,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseIncompleteEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
)
from openai.types.responses.parsed_response import ParsedResponseOutputMessage
from openai.types.responses.response import IncompleteDetails

from guard_core.errors import ContentError

from ._body import residual, walk

__all__ = [
    "REFUSAL_RESPONSE_PREFIX",
    "chat_chunks",
    "chat_completion",
    "response",
    "response_events",
]


def _lend(like: Any, *names: str) -> dict[str, Any]:
    """The blocked answer's fields a refusal may keep: those that carry no content (ids,
    model, counts), so nothing the guard blocked comes back inside the refusal."""
    out: dict[str, Any] = {}
    for name in names:
        value = getattr(like, name, None)
        try:
            clean = value is not None and not residual(walk(value, name))
        except ContentError:
            clean = False
        if clean:
            out[name] = value
    return out


def _id(prefix: str) -> str:
    return f"{prefix}-guard-{uuid.uuid4().hex[:16]}"


REFUSAL_RESPONSE_PREFIX = "resp-guard-"
"""How the id of a refusal ``Response`` starts: no server stores it, so it cannot be chained."""


def chat_completion(
    text: str, *, model: str, like: Any = None, choices: int = 1, parsed: bool = False
) -> ChatCompletion:
    """A refusal completion; ``like`` (the blocked answer) lends id, model, usage."""
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": text}
    if parsed:
        message["parsed"] = None
    bodies = [
        {"index": i, "message": message, "finish_reason": "content_filter", "logprobs": None}
        for i in range(max(choices, 1))
    ]
    cls = ParsedChatCompletion if parsed else ChatCompletion
    lent = _lend(like, "id", "created", "model", "usage", "system_fingerprint", "service_tier")
    return cls.model_validate(
        {
            "id": _id("chatcmpl"),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": bodies,
            **lent,
        }
    )


def chat_chunks(
    text: str, *, model: str, like: Any = None, choices: int = 1, finish_only: bool = False
) -> list[ChatCompletionChunk]:
    """The chunks of a refusal stream (``finish_only``: a stream already under way ends)."""
    base = {
        "id": _id("chatcmpl"),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        **_lend(like, "id", "created", "model"),
    }
    delta: dict[str, Any] = {"content": text, "refusal": text}
    if not finish_only:
        delta["role"] = "assistant"
    out = []
    for i in range(max(choices, 1)):
        out.append({**base, "choices": [{"index": i, "delta": delta, "finish_reason": None}]})
        out.append(
            {**base, "choices": [{"index": i, "delta": {}, "finish_reason": "content_filter"}]}
        )
    return [ChatCompletionChunk.model_validate(c) for c in out]


def _message(text: str, parsed: bool) -> Any:
    cls = ParsedResponseOutputMessage if parsed else ResponseOutputMessage
    return cls.model_validate(
        {
            "type": "message",
            "id": _id("msg"),
            "role": "assistant",
            "status": "incomplete",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }
    )


def response(text: str, *, model: str, like: Any = None, parsed: bool = False) -> Response:
    """A refusal ``Response``; ``like`` (the blocked answer) lends model, usage and the
    other fields that carry no content.

    Never its id: the server stored the blocked answer under that id, and a next call with
    ``previous_response_id`` set to it would put the blocked output back in the model's
    context. The refusal's own id is refused as ``previous_response_id`` before sending."""
    parsed = parsed or isinstance(like, ParsedResponse)
    update = {
        "id": _id("resp"),
        "status": "incomplete",
        "incomplete_details": IncompleteDetails(reason="content_filter"),
        "output": [_message(text, parsed)],
    }
    cls = ParsedResponse if parsed else Response
    blank = cls.model_validate(
        {
            "id": _id("resp"),
            "object": "response",
            "created_at": time.time(),
            "model": model,
            "output": [],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            **_lend(
                like,
                "created_at",
                "model",
                "usage",
                "parallel_tool_calls",
                "tool_choice",
                "tools",
                "service_tier",
                "store",
                "background",
                "conversation",
            ),
        }
    )
    return blank.model_copy(update=update)


def response_events(text: str, *, model: str, like: Any = None) -> list[Any]:
    """The events of a refusal Responses stream, ending in ``response.incomplete``."""
    final = response(text, model=model, like=like)
    message = final.output[0]
    at = {"output_index": 0, "item_id": message.id, "content_index": 0}
    part = {"type": "output_text", "text": "", "annotations": []}
    started = final.model_copy(
        update={"status": "in_progress", "output": [], "incomplete_details": None}
    )
    steps: list[tuple[Any, dict[str, Any]]] = [
        (ResponseCreatedEvent, {"type": "response.created", "response": started}),
        (
            ResponseOutputItemAddedEvent,
            {
                "type": "response.output_item.added",
                "output_index": 0,
                "item": message.model_copy(update={"content": []}),
            },
        ),
        (
            ResponseContentPartAddedEvent,
            {"type": "response.content_part.added", **at, "part": part},
        ),
        (
            ResponseTextDeltaEvent,
            {"type": "response.output_text.delta", **at, "delta": text, "logprobs": []},
        ),
        (
            ResponseTextDoneEvent,
            {"type": "response.output_text.done", **at, "text": text, "logprobs": []},
        ),
        (
            ResponseContentPartDoneEvent,
            {"type": "response.content_part.done", **at, "part": {**part, "text": text}},
        ),
        (
            ResponseOutputItemDoneEvent,
            {"type": "response.output_item.done", "output_index": 0, "item": message},
        ),
        (ResponseIncompleteEvent, {"type": "response.incomplete", "response": final}),
    ]
    return [cls(**body, sequence_number=n) for n, (cls, body) in enumerate(steps)]
