"""The model call of ``GuardMiddleware``: the whole request before it reaches the model,
the whole response before it leaves the model node. Pure steps, shared by the sync and
async ``wrap_model_call``.

- Request: every message the model is sent (the system message, every turn of the
  history, each by its role, every block and field), with the user turn before each answer
  as its context, so what was screened when new is answered by the cache again.
  A block returns a refusal instead of calling the model and replaces the blocked messages
  in state (same ids) so they never come back as history; ``redact`` sends (and keeps) a
  redacted copy.
- Response: every message the model node returns (the answer's text, every field, every
  tool call; the ``ToolMessage`` a structured-output strategy adds) and the structured
  response. A tool call the agent would still run is withheld (arguments replaced by a
  placeholder, an error ``ToolMessage`` in its place: the agent goes on); anything else
  blocked (text, a structured-output call, the structured response) turns the whole
  response into a refusal ``AIMessage`` with no tool calls.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from langchain.agents.middleware.types import ModelRequest, ModelResponse
from langchain_core.messages import AIMessage, BaseMessage, SystemMessage, ToolMessage
from langchain_core.runnables.config import var_child_runnable_config
from langgraph.constants import TAG_NOSTREAM
from pydantic import BaseModel

from guard_core.adapters.boundary import joined, strings_in
from guard_core.adapters.decisions import (
    Refusal,
    decision,
    redaction,
    refusal_text,
    strongest_decision,
    verdict_metadata,
)
from guard_core.content import AssistantMessage, Item, ToolCall, UserMessage
from guard_core.verdict import Decision, Verdict

from ._agent_steps import refuse_call, withheld_calls
from ._convert import assistant_items, context_of, history_items, message_items
from ._fields import stripped
from ._schema_keys import walk

__all__ = [
    "Outcome",
    "Screening",
    "hidden_from_stream",
    "judge_request",
    "judge_response",
    "request_screening",
    "response_screening",
]


@dataclass
class Screening:
    """The items to screen, one group per message (``None``: the structured response)."""

    messages: list[BaseMessage | None]
    groups: list[list[Item]]

    def items(self) -> list[Item]:
        return [item for group in self.groups for item in group]

    def split(self, verdicts: Sequence[Verdict]) -> list[list[Verdict]]:
        flat = iter(verdicts)
        return [[next(flat) for _ in group] for group in self.groups]


@dataclass
class Outcome:
    """What the request screening decided: the request to send (None: refused)."""

    request: ModelRequest[Any] | None
    refusal: AIMessage | None
    state: list[BaseMessage]  # copies replacing messages in state (same ids)


@contextmanager
def hidden_from_stream() -> Iterator[None]:
    """Run the model out of ``stream_mode="messages"``: its tokens and its raw answer are
    not streamed (LangGraph's ``nostream`` tag); the screened answer is, when the node ends."""
    config = var_child_runnable_config.get()
    if config is None:
        yield
        return
    tags = [*(config.get("tags") or []), TAG_NOSTREAM]
    token = var_child_runnable_config.set({**config, "tags": tags})
    try:
        yield
    finally:
        var_child_runnable_config.reset(token)


def request_screening(request: ModelRequest[Any], allow: Collection[str]) -> Screening:
    system = [request.system_message] if request.system_message is not None else []
    messages: list[BaseMessage] = [*system, *request.messages]
    screening = Screening(list(messages), history_items(messages, allow))
    offered = offered_text(request)
    if offered:  # tool definitions and schemas reach the model as surely as messages do
        screening.messages.append(None)
        screening.groups.append([UserMessage(offered)])
    return screening


def offered_text(request: ModelRequest[Any]) -> str:
    """Everything besides the messages that the model is shown: each tool's name,
    description and argument schema (an MCP server's tool is not the developer's text), the
    structured-output schema and the model settings."""
    from langchain_core.utils.function_calling import convert_to_openai_tool

    found = []
    for index, tool in enumerate(request.tools or ()):
        shown = tool if isinstance(tool, Mapping) else convert_to_openai_tool(tool)
        found += walk(shown, where=f"tools[{index}]")
    schema = getattr(request.response_format, "schema", None)
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        schema = schema.model_json_schema()
    if schema is not None and not isinstance(schema, type):
        found += walk(schema, where="response_format")
    found += walk(request.model_settings or {}, where="model_settings")
    return joined(found)


def _withheld(
    message: BaseMessage,
    items: list[Item],
    verdicts: list[Verdict],
    decided: Decision,
    verdict: Verdict,
) -> BaseMessage:
    """``message`` keeping nothing the guard refused: the text replaced, the arguments of
    refused calls replaced by a placeholder (the calls keep their ids for the results)."""
    bad_calls = {
        i.id
        for i, v in zip(items, verdicts, strict=True)
        if isinstance(i, ToolCall) and not v.allowed
    }
    bad_text = [
        v
        for i, v in zip(items, verdicts, strict=True)
        if not isinstance(i, ToolCall) and not v.allowed
    ]
    out = message
    if isinstance(out, AIMessage) and bad_calls:
        out = out.model_copy(update=withheld_calls(out, bad_calls))
    meta = {"guard_core": verdict_metadata(verdict, "block" if decided == "drop" else decided)}
    if bad_text:
        text = (
            redaction(bad_text[0])
            if decided == "redact"
            else f"[withheld by guard-core: {bad_text[0].reason}]"
        )
        done: BaseMessage = stripped(out, text, meta, keep_name=False)
        return done
    return out.model_copy(update={"response_metadata": meta})


def judge_request(
    request: ModelRequest[Any], screening: Screening, verdicts: Sequence[Verdict], refusal: Refusal
) -> Outcome:
    replaced: dict[int, BaseMessage] = {}
    blocked: Verdict | None = None
    for index, (message, items, mine) in enumerate(
        zip(screening.messages, screening.groups, screening.split(verdicts), strict=True)
    ):
        decided, verdict = strongest_decision(mine)
        if verdict is None or decided == "flag":
            continue
        if message is None:  # what the model is offered (tools, schemas): nothing to redact
            blocked = blocked or verdict
            continue
        replaced[index] = _withheld(message, items, mine, decided, verdict)
        if decided in ("block", "drop") and blocked is None:
            blocked = verdict
    offset = 1 if request.system_message is not None else 0
    state = [m for i, m in replaced.items() if i >= offset and m.id is not None]
    if blocked is not None:
        answer = AIMessage(
            refusal_text(refusal, blocked),
            response_metadata={"guard_core": verdict_metadata(blocked, "block")},
        )
        return Outcome(None, answer, state)
    if not replaced:
        return Outcome(request, None, [])
    messages = [replaced.get(i + offset, m) for i, m in enumerate(request.messages)]
    system = replaced.get(0) if offset else None
    update: dict[str, Any] = {"messages": messages}
    if isinstance(system, SystemMessage):
        update["system_message"] = system
    return Outcome(request.override(**update), None, state)


def response_screening(
    response: ModelResponse[Any], request: ModelRequest[Any], allow: Collection[str]
) -> Screening:
    context = context_of(request.messages)
    messages: list[BaseMessage | None] = list(response.result)
    groups = [
        assistant_items(m, context, allow)
        if isinstance(m, AIMessage)
        else message_items(m, context, allow)
        for m in response.result
    ]
    if response.structured_response is not None:
        found = strings_in(response.structured_response, where="structured_response")
        messages.append(None)
        groups.append([AssistantMessage(joined(found), context=context)] if found else [])
    return Screening(messages, groups)


def judge_response(
    response: ModelResponse[Any],
    screening: Screening,
    verdicts: Sequence[Verdict],
    refusal: Refusal,
) -> ModelResponse[Any]:
    answered = {m.tool_call_id for m in response.result if isinstance(m, ToolMessage)}
    refuse: Verdict | None = None
    redact: Verdict | None = None
    flag: Verdict | None = None
    calls: dict[str, Verdict] = {}
    for message, items, mine in zip(
        screening.messages, screening.groups, screening.split(verdicts), strict=True
    ):
        for item, verdict in zip(items, mine, strict=True):
            decided = decision(verdict)
            if decided == "allow":
                continue
            if decided == "flag":
                flag = flag or verdict
            elif (
                isinstance(item, ToolCall)
                and item.id is not None
                and item.id not in answered
                and isinstance(message, AIMessage)
            ):
                calls[item.id] = verdict  # never runs; the agent reads why and goes on
            elif (
                decided == "redact"
                and isinstance(message, AIMessage)
                and not isinstance(item, ToolCall)
            ):
                redact = redact or verdict
            else:
                refuse = refuse or verdict
    answer = next((m for m in response.result if isinstance(m, AIMessage)), None)
    if refuse is not None:
        meta = {"guard_core": verdict_metadata(refuse, "block")}
        return ModelResponse(
            result=[
                AIMessage(
                    refusal_text(refusal, refuse),
                    id=answer.id if answer else None,
                    name=answer.name if answer else None,
                    response_metadata=meta,
                )
            ]
        )
    out: list[BaseMessage] = []
    for message in response.result:
        if not isinstance(message, AIMessage):
            out.append(message)
            continue
        fixed = message.model_copy(update=withheld_calls(message, calls)) if calls else message
        if redact is not None:
            meta = {"guard_core": verdict_metadata(redact, "redact")}
            fixed = stripped(fixed, redaction(redact), meta)
        elif flag is not None:
            fixed = fixed.model_copy(
                update={
                    "response_metadata": {
                        **fixed.response_metadata,
                        "guard_core": verdict_metadata(flag, "flag"),
                    }
                }
            )
        out.append(fixed)
        out += [
            m
            for c in message.tool_calls
            if c.get("id") in calls
            if (m := refuse_call(c, calls[str(c.get("id"))])) is not None
        ]
    return ModelResponse(result=out, structured_response=response.structured_response)
