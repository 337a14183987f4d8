"""LangChain objects -> guard_core items. Pure functions, no guard calls, no policy logic.

How each LangChain object maps onto a surface:

- ``HumanMessage``: ``UserMessage(text, images)``; image content blocks in any format
  LangChain normalises (OpenAI ``image_url``, base64 ``image`` blocks, Anthropic
  ``source``) become :class:`~guard_core.content.Image`.
- ``AIMessage``: ``AssistantMessage(text)`` (when it has text) and one ``ToolCall`` per
  ``tool_calls`` entry, each with the latest user turn as context.
- ``ToolMessage``: ``ToolResult(name, text)`` (+ its images).
- ``Document``: ``RetrievedChunk(page_content, source=metadata["source"])``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
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

__all__ = [
    "assistant_items",
    "chunk",
    "context_of",
    "latest_user_turn",
    "message_images",
    "text_item",
    "tool_call",
    "tool_result_items",
    "user_message",
]


def _image(block: Mapping[str, Any]) -> Image:
    mime = block.get("mime_type")
    if block.get("url"):
        return Image(url=str(block["url"]), mime_type=mime)
    if block.get("base64"):
        try:
            data = base64.b64decode(str(block["base64"]), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ContentError(f"image content block is not valid base64: {exc}") from None
        return Image(data=data, mime_type=mime)
    # A provider file id cannot be read here; failing closed beats passing it unscreened.
    raise ContentError(
        "cannot screen an image given only by a provider file id; send it as a URL or "
        "base64 content block so the guard can see it"
    )


def message_images(message: BaseMessage) -> tuple[Image, ...]:
    """Every image in a message's content blocks."""
    if isinstance(message.content, str):
        return ()
    return tuple(_image(block) for block in message.content_blocks if block["type"] == "image")


def user_message(message: BaseMessage) -> UserMessage:
    """A human turn (text + images) as user input."""
    return UserMessage(message.text, images=message_images(message))


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


def assistant_items(message: AIMessage, context: UserMessage | None = None) -> list[Item]:
    """The model's text (if any) and each of its tool calls."""
    items: list[Item] = []
    if message.text.strip():
        items.append(AssistantMessage(message.text, context=context))
    items += [tool_call(call, context) for call in message.tool_calls]
    return items


def tool_result_items(message: ToolMessage) -> list[Item]:
    """A tool's output: its text as a ``ToolResult`` and any images it returned."""
    name = message.name or "tool"
    items: list[Item] = [ToolResult(name, message.text, call_id=message.tool_call_id)]
    items += [Image(data=i.data, url=i.url, mime_type=i.mime_type, caption=f"output of {name}")
              for i in message_images(message)]
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
