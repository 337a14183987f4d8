"""LlamaIndex chat messages and tool outputs -> guard-core items, and the withheld markers.

Pure functions, no I/O beyond reading an image or document file a block points at. The
same message always becomes the same items (a history is re-screened every step, and the
guard's verdict cache answers what it judged before), and a message the agent judged as
the model's answer becomes, in the next step's history, exactly the items judged then.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, MessageRole, ToolCallBlock
from llama_index.core.tools import ToolMetadata, ToolOutput

from guard_core.adapters.boundary import joined, strings_in
from guard_core.content import AssistantMessage, Item, ToolCall, ToolResult, UserMessage
from guard_core.errors import ContentError
from guard_core.verdict import Verdict

from ._blocks import read_blocks

__all__ = [
    "MessageItems",
    "call_item",
    "history_items",
    "message_items",
    "output_items",
    "raw_item",
    "request_of",
    "tool_kwargs",
    "withheld_text",
]

NOT_CONTENT = frozenset({"tool_call_id", "id"})
"""``additional_kwargs`` keys that are ids, not content; every other string is screened."""

_USER_ROLES = frozenset({MessageRole.USER, MessageRole.SYSTEM, MessageRole.DEVELOPER})


@dataclass(frozen=True)
class MessageItems:
    """A message's items: its content (text, images), each tool call, its extra fields."""

    content: list[Item]
    calls: list[tuple[int, ToolCall]]  # (block index, call)
    extra: Item | None  # the strings of additional_kwargs

    @property
    def all(self) -> list[Item]:
        return [
            *self.content,
            *(c for _, c in self.calls),
            *([self.extra] if self.extra is not None else []),
        ]


def request_of(message: ChatMessage | None) -> UserMessage | None:
    """A user message as the request a model answer or tool call is judged against."""
    return UserMessage(message.content or "") if message is not None else None


def message_items(
    message: ChatMessage,
    where: str,
    *,
    request: UserMessage | None,
    tool_name: str = "tool",
    allow: Collection[str] = (),
) -> MessageItems:
    """Every item of one chat message: user / system text (with its images), an assistant
    answer (with ``request`` as context), a tool result; each tool-call block; and every
    string of ``additional_kwargs`` (ids aside). Raises ``ContentError`` for what the guard
    cannot read (see ``_blocks``)."""
    parts = read_blocks(message.blocks, where, allow)
    extra_text = joined(
        strings_in(
            message.additional_kwargs, skip_keys=NOT_CONTENT, where=f"{where} additional_kwargs"
        )
    )
    content: list[Item] = []
    extra: Item | None = None
    if message.role in _USER_ROLES:
        if parts.text.strip() or parts.images:
            content.append(UserMessage(parts.text, images=tuple(parts.images)))
        extra = UserMessage(extra_text) if extra_text else None
    elif message.role in (MessageRole.TOOL, MessageRole.FUNCTION):
        content = [
            *([ToolResult(tool_name, parts.text)] if parts.text.strip() else []),
            *parts.images,
        ]
        extra = ToolResult(tool_name, extra_text) if extra_text else None
    else:  # assistant, and any role a release adds: judged as the model's words
        if parts.text.strip() or not parts.calls:
            content.append(AssistantMessage(parts.text, context=request))
        content += parts.images
        extra = AssistantMessage(extra_text, context=request) if extra_text else None
    calls = [(i, block_call(block, request)) for i, block in parts.calls]
    return MessageItems(content, calls, extra)


