"""What LangChain's own schema names, read from the installed langchain-core once.

Message field names and the keys of its content-block and tool-call ``TypedDict``s are
structure; any other key a message carries (in ``additional_kwargs``, a block's extras, a
tool call's arguments) is content and is screened. :func:`walk` is the one way this adapter
walks a message's strings.
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from typing import Any

from langchain_core.messages import content as lc_content
from langchain_core.messages import tool as lc_tool
from typing_extensions import is_typeddict

from guard_core.adapters.boundary import Found, strings_in
from guard_core.adapters.schema import declared_keys

__all__ = ["LABELS", "OPAQUE", "schema_keys", "walk"]

OPAQUE = frozenset({"signature", "encrypted_content"})
"""Encrypted or signed values nobody reads: skipped whatever they hold."""

LABELS = frozenset(
    {
        "type",
        "id",
        "index",
        "mime_type",
        "media_type",
        "detail",
        "source_type",
        "status",
        "tool_call_id",
        "chunk_position",
    }
)
"""Keys whose value is an id, tag or enum while it is one short token; a sentence is content."""

# The OpenAI-shaped dicts providers keep in additional_kwargs (function_call, tool_calls)
_PROVIDER_KEYS = frozenset(
    {
        "function_call",
        "tool_calls",
        "function",
        "name",
        "arguments",
        "refusal",
        "reasoning_content",
        "parsed",
        "audio",
        "transcript",
    }
)


@functools.cache
def schema_keys() -> frozenset[str]:
    """Every key langchain-core declares for a content block or a tool call, every message
    field name, and the provider keys above."""
    from langchain_core.messages import BaseMessage

    roots: list[Any] = [
        v for module in (lc_content, lc_tool) for v in vars(module).values() if is_typeddict(v)
    ]
    stack: list[type[Any]] = [BaseMessage]
    while stack:  # every message class, the chunks included
        cls = stack.pop()
        roots.append(cls)
        stack.extend(cls.__subclasses__())
    return declared_keys(*roots) | _PROVIDER_KEYS


def walk(value: Any, where: str = "", *, skip: Collection[str] = ()) -> list[Found]:
    """Every string of ``value`` a model or a caller can read (``strings_in`` with this
    adapter's opaque, label and schema keys)."""
    return strings_in(
        value,
        skip_keys=OPAQUE | frozenset(skip),
        label_keys=LABELS,
        structural_keys=schema_keys(),
        where=where,
    )
