"""The canary kit for the LlamaIndex suites: an unsafe marker, and LlamaIndex's own schema
turned into every place a string can sit (message blocks, message fields, node fields).

``MARK`` holds "bomb", which ``ScriptedBackend(unsafe_words=["bomb"])`` judges unsafe;
``SAFE`` is judged safe, so a test can show the same path delivers what is allowed."""

from __future__ import annotations

import json
import typing
from collections.abc import Callable
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    CitableBlock,
    CitationBlock,
    ContentBlock,
    DocumentBlock,
    ImageBlock,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
)

from guard_core import Guard, Policy
from guard_core.audit import MemoryAudit
from guard_core.testing import ScriptedBackend

MARK = "bomb-canary-7"
SAFE = "teacanary-3"


def fresh_guard(*agents: str) -> tuple[Guard, ScriptedBackend, MemoryAudit]:
    """A guard whose backend judges MARK unsafe; an empty cache each time."""
    from guard_core import PolicySet

    backend = ScriptedBackend(unsafe_words=["bomb"])
    audit = MemoryAudit()
    policies: Policy | PolicySet = (
        PolicySet({a: Policy(name=a, mode="categories") for a in agents})
        if agents
        else Policy(name="rag", mode="categories")
    )
    return Guard(backend, policies, audit=audit), backend, audit


def asked(backend: ScriptedBackend, text: str) -> bool:
    """Whether the guard model was sent ``text`` (in any message or image URL)."""
    return any(text in json.dumps(r.messages, default=str) for r in backend.requests)


def content_block_types() -> set[type]:
    """Every member of LlamaIndex's ``ContentBlock`` union, read from the union itself."""
    union = typing.get_args(ContentBlock)[0]
    return set(typing.get_args(union))


# -- blocks that carry a string, one per string-bearing field ------------------------------------

BLOCK_MAKERS: dict[str, Callable[[str], Any]] = {
    "text": lambda s: TextBlock(text=s),
    "thinking.content": lambda s: ThinkingBlock(content=s),
    "thinking.additional_information": lambda s: ThinkingBlock(
        content="hmm", additional_information={"signature": s}
    ),
    "document.data": lambda s: DocumentBlock(data=s.encode(), document_mimetype="text/plain"),
    "document.title": lambda s: DocumentBlock(
        data=b"notes", title=s, document_mimetype="text/plain"
    ),
    "citable.title": lambda s: CitableBlock(title=s, source="src", content=[TextBlock(text="x")]),
    "citable.source": lambda s: CitableBlock(title="t", source=s, content=[TextBlock(text="x")]),
    "citable.content": lambda s: CitableBlock(title="t", source="src", content=[TextBlock(text=s)]),
    "citation.cited_content": lambda s: CitationBlock(
        title="t", source="src", cited_content=TextBlock(text=s), additional_location_info={}
    ),
    "citation.location_key": lambda s: CitationBlock(
        title="t",
        source="src",
        cited_content=TextBlock(text="x"),
        additional_location_info={f"{s} page": 1},
    ),
    "image.url": lambda s: ImageBlock(url=f"https://img.example/{s}.png"),
    "tool_call.kwargs": lambda s: ToolCallBlock(
        tool_call_id="h1", tool_name="search", tool_kwargs={"query": s}
    ),
    "tool_call.json_kwargs": lambda s: ToolCallBlock(
        tool_call_id="h2", tool_name="search", tool_kwargs=json.dumps({"query": s})
    ),
    "tool_call.nested_kwargs": lambda s: ToolCallBlock(
        tool_call_id="h3", tool_name="search", tool_kwargs={"filters": [{"q": s}]}
    ),
}
"""What a block looks like with ``s`` in one of its string-bearing fields."""

ROLES = ("system", "developer", "user", "assistant", "tool")


def message(role: str, where: str, s: str) -> ChatMessage:
    """A chat message of ``role`` with ``s`` in ``where``: a block maker's name, or
    ``additional_kwargs`` (flat) / ``additional_kwargs.nested``."""
    extra: dict[str, Any] = {"tool_call_id": "h1"} if role == "tool" else {}
    if where == "additional_kwargs":
        return ChatMessage(role=role, content="hello", additional_kwargs={**extra, "name": s})
    if where == "additional_kwargs.nested":
        return ChatMessage(
            role=role, content="hello", additional_kwargs={**extra, "meta": {"notes": [s]}}
        )
    return ChatMessage(role=role, blocks=[BLOCK_MAKERS[where](s)], additional_kwargs=extra)


PLACES = (*BLOCK_MAKERS, "additional_kwargs", "additional_kwargs.nested")
