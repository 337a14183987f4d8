"""The tool-result steps of ``GuardMiddleware``: a tool's result -> the messages to screen,
and verdicts -> the result the model reads (redacted, withheld or flagged).

Every shape LangGraph's ``ToolNode`` accepts is handled (a ``ToolMessage``, a ``Command``
whose update carries messages and any other state keys, as a dict or as ``(key, value)``
pairs, a list of those); anything else, and any message holding a content block the guard
cannot read, is withheld as an error message (fail closed). The state keys of an update
besides ``messages`` are screened as the tool's result too; one not allowed drops them all.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from typing import Any, TypeVar

from langchain_core.messages import BaseMessage, ToolMessage, convert_to_messages
from langgraph.types import Command

from guard_core.adapters.boundary import joined
from guard_core.adapters.decisions import redaction, strongest_decision, verdict_metadata
from guard_core.content import Item, ToolResult
from guard_core.errors import ContentError, GuardViolation
from guard_core.verdict import Verdict

from ._convert import tool_result_items
from ._schema_keys import walk

__all__ = [
    "ToolResultShape",
    "error_item",
    "normalize_result",
    "reraise_unless_allowed",
    "result_items",
    "screen_results",
]


def _meta(message: BaseMessage, verdict: Verdict, decided: str) -> dict[str, Any]:
    return {**message.response_metadata, "guard_core": verdict_metadata(verdict, decided)}  # type: ignore[arg-type]


ToolResultShape = ToolMessage | Command[Any] | list[Any]
_M = TypeVar("_M", bound=BaseMessage)


def normalize_result(
    result: Any, tool_call: Mapping[str, Any], allow: Collection[str] = ()
) -> ToolResultShape:
    """A tool's result in a shape whose every message can be screened.

    Messages in a ``Command`` update written as dicts or tuples become messages (LangGraph
    would convert them after the middleware, unscreened); a list is taken element by element;
    a message holding a content block the guard cannot read (audio, video, a binary file;
    unless its type is in ``allow``) and anything else that cannot be screened become error
    messages saying why (fail closed).
    """
    if isinstance(result, ToolMessage):
        return _readable(result, allow)
    if isinstance(result, Command):
        update = _as_mapping(result.update)
        if update is None:
            return _withheld_result(
                tool_call, f"a Command whose update is a {type(result.update).__name__}"
            )
        if update.get("messages"):
            messages = [_readable(m, allow) for m in convert_to_messages(update["messages"])]
            update = {**update, "messages": messages}
        try:  # the rest of the update enters state, which the caller reads: screened too
            rest = joined(walk({k: v for k, v in update.items() if k != "messages"}))
        except ContentError as exc:
            return _withheld_result(tool_call, str(exc))
        if rest:
            update = {
                **update,
                _CARRIER: ToolMessage(
                    rest,
                    tool_call_id=str(tool_call.get("id")),
                    name=str(tool_call.get("name")),
                    id=_CARRIER,
                ),
            }
        return dataclasses.replace(result, update=update)
    if isinstance(result, list):
        return [normalize_result(r, tool_call, allow) for r in result]
    return _withheld_result(tool_call, f"the tool returned a {type(result).__name__}")


_CARRIER = "__guard_core_update__"
"""Where a Command update keeps, while it is screened, the text of its keys other than
``messages`` (removed again before the update reaches LangGraph)."""


def _as_mapping(update: Any) -> Mapping[str, Any] | None:
    """A Command update as a mapping: a dict, or LangGraph's ``[(key, value), ...]`` form."""
    if update is None:
        return {}
    if isinstance(update, Mapping):
        return update
    if isinstance(update, list | tuple) and all(
        isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) for p in update
    ):
        merged: dict[str, Any] = {}
        for key, value in update:
            merged[key] = [*merged.get(key, []), *value] if key == "messages" else value
        return merged
    return None


def _withheld_result(tool_call: Mapping[str, Any], why: str) -> ToolMessage:
    return ToolMessage(
        content=f"[tool result withheld by guard-core: {why}, which cannot be screened]",
        tool_call_id=str(tool_call.get("id")),
        name=str(tool_call.get("name")),
        status="error",
    )


