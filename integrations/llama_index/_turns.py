"""Pure steps of :class:`GuardedFunctionAgent`: what a model reply is judged on, and the
reply the agent passes on once judged (every unsafe part replaced, never left in a copy).

A reply is judged on all it carries: its content blocks (text, thinking, images, text
documents, citations), each tool-call block and each tool call the LLM class extracted
(``get_tool_calls_from_response``, which may read ``additional_kwargs``), every string of
``additional_kwargs``, and the provider's raw response. What is blocked is replaced where
it lives: the text by the refusal, a blocked call's arguments by a placeholder (in the
tool-call block the next request and memory carry, and in the event stream), unsafe
``additional_kwargs`` by ``{}``, and the raw response by None.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, TextBlock, ToolCallBlock
from llama_index.core.llms.llm import ToolSelection

from guard_core.adapters.boundary import joined, strings_in
from guard_core.adapters.decisions import blocks
from guard_core.content import AssistantMessage, Item, ToolCall, UserMessage
from guard_core.errors import ContentError
from guard_core.verdict import Verdict, strongest

from ._convert import MessageItems, call_item, message_items, withheld_text

__all__ = ["Judged", "Reply", "judge", "placeholder", "reply_of"]


def _stops(verdict: Verdict | None) -> bool:
    return verdict is not None and blocks(verdict)


def placeholder(verdict: Verdict) -> dict[str, Any]:
    """What a blocked call's arguments become wherever they were kept."""
    return {"guard_core": withheld_text("tool call arguments", verdict)}


@dataclass(frozen=True)
class Reply:
    """A model reply and the items it is judged on, in order."""

    message: ChatMessage
    selections: list[ToolSelection]
    parts: MessageItems
    calls: list[ToolCall]  # one per selection
    raw: Item | None
    raw_readable: bool

    @property
    def items(self) -> list[Item]:
        return [*self.parts.all, *self.calls, *([self.raw] if self.raw is not None else [])]


def reply_of(
    message: ChatMessage,
    selections: Sequence[ToolSelection],
    raw: Any,
    request: UserMessage | None,
    allow: Collection[str],
) -> Reply:
    """The items of a reply (``ContentError`` for a block the guard cannot read)."""
    parts = message_items(message, "the model's answer", request=request, allow=allow)
    calls = [
        call_item(s.tool_name, s.tool_kwargs or {}, call_id=s.tool_id, request=request)
        for s in selections
    ]
    try:
        text = joined(strings_in(raw, where="the model's raw response"))
        readable = True
    except ContentError:  # a provider object the walk cannot read: dropped, never passed
        text, readable = "", False
    raw_item = AssistantMessage(text, context=request) if text.strip() else None
    return Reply(message, list(selections), parts, calls, raw_item, readable)


@dataclass
class Judged:
    """The reply to pass on, and what was blocked in it."""

    message: ChatMessage
    allowed: list[ToolSelection]
    blocked: list[tuple[ToolSelection, Verdict]] = field(default_factory=list)
    answer: Verdict | None = None  # set when the reply's content was blocked
    keep_raw: bool = True


def judge(reply: Reply, verdicts: Sequence[Verdict], refusal: Callable[[Verdict], str]) -> Judged:
    """The reply as it may go on, given one verdict per item of ``reply.items``."""
    it = iter(verdicts)
    content = [next(it) for _ in reply.parts.content]
    by_block = {i: next(it) for i, _ in reply.parts.calls}
    extra = next(it) if reply.parts.extra is not None else None
    per_call = [next(it) for _ in reply.calls]
    raw = next(it) if reply.raw is not None else None
    said = strongest([v for v in content if _stops(v)])
    block_ids = {
        str(b.tool_call_id): by_block[i]
        for i, b in enumerate(reply.message.blocks)
        if isinstance(b, ToolCallBlock) and i in by_block
    }
    allowed: list[ToolSelection] = []
    blocked: list[tuple[ToolSelection, Verdict]] = []
    for selection, verdict in zip(reply.selections, per_call, strict=True):
        pair = (verdict, block_ids.get(selection.tool_id))
        worst = strongest([v for v in pair if v is not None and _stops(v)])
        if worst is None:
            allowed.append(selection)
        else:
            blocked.append((selection, worst))
    stopped = {s.tool_id: v for s, v in blocked}
    new_blocks: list[Any] = [TextBlock(text=refusal(said))] if said is not None else []
    for i, block in enumerate(reply.message.blocks):
        if isinstance(block, ToolCallBlock):
            stop = stopped.get(str(block.tool_call_id)) or (
                by_block[i] if _stops(by_block[i]) else None
            )
            new_blocks.append(
                block
                if stop is None
                else block.model_copy(update={"tool_kwargs": placeholder(stop)})
            )
        elif said is None:
            new_blocks.append(block)
    message = reply.message
    # a blocked call's arguments may sit in additional_kwargs too (some LLM classes keep
    # their tool calls there): then it goes with them
    bad_extra = _stops(extra) or (bool(blocked) and reply.parts.extra is not None)
    anything = (
        said is not None or bool(blocked) or bad_extra or any(_stops(v) for v in by_block.values())
    )
    if anything:
        message = message.model_copy(
            update={
                "blocks": new_blocks,
                "additional_kwargs": {} if bad_extra else dict(message.additional_kwargs),
            }
        )
    keep_raw = reply.raw_readable and not anything and not _stops(raw)
    return Judged(message, allowed, blocked, said, keep_raw)