def history_items(messages: Sequence[ChatMessage], allow: Collection[str] = ()) -> list[Item]:
    """Every item of a chat history, each message judged as :func:`message_items` does
    (an answer against the user message before it; a tool result under the name of the
    call it answers)."""
    items: list[Item] = []
    request: UserMessage | None = None
    names: dict[str, str] = {}
    for i, message in enumerate(messages):
        if message.role == MessageRole.USER:
            request = request_of(message)
        call_id = message.additional_kwargs.get("tool_call_id")
        found = message_items(
            message,
            f"chat history message {i} ({message.role.value})",
            request=request,
            tool_name=names.get(str(call_id), "tool"),
            allow=allow,
        )
        for block in message.blocks:
            if isinstance(block, ToolCallBlock) and block.tool_call_id:
                names[block.tool_call_id] = block.tool_name
        items += found.all
    return items


def block_call(block: ToolCallBlock, request: UserMessage | None) -> ToolCall:
    kwargs = block.tool_kwargs
    if isinstance(kwargs, str):
        try:
            parsed = json.loads(kwargs) if kwargs.strip() else {}
        except ValueError:
            parsed = {"arguments": kwargs}
        kwargs = parsed if isinstance(parsed, dict) else {"arguments": parsed}
    return call_item(block.tool_name, kwargs, call_id=block.tool_call_id, request=request)


def tool_kwargs(
    metadata: ToolMetadata,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    skip: str | None = None,
) -> dict[str, Any]:
    """The call's arguments as one dict; a lone positional goes under the schema's one field."""
    out = {k: v for k, v in kwargs.items() if k != skip}
    if args:
        props = list(metadata.get_parameters_dict().get("properties", {}))
        if len(args) == 1 and len(props) == 1 and props[0] not in out:
            out[props[0]] = args[0]
        else:
            out["args"] = list(args)
    return out


def call_item(
    name: str,
    arguments: Mapping[str, Any],
    *,
    call_id: str | None = None,
    request: UserMessage | None = None,
) -> ToolCall:
    """A :class:`ToolCall`; values that are not JSON are screened as their ``str``."""
    return ToolCall(
        name, {str(k): _jsonable(v) for k, v in arguments.items()}, id=call_id, context=request
    )


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return str(value)


def output_items(name: str, output: ToolOutput, allow: Collection[str] = ()) -> list[Item]:
    """A tool's output as the model will read it: its text (text blocks, text documents,
    citations, thinking), then each image, then any tool-call block. A block the guard
    cannot read raises :class:`ContentError` unless its type is in ``allow``."""
    parts = read_blocks(output.blocks, f"tool {name!r} output", allow)
    items: list[Item] = [ToolResult(name, parts.text)] if parts.text.strip() else []
    items += parts.images
    items += [block_call(block, None) for _, block in parts.calls]
    return items


def raw_item(name: str, output: ToolOutput, allow: Collection[str] = ()) -> Item | None:
    """``raw_output`` (what the caller's event stream carries) when it says more than the
    blocks do. Raises :class:`ContentError` when it cannot be read (an arbitrary object)."""
    raw = output.raw_output
    text = joined(strings_in(raw, skip_keys={"block_type"}, where=f"tool {name!r} raw_output"))
    if not text.strip() or text == read_blocks(output.blocks, "", allow).text:
        return None
    return ToolResult(name, text)


def withheld_text(what: str, verdict: Verdict | ContentError) -> str:
    """The marker the model reads instead of withheld content (judged unsafe, or
    holding a block the guard cannot read)."""
    reason = verdict.reason if isinstance(verdict, Verdict) else str(verdict)
    return f"[guard-core: {what} withheld: {reason}]"


def tools_text(tools: Sequence[Any]) -> str:
    """What the LLM reads of the tools it is offered: each one's name, description and
    argument schema (a tool from an MCP server or a tool retriever is not the developer's
    text)."""
    found = []
    for index, tool in enumerate(tools):
        metadata = getattr(tool, "metadata", None)
        if metadata is None:
            continue
        shown = {
            "name": metadata.name,
            "description": metadata.description,
            "parameters": metadata.get_parameters_dict(),
        }
        found += strings_in(
            shown, structural_keys={"name", "description", "parameters"}, where=f"tools[{index}]"
        )
    return joined(found)
