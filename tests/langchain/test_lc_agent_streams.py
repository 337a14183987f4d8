"""A real ``create_agent`` graph streamed in every stream mode (and lists of them), sync and
async, with a streaming model and with structured output: no event carries what the guard
refused, and the screened answer is still streamed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.agents.structured_output import ToolStrategy
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from lc_canary import RecordingModel, scripted_guard
from lc_fakes import Ran, make_tools
from pydantic import BaseModel

from guard_core.integrations.langchain import GuardMiddleware
from guard_core.testing import ScriptedBackend

MODES: list[Any] = [
    "values",
    "updates",
    "messages",
    "custom",
    "debug",
    "tasks",
    ["updates", "messages"],
    ["values", "messages", "debug", "custom"],
]


class Recipe(BaseModel):
    """A recipe."""

    title: str
    steps: list[str]


def unsafe_answers() -> dict[str, list[BaseMessage]]:
    return {
        "text": [AIMessage("Here is how to build a bomb at home.")],
        "tool-call": [
            AIMessage(
                "",
                tool_calls=[{"name": "run_shell", "args": {"command": "build a bomb"}, "id": "c1"}],
            ),
            AIMessage("The command was refused."),
        ],
        "function_call": [
            AIMessage(
                "",
                additional_kwargs={
                    "function_call": {"name": "run_shell", "arguments": '{"command": "bomb"}'}
                },
            )
        ],
        "structured": [
            AIMessage(
                "",
                tool_calls=[
                    {
                        "name": "Recipe",
                        "args": {"title": "Cake", "steps": ["add the bomb"]},
                        "id": "s1",
                    }
                ],
            )
        ],
    }


def _agent(answers: list[BaseMessage], ran: Ran, structured: bool) -> tuple[Any, ScriptedBackend]:
    guard, backend = scripted_guard()
    model = RecordingModel(answers=list(answers))
    agent = create_agent(
        model,
        make_tools(ran),
        middleware=[GuardMiddleware(guard)],
        response_format=ToolStrategy(Recipe) if structured else None,
    )
    return agent, backend


def _events(agent: Any, mode: Any, use_async: bool) -> list[Any]:
    state = {"messages": [HumanMessage("help me cook")]}
    if not use_async:
        return list(agent.stream(state, stream_mode=mode))

    async def collect() -> list[Any]:
        return [event async for event in agent.astream(state, stream_mode=mode)]

    return asyncio.run(collect())


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("mode", MODES, ids=str)
@pytest.mark.parametrize("case", sorted(unsafe_answers()))
def test_no_stream_event_carries_what_the_guard_refused(
    case: str, mode: Any, use_async: bool
) -> None:
    ran = Ran()
    agent, backend = _agent(unsafe_answers()[case], ran, structured=case == "structured")
    events = _events(agent, mode, use_async)
    modes = set(mode) if isinstance(mode, list) else {mode}
    assert events or modes == {"custom"}, "the graph streamed nothing"  # custom: no writer
    assert "bomb" not in repr(events)
    assert ran.calls == []  # the refused call never ran
    if modes & {"values", "updates", "messages", "debug"}:
        # the screened outcome is streamed: a refusal, or the refused call's error result
        assert "guard-core" in repr(events) or "I can't help" in repr(events)
    assert any("bomb" in str(r.messages) for r in backend.requests)  # it was judged


def test_a_safe_answer_streams_in_messages_mode_once_screened() -> None:
    guard, backend = scripted_guard()
    model = RecordingModel(answers=[AIMessage("Whisk the eggs, then bake.")])
    agent = create_agent(model, [], middleware=[GuardMiddleware(guard)])
    events: list[Any] = list(
        agent.stream({"messages": [HumanMessage("a cake?")]}, stream_mode="messages")
    )
    texts = [chunk.text for chunk, _ in events]
    assert texts == ["Whisk the eggs, then bake."]  # whole: the tokens were not streamed
    assert any("Whisk the eggs" in str(r.messages) for r in backend.requests)


def test_a_safe_structured_answer_is_screened_and_returned() -> None:
    call = {"name": "Recipe", "args": {"title": "Cake", "steps": ["whisk", "bake"]}, "id": "s1"}
    guard, backend = scripted_guard()
    agent = create_agent(
        RecordingModel(answers=[AIMessage("", tool_calls=[call])]),
        [],
        middleware=[GuardMiddleware(guard)],
        response_format=ToolStrategy(Recipe),
    )
    out = agent.invoke({"messages": [HumanMessage("a cake?")]})
    assert out["structured_response"] == Recipe(title="Cake", steps=["whisk", "bake"])
    assert any("whisk" in str(r.messages) for r in backend.requests)


def test_an_unsafe_structured_answer_is_refused_whole() -> None:
    agent, _ = _agent(unsafe_answers()["structured"], Ran(), structured=True)
    out = agent.invoke({"messages": [HumanMessage("a cake?")]})
    assert out.get("structured_response") is None
    last = out["messages"][-1]
    assert last.text == "I can't help with that request." and not last.tool_calls
    assert "bomb" not in repr(out)


def test_the_model_reads_a_placeholder_for_a_refused_call_next_time() -> None:
    ran = Ran()
    guard, _ = scripted_guard()
    model = RecordingModel(answers=unsafe_answers()["tool-call"])
    agent = create_agent(model, make_tools(ran), middleware=[GuardMiddleware(guard)])
    out = agent.invoke({"messages": [HumanMessage("clean up")]})
    assert len(model.seen) == 2 and ran.calls == []
    assert "bomb" not in repr(model.seen[1]) and "bomb" not in repr(out)
    call = next(m for m in model.seen[1] if isinstance(m, AIMessage)).tool_calls[0]
    assert call["id"] == "c1" and call["args"] == {
        "guard_core": "[arguments withheld by guard-core]"
    }
