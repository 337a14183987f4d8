"""Refusals of the SDK's own types: what ``on_block="refuse"`` returns instead of raising.

A chat refusal is a ``ChatCompletion`` (``ParsedChatCompletion`` for ``parse``) whose
assistant message says it was blocked, in both ``content`` and ``refusal``, with
``finish_reason="content_filter"``. A Responses refusal is a completed ``Response`` whose one
message says it was blocked in an ``output_text`` part (so ``output_text`` reads it) and in a
``refusal`` part: the shape the API gives a model's own refusal, which is what frameworks
treat as one (the Agents SDK raises ``ModelRefusalError``, which ``error_handlers`` can
answer; LangChain reports a refusal block). Streams yield the matching chunk / event
sequence. A stream that already released text (``streaming="incremental"``) can only be cut
off: it ends with ``response.incomplete`` (``incomplete_details.reason="content_filter"``).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from openai.types import CompletionUsage
from openai.types.chat import ChatCompletion, ChatCompletionChunk, ParsedChatCompletion
from openai.types.responses import (
    ParsedResponse,
    Response,
    ResponseCompletedEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseIncompleteEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseRefusalDeltaEvent,
    ResponseRefusalDoneEvent,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
    ResponseUsage,
)
from openai.types.responses.parsed_response import ParsedResponseOutputMessage
from openai.types.responses.response import IncompleteDetails
from pydantic import BaseModel

from guard_core.errors import ContentError

from ._body import residual, walk

__all__ = [
    "REFUSAL_RESPONSE_PREFIX",
    "chat_chunks",
    "chat_completion",
    "lend",
    "new_id",
    "response",
    "response_events",
    "zero_usage",
]


def lend(like: Any, *names: str) -> dict[str, Any]:
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


def new_id(prefix: str) -> str:
    return f"{prefix}-guard-{uuid.uuid4().hex[:16]}"


def zero_usage(cls: Any) -> dict[str, Any]:
    """A usage of ``cls`` counting nothing: what a request that was never sent cost (clients
    read usage unconditionally). Read from the installed SDK's type, whose fields vary."""
    out: dict[str, Any] = {}
    for name, info in cls.model_fields.items():
        if info.is_required():
            kind = info.annotation
            nested = isinstance(kind, type) and issubclass(kind, BaseModel)
            out[name] = zero_usage(kind) if nested else 0
    return out


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
    lent = lend(like, "id", "created", "model", "usage", "system_fingerprint", "service_tier")
    return cls.model_validate(
        {
            "id": new_id("chatcmpl"),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": bodies,
            "usage": zero_usage(CompletionUsage),
            **lent,
        }
    )


def chat_chunks(
    text: str, *, model: str, like: Any = None, choices: int = 1, finish_only: bool = False
) -> list[ChatCompletionChunk]:
    """The chunks of a refusal stream (``finish_only``: a stream already under way ends)."""
    base = {
        "id": new_id("chatcmpl"),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        **lend(like, "id", "created", "model"),
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
            "id": new_id("msg"),
            "role": "assistant",
            "status": "completed",
            "content": [
                {"type": "output_text", "text": text, "annotations": []},
                {"type": "refusal", "refusal": text},
            ],
        }
    )


def response(
    text: str, *, model: str, like: Any = None, parsed: bool = False, cut_off: bool = False
) -> Response:
    """A refusal ``Response``; ``like`` (the blocked answer) lends model, usage and the
    other fields that carry no content. ``cut_off``: the end of a stream that already
    released text, ``status="incomplete"`` (``content_filter``) under the stream's own id.

    Otherwise never the blocked answer's id: the server stored it under that id, and a next
    call with ``previous_response_id`` set to it would put the blocked output back in the
    model's context. The refusal's own id is refused as ``previous_response_id`` before
    sending (and so is the blocked one, which a cut-off stream has already shown)."""
    parsed = parsed or isinstance(like, ParsedResponse)
    update: dict[str, Any] = {
        "id": new_id("resp"),
        "status": "completed",
        "output": [_message(text, parsed)],
    }
    if cut_off:
        update.update(
            status="incomplete",
            incomplete_details=IncompleteDetails(reason="content_filter"),
            **lend(like, "id"),
        )
    cls = ParsedResponse if parsed else Response
    blank = cls.model_validate(
        {
            "id": new_id("resp"),
            "object": "response",
            "created_at": time.time(),
            "model": model,
            "output": [],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "usage": zero_usage(ResponseUsage),
            **lend(
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


def response_events(text: str, *, model: str, like: Any = None, cut_off: bool = False) -> list[Any]:
    """The events of a refusal Responses stream, ending in ``response.completed`` (or, for a
    stream that already released text, its one ``response.incomplete`` event)."""
    if cut_off:
        final = response(text, model=model, like=like, cut_off=True)
        return [
            ResponseIncompleteEvent(type="response.incomplete", response=final, sequence_number=0)
        ]
    final = response(text, model=model, like=like)
    message = final.output[0]
    at = {"output_index": 0, "item_id": message.id}
    part = {"type": "output_text", "text": "", "annotations": []}
    refusal = {"type": "refusal", "refusal": ""}
    started = final.model_copy(update={"status": "in_progress", "output": []})
    steps: list[tuple[Any, dict[str, Any]]] = [
        (ResponseCreatedEvent, {"type": "response.created", "response": started}),
        (
            ResponseOutputItemAddedEvent,
            {
                "type": "response.output_item.added",
                "output_index": 0,
                "item": message.model_copy(update={"content": [], "status": "in_progress"}),
            },
        ),
        (
            ResponseContentPartAddedEvent,
            {"type": "response.content_part.added", **at, "content_index": 0, "part": part},
        ),
        (
            ResponseTextDeltaEvent,
            {
                "type": "response.output_text.delta",
                **at,
                "content_index": 0,
                "delta": text,
                "logprobs": [],
            },
        ),
        (
            ResponseTextDoneEvent,
            {
                "type": "response.output_text.done",
                **at,
                "content_index": 0,
                "text": text,
                "logprobs": [],
            },
        ),
        (
            ResponseContentPartDoneEvent,
            {
                "type": "response.content_part.done",
                **at,
                "content_index": 0,
                "part": {**part, "text": text},
            },
        ),
        (
            ResponseContentPartAddedEvent,
            {"type": "response.content_part.added", **at, "content_index": 1, "part": refusal},
        ),
        (
            ResponseRefusalDeltaEvent,
            {"type": "response.refusal.delta", **at, "content_index": 1, "delta": text},
        ),
        (
            ResponseRefusalDoneEvent,
            {"type": "response.refusal.done", **at, "content_index": 1, "refusal": text},
        ),
        (
            ResponseContentPartDoneEvent,
            {
                "type": "response.content_part.done",
                **at,
                "content_index": 1,
                "part": {**refusal, "refusal": text},
            },
        ),
        (
            ResponseOutputItemDoneEvent,
            {"type": "response.output_item.done", "output_index": 0, "item": message},
        ),
        (ResponseCompletedEvent, {"type": "response.completed", "response": final}),
    ]
    return [cls(**body, sequence_number=n) for n, (cls, body) in enumerate(steps)]
