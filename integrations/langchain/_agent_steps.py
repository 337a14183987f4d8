"""The pure steps of ``GuardMiddleware``: agent state -> items, verdicts -> state updates.

The tool-result steps live in ``_tool_results`` and are re-exported here.

Shared by the sync and async hooks; only the guard call differs between them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    ToolMessage,
)

from guard_core.content import Item, ToolCall, UserMessage
from guard_core.guard import Guard
from guard_core.verdict import Verdict

from ._actions import agent_from, decision, guard_metadata, redaction, worst
from ._convert import (
    assistant_items,
    context_of,
    latest_user_turn,
    tool_call,
    user_message,
)
from ._tool_results import ToolResultShape, normalize_result, result_items, screen_results

__all__ = [
    "ToolResultShape",
    "input_items",
    "input_update",
    "normalize_result",
    "output_items",
    "output_update",
    "refuse_call",
    "resolve_agent",
    "result_items",
    "screen_results",
    "tool_context",
]

_SEEN = "guard_input_id"


def resolve_agent(guard: Guard, agent: Any, context_key: str, state: Any, runtime: Any,
                  config: Mapping[str, Any] | None) -> str | None:
    """``agent=`` (name or resolver), then ``runtime.context``, then the run metadata."""
    if isinstance(agent, str):
        return agent
    if callable(agent):
        name = agent(state, runtime)
        if name is not None:
            return str(name)
    context = getattr(runtime, "context", None)
    value = (context.get(context_key) if isinstance(context, Mapping)
             else getattr(context, context_key, None))
    if isinstance(value, str) and value:
        return value
    if config is None:
        config = _current_config()
    return agent_from(guard, None, config.get("metadata"), config.get("configurable"))


def _current_config() -> Mapping[str, Any]:
    from langgraph.config import get_config

    try:
        return get_config()
    except RuntimeError:  # called outside a graph run (a unit test calling the hook)
        return {}


def _messages(state: Any) -> list[BaseMessage]:
    if isinstance(state, Mapping):
        return list(state.get("messages") or [])
    return list(getattr(state, "messages", None) or [])


def _meta(message: BaseMessage, verdict: Verdict, decided: str) -> dict[str, Any]:
    return {**message.response_metadata, "guard_core": guard_metadata(verdict, decided)}  # type: ignore[arg-type]


# -- input --------------------------------------------------------------------------------------

def input_items(state: Any, allow: Collection[str] = ()
                ) -> tuple[list[tuple[HumanMessage, UserMessage]], str | None]:
    """The user turn not yet screened by this agent, and its key (a block the guard
    cannot read raises :class:`ContentError` unless its type is in ``allow``)."""
    turn = latest_user_turn(_messages(state))
    if not turn:
        return [], None
    # The id alone is the caller's to choose (a reused id replaces a message in state), so
    # the key also hashes what the turn says: new content is always screened.
    digest = hashlib.sha256(repr([(m.id, m.content) for m in turn]).encode()).hexdigest()
    key = f"{turn[-1].id}:{digest[:32]}"
    if isinstance(state, Mapping) and state.get(_SEEN) == key:
        return [], key
    return [(m, user_message(m, allow)) for m in turn], key


def input_update(turn: Sequence[tuple[HumanMessage, UserMessage]], verdicts: Sequence[Verdict],
                 key: str | None, refusal: str) -> dict[str, Any]:
    update: dict[str, Any] = {_SEEN: key}
    decided, verdict = worst(verdicts)
    if verdict is None:
        return update
    if decided in ("block", "drop"):
        answer = AIMessage(refusal, response_metadata={"guard_core": guard_metadata(verdict,
                                                                                    "block")})
        # The blocked turn is replaced in state (same ids) so it never reaches the model
        # later as history; it is not marked as seen, so a rerun screens it again.
        withheld = [message.model_copy(update={"content": redaction(v),
                                               "response_metadata": _meta(message, v, "block")})
                    for (message, _), v in zip(turn, verdicts, strict=True)
                    if not v.allowed and message.id is not None]
        return {"messages": [*withheld, answer], "jump_to": "end"}
    changed = []
    for (message, _), v in zip(turn, verdicts, strict=True):
        d = decision(v)
        if d == "redact":
            changed.append(message.model_copy(update={"content": redaction(v),
                                                      "response_metadata": _meta(message, v, d)}))
        elif d == "flag":
            changed.append(message.model_copy(update={"response_metadata": _meta(message, v, d)}))
    return {**update, "messages": changed}


# -- output -------------------------------------------------------------------------------------

def output_items(state: Any, allow: Collection[str] = ()) -> tuple[AIMessage | None, list[Item]]:
    """The model's latest answer (text, images) and its tool calls, with the user turn as
    context."""
    messages = _messages(state)
    if not messages or not isinstance(messages[-1], AIMessage):
        return None, []
    return messages[-1], assistant_items(messages[-1], context_of(messages), allow)


def output_update(message: AIMessage, items: Sequence[Item], verdicts: Sequence[Verdict],
                  refusal: str) -> dict[str, Any] | None:
    # Tool-call verdicts are enforced (and served from the cache) in wrap_tool_call,
    # where a block lets the agent go on; here only the answer (text, images) is acted on.
    text = [v for item, v in zip(items, verdicts, strict=True) if item.surface != "tool_call"]
    decided, verdict = worst(text)
    if verdict is None:
        return None
    if decided in ("block", "drop"):
        answer = AIMessage(refusal, id=message.id, name=message.name,
                           response_metadata={"guard_core": guard_metadata(verdict, "block")})
        return {"messages": [answer], "jump_to": "end"}
    update: dict[str, Any] = {"response_metadata": _meta(message, verdict, decided)}
    if decided == "redact":
        update["content"] = redaction(verdict)
    return {"messages": [message.model_copy(update=update)]}


# -- tools --------------------------------------------------------------------------------------

def tool_context(request: Any) -> ToolCall:
    """The tool call of a ``ToolCallRequest``, with the user turn as context."""
    return tool_call(request.tool_call, context_of(_messages(request.state)))


def refuse_call(call: Mapping[str, Any], verdict: Verdict) -> ToolMessage | None:
    """The error ``ToolMessage`` that stands in for a blocked call (None: let it run)."""
    decided = decision(verdict)
    if decided in ("allow", "flag"):
        return None
    return ToolMessage(
        content=f"Tool call blocked by guard-core: {verdict.reason}. The tool did not run; "
        "do not retry it with the same arguments.",
        tool_call_id=call.get("id") or "", name=call.get("name"), status="error",
        response_metadata={"guard_core": guard_metadata(verdict, "block")},
    )
