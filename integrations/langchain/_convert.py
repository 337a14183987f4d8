"""LangChain objects -> guard_core items. Pure functions, no guard calls, no policy logic.

How each LangChain object maps onto a surface:

- ``HumanMessage``: ``UserMessage(text, images)``; image content blocks in any format
  LangChain normalises (OpenAI ``image_url``, base64 ``image`` blocks, Anthropic
  ``source``) become :class:`~guard_core.content.Image`.
- ``AIMessage``: ``AssistantMessage(text)`` (when it has text), its images, and one
  ``ToolCall`` per ``tool_calls`` entry, each with the latest user turn as context.
- ``ToolMessage``: ``ToolResult(name, text)`` (+ its images).
- ``Document``: ``RetrievedChunk(page_content, source=metadata["source"])``.

A message's text is its ``text`` blocks plus the text of its ``text-plain`` blocks and
text ``file`` blocks; a block the guard cannot read (audio, video, binary files,
``non_standard``) raises :class:`ContentError` unless its type is in ``allow`` (the
adapters' ``allow_unscreened``); see ``_blocks``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from langchain_core.documents import Document
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from guard_core.content import (
    AssistantMessage,
    Image,
    Item,
    RetrievedChunk,
    Surface,
    ToolCall,
    ToolResult,
    UserMessage,
)
from guard_core.errors import ContentError

from ._blocks import read_blocks

__all__ = [
    "assistant_items",
    "chunk",
    "context_of",
    "latest_user_turn",
    "message_parts",
    "text_item",
    "tool_call",
    "tool_result_items",
    "user_message",
]


def message_parts(message: BaseMessage, allow: Collection[str] = ()
                  ) -> tuple[str, tuple[Image, ...]]:
    """A message's whole text (text blocks, then readable documents) and its images."""
    texts, images = read_blocks(message, allow)
    text = "\n\n".join(t for t in (message.text, *texts) if t) if texts else message.text
    return text, tuple(images)


def user_message(message: BaseMessage, allow: Collection[str] = ()) -> UserMessage:
    """A human turn (text, attached text documents and images) as user input."""
    text, images = message_parts(message, allow)
    return UserMessage(text, images=images)


def latest_user_turn(messages: Sequence[BaseMessage]) -> list[HumanMessage]:
    """The human messages the model is about to answer: the trailing run of human
    messages, or the latest one when the conversation has moved on (tool loop)."""
    turn: list[HumanMessage] = []
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            turn.append(message)
        elif turn:
            break
    return turn[::-1]


def context_of(messages: Sequence[BaseMessage]) -> UserMessage | None:
    """The latest user text, as context for judging an answer or a tool call."""
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            return UserMessage(message.text)
    return None


def tool_call(call: Mapping[str, Any], context: UserMessage | None = None) -> ToolCall:
    """A LangChain ``ToolCall`` dict (``name``, ``args``, ``id``)."""
    if not isinstance(call.get("name"), str):
        raise ContentError(f"a tool call needs a 'name' string, got {dict(call)!r:.200}")
    return ToolCall(call["name"], call.get("args") or {}, id=call.get("id"), context=context)


def assistant_items(message: AIMessage, context: UserMessage | None = None,
                    allow: Collection[str] = ()) -> list[Item]:
    """The model's text (if any), its images and each of its tool calls."""
    text, images = message_parts(message, allow)
    items: list[Item] = []
    if text.strip():
        items.append(AssistantMessage(text, context=context))
    items += images
    items += [tool_call(call, context) for call in message.tool_calls]
    return items


def tool_result_items(message: BaseMessage, allow: Collection[str] = ()) -> list[Item]:
    """A tool's output (a ``ToolMessage``, or any message a tool returned in a
    ``Command``): its text as a ``ToolResult`` and any images it returned."""
    name = message.name or "tool"
    text, images = message_parts(message, allow)
    call_id = message.tool_call_id if isinstance(message, ToolMessage) else None
    items: list[Item] = [ToolResult(name, text, call_id=call_id)]
    items += [Image(data=i.data, url=i.url, mime_type=i.mime_type, caption=f"output of {name}")
              for i in images]
    return items


def chunk(document: Document, query: str | None = None) -> RetrievedChunk:
    """A retrieved ``Document``."""
    source = document.metadata.get("source")
    return RetrievedChunk(document.page_content, source=None if source is None else str(source),
                          metadata=dict(document.metadata), query=query)


def text_item(text: str, surface: Surface, name: str = "tool") -> Item:
    """A plain string read as the given surface."""
    if surface == "output":
        return AssistantMessage(text)
    if surface == "tool_result":
        return ToolResult(name, text)
    if surface == "retrieval":
        return RetrievedChunk(text)
    if surface == "input":
        return UserMessage(text)
    raise ContentError(f"a plain string cannot be screened as {surface!r}")
