"""Default deny for one LangChain message: every string it carries reaches the guard.

The fields an adapter *understands* become items of their own: the text (``content``
blocks, see ``_blocks``), the images and each entry of ``tool_calls``. Every other string
the message carries, in any field (``additional_kwargs`` with the legacy ``function_call``
and provider refusals, ``invalid_tool_calls``, ``tool_call_chunks``, ``ToolMessage.artifact``,
``name``, a block's annotations, a field a later LangChain adds), is found by walking the
message with :func:`guard_core.adapters.boundary.strings_in` and screened as one more text of the
same message, unless the guard already sees it (a substring of the text, a tool call's
name or argument, an image's data; a JSON string whose strings are all seen, such as the
raw ``arguments`` copy of a tool call). What cannot be read (bytes, an unknown object)
raises :class:`~guard_core.errors.ContentError` naming the field.

Left out, by decision: ``response_metadata`` and ``usage_metadata`` (provider bookkeeping:
ids, model name, finish reason, token counts; no provider sends them to a model, and a
redacted or refused message gets fresh ones), ``id``, ``type`` and the keys in
``NOT_CONTENT``.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage

from guard_core.adapters.boundary import Found, joined, strings_in
from guard_core.content import Image, ToolCall

from ._blocks import carries_blocks, read_blocks
from ._schema_keys import walk

__all__ = ["UNREAD_FIELDS", "Parts", "carries_more", "parts", "stripped"]

UNREAD_FIELDS = frozenset(
    {"content", "tool_calls", "response_metadata", "usage_metadata", "type", "id"}
)
"""Message fields not walked for strings: understood ones, and provider bookkeeping."""


@dataclass(frozen=True, slots=True)
class Parts:
    """What the guard reads in one message."""

    text: str
    images: tuple[Image, ...]
    extra: str  # every other string, joined ("" when there is none)


def _call_strings(message: BaseMessage) -> set[str]:
    if not isinstance(message, AIMessage):
        return set()
    out: set[str] = set()
    for call in message.tool_calls:
        out.add(str(call.get("name")))
        ToolCall(str(call.get("name")), call.get("args") or {})  # its own errors come first
        out.update(f.text for f in strings_in(call.get("args") or {}, where="tool_calls"))
    return out


def _seen(text: str, blob: str, known: set[str]) -> bool:
    if text in known or text in blob:
        return True
    stripped_text = text.strip()
    if stripped_text[:1] not in ("{", "["):
        return False
    try:
        value = json.loads(stripped_text)
    except ValueError:
        return False
    inner = strings_in(value)  # an argument's key or an id in it is content here
    return all(f.text in known or f.text in blob for f in inner)


def _fields(message: BaseMessage) -> dict[str, Any]:
    return {
        name: getattr(message, name)
        for name in type(message).model_fields
        if name not in UNREAD_FIELDS
    }


def parts(message: BaseMessage, allow: Collection[str] = ()) -> Parts:
    """The message's text (text blocks, then readable documents), its images and every
    other string it carries that the guard would not see otherwise."""
    blocks = read_blocks(message, allow)
    text = (
        "\n\n".join(t for t in (message.text, *blocks.texts) if t) if blocks.texts else message.text
    )
    found: list[Found] = [*blocks.found, *walk(_fields(message), where=type(message).__name__)]
    known = blocks.covered | _call_strings(message)
    blob = "\n".join([text, *known])
    extra = [f for f in found if not _seen(f.text, blob, known)]
    return Parts(text, tuple(blocks.images), joined(_unique(extra)))


def _unique(found: Iterable[Found]) -> list[Found]:
    seen: set[str] = set()
    out = []
    for f in found:
        if f.text not in seen:
            seen.add(f.text)
            out.append(f)
    return out


def carries_more(message: BaseMessage) -> bool:
    """Whether ``message`` carries anything beyond its text and tool calls (a stream holds
    such a chunk for the final check of the whole message)."""
    if carries_blocks(message):
        return True
    known = _call_strings(message)
    blob = "\n".join([message.text, *known])
    return any(not _seen(f.text, blob, known) for f in walk(_fields(message)))


def stripped(
    message: BaseMessage, content: str, meta: dict[str, Any], keep_name: bool = True
) -> Any:
    """A copy of ``message`` saying ``content`` and nothing else: no other field that can
    hold text keeps a copy (``additional_kwargs``, ``artifact``, invalid calls, chunks)."""
    update: dict[str, Any] = {
        "content": content,
        "additional_kwargs": {},
        "response_metadata": meta,
    }
    fields = type(message).model_fields
    for name, empty in (
        ("artifact", None),
        ("invalid_tool_calls", []),
        ("tool_call_chunks", []),
        ("usage_metadata", None),
    ):
        if name in fields:
            update[name] = empty
    if not keep_name:
        update["name"] = None
    return message.model_copy(update=update)
