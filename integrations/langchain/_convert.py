"""LangChain objects -> guard_core items. Pure functions, no guard calls, no policy logic.

How each LangChain object maps onto a surface:

- ``HumanMessage``: ``UserMessage(text, images)``; image content blocks in any format
  LangChain normalises (OpenAI ``image_url``, base64 ``image`` blocks, Anthropic
  ``source``) become :class:`~guard_core.content.Image`.
- ``AIMessage``: ``AssistantMessage(text)`` (when it has text), its images, and one
  ``ToolCall`` per ``tool_calls`` entry, each with the latest user turn as context.
- ``ToolMessage``: ``ToolResult(name, text)`` (+ its images).
- ``SystemMessage`` / ``ChatMessage``: like a human turn (what the model is told).
- ``Document``: ``RetrievedChunk(page_content, source=metadata["source"])``, and one more
  chunk with every string of its metadata.

Every other string a message carries (``additional_kwargs``, ``artifact``,
``invalid_tool_calls``, ``name``, ...) is screened with the message's text; see ``_fields``.

A message's text is its ``text`` blocks plus the text of its ``text-plain`` blocks and
text ``file`` blocks; a block the guard cannot read (audio, video, binary files,
``non_standard``) raises :class:`ContentError` unless its type is in ``allow`` (the
adapters' ``allow_unscreened``); see ``_blocks``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from langchain_core.documents import Document
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from guard_core.adapters.boundary import joined, strings_in
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

from ._fields import Parts, parts

__all__ = [
    "assistant_items",
    "chunk",
    "context_of",
    "document_items",
    "history_items",
    "latest_user_turn",
    "message_items",
    "message_parts",
    "text_item",
    "tool_call",
    "tool_result_items",
    "user_items",
    "user_message",
]


def message_parts(
    message: BaseMessage, allow: Collection[str] = ()
) -> tuple[str, tuple[Image, ...]]:
    """A message's whole text (text blocks, then readable documents) and its images."""
    found = parts(message, allow)
    return found.text, found.images


def _all_text(found: Parts) -> str:
    return "\n\n".join(p for p in (found.text, found.extra) if p)


def user_items(message: BaseMessage, allow: Collection[str] = ()) -> list[Item]:
    """A human (or system) turn as user input: its text, attached text documents, every
    other string it carries, and its images."""
    return [user_message(message, allow)]


def user_message(message: BaseMessage, allow: Collection[str] = ()) -> UserMessage:
    """A human turn's text (with every other string it carries) and images."""
    found = parts(message, allow)
    return UserMessage(_all_text(found), images=found.images)


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


def assistant_items(
    message: AIMessage, context: UserMessage | None = None, allow: Collection[str] = ()
) -> list[Item]:
    """The model's text (if any), its images, every other string it carries (legacy
    ``function_call``, refusals, invalid calls, reasoning) and each of its tool calls."""
    found = parts(message, allow)
    text = _all_text(found)
    items: list[Item] = []
    if text.strip():
        items.append(AssistantMessage(text, context=context))
    items += found.images
    items += [tool_call(call, context) for call in message.tool_calls]
    return items


def tool_result_items(message: BaseMessage, allow: Collection[str] = ()) -> list[Item]:
    """A tool's output (a ``ToolMessage``, or any message a tool returned in a
    ``Command``): its text as a ``ToolResult`` and any images it returned."""
    name = message.name or "tool"
    found = parts(message, allow)
    call_id = message.tool_call_id if isinstance(message, ToolMessage) else None
    # the artifact, additional_kwargs, ... are screened with the text: they reach state
    items: list[Item] = [ToolResult(name, _all_text(found), call_id=call_id)]
    items += [
        Image(data=i.data, url=i.url, mime_type=i.mime_type, caption=f"output of {name}")
        for i in found.images
    ]
    return items


def message_items(
    message: BaseMessage, context: UserMessage | None, allow: Collection[str] = ()
) -> list[Item]:
    """Every item of one message of a conversation, by its role."""
    if isinstance(message, AIMessage):
        return assistant_items(message, context, allow)
    if isinstance(message, ToolMessage | FunctionMessage):
        return tool_result_items(message, allow)
    if isinstance(message, HumanMessage | SystemMessage | ChatMessage):
        return user_items(message, allow)
    raise ContentError(f"cannot screen a {type(message).__name__} in a conversation")


def history_items(messages: Sequence[BaseMessage], allow: Collection[str] = ()) -> list[list[Item]]:
    """Each message's items; answers and calls are judged with the user turn before them
    (the same context they had when they were new, so the cache answers them again)."""
    out: list[list[Item]] = []
    context: UserMessage | None = None
    for message in messages:
        if isinstance(message, HumanMessage):
            context = UserMessage(message.text)
        out.append(message_items(message, context, allow))
    return out


def chunk(document: Document, query: str | None = None) -> RetrievedChunk:
    """A retrieved ``Document``'s text (its metadata: :func:`document_items`)."""
    source = document.metadata.get("source")
    return RetrievedChunk(
        document.page_content,
        source=None if source is None else str(source),
        metadata=dict(document.metadata),
        query=query,
    )


def document_items(document: Document, query: str | None = None) -> list[Item]:
    """A retrieved ``Document``: its text, and every string of its metadata (a document
    prompt may put any of it in front of the model) as a second chunk."""
    items: list[Item] = [chunk(document, query)]
    # an id is not content while it is one token; a sentence there reaches the caller too
    found = strings_in(
        {"id": document.id, "metadata": document.metadata},
        label_keys={"id"},
        structural_keys={"metadata"},
        where="Document",
    )
    if found:
        items.append(RetrievedChunk(joined(found), query=query))
    return items


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