def _readable(message: _M, allow: Collection[str]) -> _M:
    """``message``, or (a block the guard cannot read) a copy withholding its content."""
    try:
        tool_result_items(message, allow)
    except ContentError as exc:
        update: dict[str, Any] = {"content": f"[tool result withheld by guard-core: {exc}]"}
        if isinstance(message, ToolMessage):
            update.update(status="error", artifact=None)
        return message.model_copy(update=update)
    return message


def _result_messages(result: Any) -> list[BaseMessage]:
    if isinstance(result, BaseMessage):
        return [result]
    if isinstance(result, Command) and isinstance(result.update, Mapping):
        carrier = result.update.get(_CARRIER)
        return [
            *(m for m in result.update.get("messages") or () if isinstance(m, BaseMessage)),
            *([carrier] if isinstance(carrier, BaseMessage) else []),
        ]
    if isinstance(result, list):
        return [m for r in result for m in _result_messages(r)]
    return []


def result_items(
    result: ToolResultShape, allow: Collection[str] = ()
) -> list[tuple[BaseMessage, list[Item]]]:
    """Each message a tool produced, with the items to screen in it."""
    return [(m, tool_result_items(m, allow)) for m in _result_messages(result)]


def _screened(message: BaseMessage, verdicts: Sequence[Verdict]) -> BaseMessage:
    decided, verdict = strongest_decision(verdicts)
    if verdict is None:
        return message
    meta = _meta(message, verdict, decided)
    if decided == "flag":
        return message.model_copy(update={"response_metadata": meta})
    if decided == "redact":
        return message.model_copy(update={"content": redaction(verdict), "response_metadata": meta})
    withheld = f"[tool result withheld by guard-core: {verdict.reason}]"
    if not isinstance(message, ToolMessage):
        return message.model_copy(update={"content": withheld, "response_metadata": meta})
    return message.model_copy(
        update={"content": withheld, "status": "error", "artifact": None, "response_metadata": meta}
    )


def screen_results(
    result: ToolResultShape,
    groups: Sequence[tuple[BaseMessage, list[Item]]],
    verdicts: Sequence[Verdict],
) -> Any:
    """``result`` with every message redacted, withheld or flagged per its verdicts."""
    flat = iter(verdicts)
    replaced = {id(m): _screened(m, [next(flat) for _ in items]) for m, items in groups}
    return _rebuilt(result, replaced)


def _rebuilt(result: Any, replaced: Mapping[int, BaseMessage]) -> Any:
    if isinstance(result, BaseMessage):
        return replaced.get(id(result), result)
    if isinstance(result, list):
        return [_rebuilt(r, replaced) for r in result]
    if isinstance(result, Command) and isinstance(result.update, Mapping):
        update = dict(result.update)
        carrier = update.pop(_CARRIER, None)
        if carrier is not None and replaced.get(id(carrier), carrier) is not carrier:
            # the rest of the update was not allowed as it is: none of it enters state
            update = {"messages": update["messages"]} if "messages" in update else {}
        if update.get("messages"):
            update["messages"] = [replaced.get(id(m), m) for m in update["messages"]]
        return dataclasses.replace(result, update=update)
    return result


def error_item(tool_call: Mapping[str, Any], exc: BaseException) -> ToolResult | None:
    """A tool's exception as its result (its text reaches the caller, or the model when a
    ``ToolNode`` handles tool errors); None for LangGraph's control flow (interrupts,
    parent commands), which carries no text of the tool's."""
    from langgraph.errors import GraphBubbleUp

    if isinstance(exc, GraphBubbleUp):
        return None
    return ToolResult(str(tool_call.get("name")), str(exc) or type(exc).__name__)


def reraise_unless_allowed(exc: BaseException, verdict: Verdict) -> None:
    """A ``GuardViolation`` in place of ``exc`` when its text is not allowed (the caller
    then sees the verdict, not the text); otherwise the caller re-raises ``exc``."""
    if not verdict.allowed and verdict.decision != "flag":
        raise GuardViolation(verdict) from None
