"""LangChain's own schema, enumerated: a block type or a message field LangChain adds makes
one of these tests fail; it never opens a hole."""

from __future__ import annotations

import inspect
import typing
from typing import Any

import pytest
import typing_extensions
from langchain_core import messages as lc_messages
from langchain_core.messages import BaseMessage, HumanMessage, RemoveMessage
from langchain_core.messages import content as lc_content
from langchain_core.messages.content import KNOWN_BLOCK_TYPES

from guard_core import Guard
from guard_core.errors import ContentError
from guard_core.integrations.langchain import GuardRunnable
from guard_core.integrations.langchain._blocks import HANDLED_TYPES
from guard_core.integrations.langchain._convert import message_items
from guard_core.integrations.langchain._fields import UNREAD_FIELDS
from guard_core.testing import ScriptedBackend

MARKER = "zebra-31c"
# the fields each message type understands itself (text, calls) and ids (never content, as
# in the kit's NOT_CONTENT); all others are walked
UNDERSTOOD = {"content", "tool_calls", "tool_call_id"}


def _block_types() -> set[str]:
    """The ``type`` literal of every content block TypedDict langchain_core defines."""
    found: set[str] = set()
    for _, value in inspect.getmembers(lc_content):
        if isinstance(value, type) and typing_extensions.is_typeddict(value):
            hint = typing_extensions.get_type_hints(value).get("type")
            found.update(a for a in typing.get_args(hint) if isinstance(a, str))
    return found


def test_every_content_block_type_of_langchain_has_a_rule() -> None:
    types = _block_types()
    assert {"text", "image", "reasoning", "server_tool_result"} <= types  # the walk works
    annotations = {"citation", "non_standard_annotation"}  # inside text blocks: walked there
    assert types - annotations <= HANDLED_TYPES, types - annotations - HANDLED_TYPES
    assert KNOWN_BLOCK_TYPES <= HANDLED_TYPES


def test_a_block_type_nobody_knows_is_refused_not_skipped() -> None:
    message = HumanMessage([{"type": "hologram", "payload": "hello"}])
    with pytest.raises(ContentError, match="'hologram'"):
        GuardRunnable(Guard(ScriptedBackend())).invoke([message])


def _message_classes() -> list[type[BaseMessage]]:
    out = []
    for name in lc_messages.__all__:
        value = getattr(lc_messages, name)
        if (
            isinstance(value, type)
            and issubclass(value, BaseMessage)
            and value not in (BaseMessage, lc_messages.BaseMessageChunk, RemoveMessage)
        ):
            out.append(value)
    return out


def _build(cls: type[BaseMessage]) -> BaseMessage:
    required: dict[str, Any] = {"content": "hello"}
    for name, info in cls.model_fields.items():
        if info.is_required() and name not in required:
            required[name] = "call_1" if "id" in name else "user"
    return cls(**required)


def _text_of(message: BaseMessage) -> str:
    items = message_items(message, None)
    return " ".join(str(getattr(i, "text", "")) + str(getattr(i, "content", "")) for i in items)


def test_every_message_type_is_screened_by_a_role() -> None:
    classes = _message_classes()
    assert len(classes) >= 10  # human, ai, system, tool, chat, function and their chunks
    for cls in classes:
        assert "hello" in _text_of(_build(cls)), cls.__name__


@pytest.mark.parametrize("cls", _message_classes(), ids=lambda c: c.__name__)
def test_a_marker_in_any_field_of_any_message_type_is_screened(cls: type[BaseMessage]) -> None:
    """Each field that can hold text, set to the marker (or a dict holding it), is screened
    unless it is provider bookkeeping (UNREAD_FIELDS; see ``_fields``)."""
    base = _build(cls)
    checked = 0
    for name in cls.model_fields:
        if name in UNREAD_FIELDS | UNDERSTOOD:
            continue
        for value in (MARKER, {"x": [MARKER]}, [MARKER]):
            try:
                message = cls.model_validate({**base.model_dump(), name: value})
            except (ValueError, TypeError, AttributeError):
                continue  # the field does not take such a value
            if MARKER not in repr(getattr(message, name)):
                continue  # the field did not keep the value
            assert MARKER in _text_of(message), f"{cls.__name__}.{name} not screened"
            checked += 1
            break
    assert checked >= 1, cls.__name__  # additional_kwargs at least


def test_unread_fields_are_only_provider_bookkeeping() -> None:
    """The decision, written down: these fields are never sent to a model by a provider
    integration (they are set from its responses), so they are not screened; a redacted or
    refused message gets fresh ones."""
    assert {
        "content",
        "tool_calls",
        "response_metadata",
        "usage_metadata",
        "type",
        "id",
    } == UNREAD_FIELDS
