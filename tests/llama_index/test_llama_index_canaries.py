"""Canaries through GuardedFunctionAgent and guard_tools, built from LlamaIndex's schema.

An unsafe marker goes into every string-bearing field of every block type, every message
role and field, every tool-call argument shape and every tool output shape, one at a time
and all together; a real LlamaIndex LLM class (``MockFunctionCallingLLM`` driven by a
script that records what it receives), a recording tool and the caller's view (result,
event stream, memory) must never carry it unless the guard judged it and allowed it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from canaries import MARK, PLACES, ROLES, SAFE, asked, fresh_guard, message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from li_support import Script, call, visible
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.llms.types import ChatMessage, TextBlock
from llama_index.core.tools import BaseTool, ToolMetadata, ToolOutput
from llama_index.core.workflow import Context

from guard_core.integrations.llama_index import GuardedFunctionAgent, guard_tools

pytestmark = [pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecationWarning")]
EXAMPLES = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Recorder:
    """A tool that records every argument it is run with."""

    def __init__(self) -> None:
        self.ran: list[str] = []

    def search(self, query: str) -> str:
        """Search the web."""
        self.ran.append(query)
        return f"results for {query}"


async def drive(agent: Any, **run: Any) -> str:
    """Run ``agent``; everything the caller gets back (result, events, memory) as text."""
    ctx = Context(agent)
    handler = agent.run(ctx=ctx, **run)
    events = [ev async for ev in handler.stream_events()]
    result = await handler
    memory = await ctx.store.get("memory")
    return visible(result, events, await memory.aget_all())


def agent_for(
    script: Script, tools: list[Any] | None = None, **kw: Any
) -> tuple[GuardedFunctionAgent, Any]:
    guard, backend, _ = fresh_guard("ops")
    agent = GuardedFunctionAgent(
        name="ops",
        guard=guard,
        tools=tools or [],
        llm=script.llm(),
        system_prompt="You are a careful assistant.",
        **kw,
    )
    return agent, backend


# -- the history sent to the LLM ---------------------------------------------------------------

history_shape = st.lists(
    st.tuples(st.sampled_from(ROLES), st.sampled_from(PLACES)), min_size=1, max_size=5
)


@EXAMPLES
@given(shape=history_shape, poisoned=st.data())
def test_a_marker_anywhere_in_the_history_never_reaches_the_llm(shape: Any, poisoned: Any) -> None:
    at = poisoned.draw(st.integers(-1, len(shape) - 1), label="poisoned message (-1: none)")
    history = [
        message(role, where, MARK if i == at else f"{SAFE}-{i}")
        for i, (role, where) in enumerate(shape)
    ]
    script = Script("fine")
    agent, backend = agent_for(script)
    seen_by_caller = asyncio.run(drive(agent, user_msg="go on", chat_history=history))
    sent = visible(script.seen)
    if at < 0:  # nothing unsafe: the whole history, as the caller wrote it, reaches the LLM
        assert all(f"{SAFE}-{i}" in sent for i in range(len(shape)))
        assert asked(backend, f"{SAFE}-0")
    else:
        assert script.seen == [] and MARK not in sent and asked(backend, MARK)
        assert "I can't help with that" in seen_by_caller


@pytest.mark.parametrize("role", ROLES)
async def test_every_place_at_once_in_every_role_is_refused(role: str) -> None:
    script = Script("fine")
    agent, backend = agent_for(script)
    history = [message(role, where, MARK) for where in PLACES]
    await drive(agent, user_msg="go on", chat_history=history)
    assert script.seen == [] and asked(backend, MARK)


# -- the LLM's reply, before it is acted on ------------------------------------------------------

REPLY_PLACES = [p for p in PLACES if not p.startswith("tool_call")]


@pytest.mark.parametrize(
    "where", [*REPLY_PLACES, "tool_call.kwargs", "tool_call.json_kwargs", "tool_call.nested_kwargs"]
)
async def test_a_marker_in_the_reply_reaches_no_tool_llm_or_caller(where: str) -> None:
    def reply(_: Any) -> ChatMessage:
        poisoned = message("assistant", where, MARK)
        poisoned.blocks.append(call("search", "c9", query="tea"))  # a safe call beside it
        return poisoned

    tool = Recorder()
    script = Script(reply, "done")
    agent, backend = agent_for(script, [tool.search])
    seen_by_caller = await drive(agent, user_msg="look it up")
    assert MARK not in seen_by_caller and asked(backend, MARK)
    assert all(MARK not in r for r in tool.ran)
    assert MARK not in visible(script.seen)  # the next request holds no copy either
    if where.startswith("tool_call"):
        assert tool.ran == ["tea"]  # only the blocked call was stopped


async def test_a_safe_reply_passes_whole() -> None:
    def reply(_: Any) -> ChatMessage:
        return ChatMessage(
            role="assistant",
            blocks=[TextBlock(text=SAFE)],
            additional_kwargs={"note": f"{SAFE} extra"},
        )

    agent, _ = agent_for(Script(reply))
    seen_by_caller = await drive(agent, user_msg="hi")
    assert SAFE in seen_by_caller and f"{SAFE} extra" in seen_by_caller


async def test_blocked_call_arguments_leave_no_copy_for_the_next_request() -> None:
    tool = Recorder()
    script = Script([call("search", "c1", query=MARK)], "gave up")
    agent, _ = agent_for(script, [tool.search])
    seen_by_caller = await drive(agent, user_msg="look it up")
    assert tool.ran == [] and MARK not in visible(script.seen[1]) and MARK not in seen_by_caller
    assert "tool call arguments withheld" in visible(script.seen[1])


# -- what tools return ---------------------------------------------------------------------------


class RawTool(BaseTool):
    """A tool whose raw output says more than its text does."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    @property
    def metadata(self) -> ToolMetadata:
        return ToolMetadata(name="lookup", description="Look something up.")

    def __call__(self, *args: Any, **kwargs: Any) -> ToolOutput:
        return ToolOutput(
            content="a safe summary", tool_name="lookup", raw_input=kwargs, raw_output=self.raw
        )


