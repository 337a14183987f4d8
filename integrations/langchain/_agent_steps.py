"""The steps of ``GuardMiddleware`` shared by its hooks: whose policy applies, a tool call
with its context, and what stands in for a blocked call.

The model-call steps live in ``_model_call``, the tool-result steps in ``_tool_results``
(re-exported here). Shared by the sync and async hooks; only the guard call differs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

from guard_core.adapters.boundary import agent_choice
from guard_core.adapters.decisions import decision, verdict_metadata
from guard_core.content import ToolCall
from guard_core.guard import Guard
from guard_core.verdict import Verdict

from ._agents import developer_agent, requested_agent
from ._convert import context_of, tool_call
from ._schema_keys import walk
from ._tool_results import ToolResultShape, normalize_result, result_items, screen_results

__all__ = [
    "WITHHELD_ARGS",
    "ToolResultShape",
    "normalize_result",
    "refuse_call",
    "resolve_agent",
    "result_items",
    "screen_results",
    "tool_context",
    "withheld_calls",
]

AgentResolver = Callable[[Any, Any], str | None]


def resolve_agent(
    guard: Guard,
    agent: str | AgentResolver | None,
    context_key: str,
    state: Any,
    runtime: Any,
    config: Mapping[str, Any] | None,
    allow_override: bool,
) -> str | None:
    """The developer's agent (``agent=`` name or resolver, else ``create_agent(name=...)``
    or a known ``langgraph_node``) over a client's (``runtime.context``, ``configurable``,
    ``metadata``): another agent asked for by a client is a ``ContentError`` unless
    ``allow_override``."""
    chosen = agent if isinstance(agent, str) else None
    if callable(agent):
        name = agent(state, runtime)
        chosen = None if name is None else str(name)
    if config is None:
        config = _current_config()
    context = getattr(runtime, "context", None)
    asked = (
        context.get(context_key)
        if isinstance(context, Mapping)
        else getattr(context, context_key, None)
    )
    requested = (
        asked
        if isinstance(asked, str) and asked
        else requested_agent(config.get("configurable"), config.get("metadata"))
    )
    return agent_choice(
        developer_agent(guard, chosen, config.get("metadata")),
        requested,
        allow_override=allow_override,
        owner="GuardMiddleware",
    )


def _current_config() -> Mapping[str, Any]:
    from langgraph.config import get_config

    try:
        return get_config()
    except RuntimeError:  # called outside a graph run (a unit test calling the hook)
        return {}


def messages_of(state: Any) -> list[BaseMessage]:
    if isinstance(state, Mapping):
        return list(state.get("messages") or [])
    return list(getattr(state, "messages", None) or [])


def tool_context(request: Any) -> ToolCall:
    """The tool call of a ``ToolCallRequest``, with the user turn as context."""
    return tool_call(request.tool_call, context_of(messages_of(request.state)))


def refuse_call(call: Mapping[str, Any], verdict: Verdict) -> ToolMessage | None:
    """The error ``ToolMessage`` that stands in for a blocked call (None: let it run)."""
    decided = decision(verdict)
    if decided in ("allow", "flag"):
        return None
    return ToolMessage(
        content=f"Tool call blocked by guard-core: {verdict.reason}. The tool did not run; "
        "do not retry it with the same arguments.",
        tool_call_id=call.get("id") or "",
        name=call.get("name"),
        status="error",
        response_metadata={"guard_core": verdict_metadata(verdict, "block")},
    )


WITHHELD_ARGS = {"guard_core": "[arguments withheld by guard-core]"}
"""What a blocked call's arguments become wherever a copy is kept (the reason is in the
error ``ToolMessage`` that answers the call)."""


def withheld_calls(message: AIMessage, blocked: Collection[str | None]) -> dict[str, Any]:
    """The fields of ``message`` with the arguments of the ``blocked`` calls (by id)
    replaced by a placeholder in every copy: ``tool_calls``, the provider's raw
    ``additional_kwargs["tool_calls"]``, ``tool_call_chunks`` and provider content blocks
    (Anthropic ``tool_use``, ...). Other fields that can hold a copy of the arguments (the
    rest of ``additional_kwargs``, ``invalid_tool_calls``, ``name``) are cleared: a copy the
    guard counted as seen in the call must not outlive the call."""

    def fix(calls: Sequence[Any], raw: bool = False) -> list[Any]:
        out = []
        for call in calls:
            if call.get("id") not in blocked:
                out.append(call)
            elif raw:
                function = {**call.get("function", {}), "arguments": json.dumps(WITHHELD_ARGS)}
                out.append({**call, "function": function})
            else:
                out.append({**call, "args": dict(WITHHELD_ARGS)})
        return out

    update: dict[str, Any] = {
        "tool_calls": fix(message.tool_calls),
        "invalid_tool_calls": [],
        "name": None,
    }
    extra = {k: v for k, v in message.additional_kwargs.items() if k == "tool_calls" or not walk(v)}
    if extra.get("tool_calls"):
        extra["tool_calls"] = fix(extra["tool_calls"], raw=True)
    update["additional_kwargs"] = extra
    chunks = getattr(message, "tool_call_chunks", None)
    if chunks:
        update["tool_call_chunks"] = [
            {**c, "args": json.dumps(WITHHELD_ARGS)} if c.get("id") in blocked else c
            for c in chunks
        ]
    if isinstance(message.content, list):
        update["content"] = [_withheld_block(b, blocked) for b in message.content]
    return update


_CALL_INPUTS = ("input", "args", "arguments", "partial_json")


def _withheld_block(block: Any, blocked: Collection[str | None]) -> Any:
    """A content block that is a provider's copy of a blocked call, with its input replaced."""
    if not isinstance(block, dict) or block.get("id") not in blocked:
        return block
    fixed = dict(block)
    for key in _CALL_INPUTS:
        if key in fixed:
            fixed[key] = (
                json.dumps(WITHHELD_ARGS) if isinstance(fixed[key], str) else dict(WITHHELD_ARGS)
            )
    return fixed