@pytest.mark.parametrize(
    "output",
    [
        lambda: f"page text {MARK}",
        lambda: [TextBlock(text="ok"), TextBlock(text=MARK)],
        lambda: {"rows": [{"note": MARK}]},
    ],
)
async def test_a_marker_in_a_tool_output_reaches_neither_llm_nor_caller(output: Any) -> None:
    def lookup(q: str) -> Any:
        """Look something up."""
        return output()

    script = Script([call("lookup", "c1", q="x")], "done")
    agent, backend = agent_for(script, [lookup])
    seen_by_caller = await drive(agent, user_msg="look")
    assert MARK not in visible(script.seen) and MARK not in seen_by_caller
    assert asked(backend, MARK)


@pytest.mark.parametrize("raw", [{"debug": [MARK]}, object()])
async def test_raw_output_the_guard_did_not_allow_never_reaches_the_caller(raw: Any) -> None:
    guard, backend, _ = fresh_guard()
    [tool] = guard_tools([RawTool(raw)], guard)
    sync, async_ = tool(q="x"), await tool.acall(q="x")  # type: ignore[call-arg]
    for out in (sync, async_):  # both paths the same
        assert out.raw_output is None and MARK not in visible(out)
    assert (sync.content, sync.is_error) == (async_.content, async_.is_error)
    [ok] = guard_tools([RawTool({"debug": [SAFE]})], guard)
    assert ok(q="x").raw_output == {"debug": [SAFE]} and asked(backend, SAFE)


# -- the guard is asked once per distinct item, and the developer's policy holds -------------------


async def test_a_multi_turn_run_asks_the_guard_once_per_distinct_item() -> None:
    tool = Recorder()
    script = Script(
        [call("search", "c1", query="green tea")],
        [call("search", "c2", query="black tea")],
        "two teas",
    )
    agent, backend = agent_for(script, [tool.search])
    history = [
        ChatMessage(role="user", content="hi"),
        ChatMessage(role="assistant", content="hello"),
    ]
    await drive(agent, user_msg="compare teas", chat_history=history)
    keys = [r.key for r in backend.requests]
    assert tool.ran == ["green tea", "black tea"] and len(script.seen) == 3
    assert len(keys) == len(set(keys))  # the history was re-screened each step, from cache


async def test_no_value_a_client_sends_picks_another_policy() -> None:
    guard, _, audit = fresh_guard("ops", "lenient")
    agent = GuardedFunctionAgent(name="ops", guard=guard, llm=Script("ok").llm())
    ctx = Context(agent)
    await ctx.store.set("guard_agent", "lenient")
    await agent.run(user_msg="hi", ctx=ctx, guard_agent="lenient", agent="lenient")
    assert {r["agent"] for r in audit.records} == {"ops"}


def test_output_cls_is_refused() -> None:
    from llama_index.core.bridge.pydantic import BaseModel

    from guard_core.errors import ConfigurationError

    class Answer(BaseModel):
        text: str

    guard, _, _ = fresh_guard()
    with pytest.raises(ConfigurationError, match="output_cls"):
        GuardedFunctionAgent(name="ops", guard=guard, llm=Script().llm(), output_cls=Answer)


async def test_plain_function_agent_with_guard_tools_still_stops_a_marker_call() -> None:
    guard, _, _ = fresh_guard()
    tool = Recorder()
    script = Script([call("search", "c1", query=MARK)], "done")
    agent = FunctionAgent(
        tools=guard_tools([tool.search], guard),  # type: ignore[arg-type]
        llm=script.llm(),
        streaming=False,
    )
    await agent.run(user_msg="go")
    assert tool.ran == []
