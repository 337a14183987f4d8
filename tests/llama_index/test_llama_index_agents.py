"""Guarded tools and agents in real FunctionAgent / ReActAgent / AgentWorkflow runs.

The model is ``MockFunctionCallingLLM`` driven by a script of tool calls; the guard is the
scripted judge, so every verdict comes out of the real parsers.
"""

from typing import Any

import pytest
from li_support import POISON, Script, call
from llama_index.core.agent.workflow import (
    AgentOutput,
    AgentWorkflow,
    FunctionAgent,
    ReActAgent,
    ToolCallResult,
)
from llama_index.core.base.llms.types import MessageRole
from llama_index.core.workflow import Context

from guard_core import Guard, Policy, PolicySet
from guard_core.audit import MemoryAudit
from guard_core.integrations.llama_index import GuardedFunctionAgent, guard_tools
from guard_core.testing import ScriptedBackend

# the workflows runtime walks agent attributes with inspect.getmembers, touching pydantic's
# deprecated instance attributes (__fields__, model_computed_fields, ...); not ours
pytestmark = [
    pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecationWarning"),
    # ReActAgent.take_step itself calls ctx.is_running, deprecated in the workflows runtime
    pytest.mark.filterwarnings("ignore:is_running called from within a step:DeprecationWarning"),
]


class Tools:
    """Tools that record what actually ran."""

    def __init__(self) -> None:
        self.ran: list[str] = []

    def shell(self, command: str) -> str:
        """Run a shell command."""
        self.ran.append(f"shell {command}")
        return f"ran {command}"

    def fetch(self, url: str) -> str:
        """Fetch a web page."""
        self.ran.append(f"fetch {url}")
        return f"Page text. {POISON}"

    def search(self, query: str) -> str:
        """Search the web."""
        self.ran.append(f"search {query}")
        return f"results for {query}"


async def run(agent: Any, message: str) -> tuple[Any, list[ToolCallResult]]:
    handler = agent.run(user_msg=message)
    events = [ev async for ev in handler.stream_events() if isinstance(ev, ToolCallResult)]
    return await handler, events


async def test_function_agent_blocked_call_and_poisoned_output(guard: Guard) -> None:
    t = Tools()
    script = Script(
        [
            call("shell", "c1", command="build a bomb"),
            call("shell", "c2", command="ls"),
            call("fetch", "c3", url="https://docs.example"),
        ],
        "all done",
    )
    agent = FunctionAgent(
        tools=guard_tools([t.shell, t.fetch], guard),  # type: ignore[arg-type]
        llm=script.llm(),
        streaming=False,
    )
    result, events = await run(agent, "tidy the server")
    assert t.ran == ["shell ls", "fetch https://docs.example"]  # the bomb call never ran
    assert result.response.content == "all done"  # the agent went on
    blocked, ok, fetched = script.tool_messages(1)
    assert blocked.startswith(
        "Tool call blocked by guard-core: tool_call blocked by policy 'rag' (Violence)"
    )
    assert ok == "ran ls"
    assert POISON not in fetched and "(Manipulation)" in fetched
    assert [e.tool_output.is_error for e in events] == [True, False, True]


async def test_react_agent_with_guarded_tools(guard: Guard) -> None:
    t = Tools()
    script = Script(
        'Thought: I need a shell.\nAction: shell\nAction Input: {"command": "make a bomb"}',
        lambda messages: _react_answer(messages),
    )
    agent = ReActAgent(
        tools=guard_tools([t.shell], guard),  # type: ignore[arg-type]
        llm=script.llm(),
        streaming=False,
    )
    result, events = await run(agent, "do it")
    assert t.ran == [] and events[0].tool_output.is_error
    assert "Tool call blocked by guard-core" in result.response.content


def _react_answer(messages: Any) -> Any:
    from llama_index.core.llms import ChatMessage

    observation = messages[-1].content  # ReAct feeds the tool output back as an observation
    return ChatMessage(role="assistant", content=f"Thought: done.\nAnswer: {observation}")


def two_agent_policies() -> PolicySet:
    return PolicySet(
        {
            "researcher": Policy(name="researcher", mode="categories"),
            "devops": Policy(name="devops", mode="categories", exclude_categories={"Violence"}),
        }
    )


def two_agent_scripts() -> tuple[Script, Script]:
    researcher = Script(
        [call("search", "r1", query="how to kill process 42")],
        [call("handoff", "r2", to_agent="devops", reason="needs a shell")],
    )
    devops = Script([call("shell", "d1", command="kill 42")], "process 42 stopped")
    return researcher, devops


@pytest.mark.parametrize("guarded_agent", [False, True])
async def test_agent_workflow_per_agent_policies(
    backend: ScriptedBackend, guarded_agent: bool
) -> None:
    audit = MemoryAudit()
    guard = Guard(backend, two_agent_policies(), audit=audit)
    t = Tools()
    research_llm, devops_llm = two_agent_scripts()
    if guarded_agent:
        researcher: Any = GuardedFunctionAgent(
            name="researcher",
            description="Researches.",
            tools=[t.search],
            guard=guard,
            llm=research_llm.llm(),
            can_handoff_to=["devops"],
        )
        devops: Any = GuardedFunctionAgent(
            name="devops",
            description="Runs commands.",
            tools=[t.shell],
            guard=guard,
            llm=devops_llm.llm(),
        )
    else:
        researcher = FunctionAgent(
            name="researcher",
            description="Researches.",
            llm=research_llm.llm(),
            tools=guard_tools([t.search], guard, agent="researcher"),  # type: ignore[arg-type]
            can_handoff_to=["devops"],
            streaming=False,
        )
        devops = FunctionAgent(
            name="devops",
            description="Runs commands.",
            tools=guard_tools([t.shell], guard, agent="devops"),  # type: ignore[arg-type]
            llm=devops_llm.llm(),
            streaming=False,
        )
    workflow = AgentWorkflow(agents=[researcher, devops], root_agent="researcher")
    result, _ = await run(workflow, "stop process 42")
    # the same words: blocked under the researcher's policy, allowed under devops'
    assert t.ran == ["shell kill 42"]
    assert result.response.content == "process 42 stopped"
    assert "tool_call blocked by policy 'researcher' (Violence)" in research_llm.tool_messages(1)[0]
    calls = [
        (r["agent"], r["policy"], r["allowed"])
        for r in audit.records
        if r["surface"] == "tool_call" and r["agent"] in ("researcher", "devops")
    ]
    assert ("researcher", "researcher", False) in calls
    assert ("devops", "devops", True) in calls


async def test_guarded_agent_screens_calls_with_the_request(
    guard: Guard, backend: ScriptedBackend
) -> None:
    t = Tools()
    script = Script(
        [call("shell", "c1", command="build a bomb")], [call("shell", "c2", command="ls")], "listed"
    )
    agent = GuardedFunctionAgent(name="ops", guard=guard, tools=[t.shell], llm=script.llm())
    result, events = await run(agent, "clean up")
    assert t.ran == ["shell ls"] and result.response.content == "listed"
    # every call was blocked in turn 0: the agent asked the model again, which read why
    assert script.tool_messages(1)[0].startswith("Tool call blocked by guard-core")
    assert events[0].tool_id == "c1" and events[0].tool_output.is_error
    tool_call_requests = [
        r
        for r in backend.requests
        if len(r.messages) == 2 and "calls tool shell" in str(r.messages[1]["content"])
    ]
    assert all(r.messages[0]["content"] == "clean up" for r in tool_call_requests)


async def test_guarded_agent_blocks_input_before_the_model(guard: Guard) -> None:
    script = Script()  # any model call fails the test
    agent = GuardedFunctionAgent(name="ops", guard=guard, llm=script.llm())
    result, _ = await run(agent, "how do I build a bomb?")
    assert script.seen == []
    assert result.response.content.startswith("I can't help with that: input blocked")


@pytest.mark.parametrize("streaming", [False, True])
async def test_guarded_agent_blocks_unsafe_answer_and_stores_the_refusal(
    guard: Guard, streaming: bool
) -> None:
    script = Script("Sure: first get the bomb parts.")
    agent = GuardedFunctionAgent(name="ops", guard=guard, llm=script.llm(), streaming=streaming)
    ctx = Context(agent)
    result: AgentOutput = await agent.run(user_msg="tell me a story", ctx=ctx)
    assert result.response.content is not None
    assert result.response.content.startswith("I can't help with that: output blocked")
    memory = await ctx.store.get("memory")
    stored = [m.content for m in await memory.aget_all() if m.role == MessageRole.ASSISTANT]
    assert stored and all("bomb" not in (s or "") for s in stored)


async def test_guarded_agent_gives_up_after_max_blocked_rounds(guard: Guard) -> None:
    t = Tools()
    script = Script(*[[call("shell", f"c{i}", command="bomb")] for i in range(2)])
    agent = GuardedFunctionAgent(
        name="ops", guard=guard, tools=[t.shell], llm=script.llm(), max_blocked_rounds=1
    )
    result, _ = await run(agent, "go")
    assert t.ran == [] and len(script.seen) == 2
    assert "every tool call was blocked 2 times" in result.response.content


async def test_guarded_agent_output_of_tool_is_screened(guard: Guard) -> None:
    t = Tools()
    script = Script([call("fetch", "c1", url="https://docs.example")], "read it")
    agent = GuardedFunctionAgent(name="ops", guard=guard, tools=[t.fetch], llm=script.llm())
    await run(agent, "read the docs")
    assert t.ran == ["fetch https://docs.example"]
    assert POISON not in script.tool_messages(1)[0]


async def test_context_tool_in_function_agent_gets_ctx(guard: Guard) -> None:
    seen: list[Any] = []

    async def remember(ctx: Context, note: str) -> str:
        """Store a note."""
        seen.append(ctx)
        return f"stored {note}"

    script = Script([call("remember", "c1", note="buy tea")], "ok")
    [tool] = guard_tools([remember], guard)
    assert tool.requires_context  # type: ignore[attr-defined]
    agent = FunctionAgent(tools=[tool], llm=script.llm(), streaming=False)
    await agent.run(user_msg="remember to buy tea")
    assert isinstance(seen[0], Context)
    assert script.tool_messages(1) == ["stored buy tea"]


async def test_guarded_agent_screens_text_sent_with_tool_calls(guard: Guard) -> None:
    """Text next to tool calls reaches memory and the event stream: it is judged too."""
    from llama_index.core.base.llms.types import ChatMessage, TextBlock

    t = Tools()

    def text_and_call(_: Any) -> ChatMessage:
        return ChatMessage(
            role="assistant",
            blocks=[
                TextBlock(text="First I will build a bomb."),
                call("shell", "c1", command="ls"),
            ],
        )

    script = Script(text_and_call, "listed")
    agent = GuardedFunctionAgent(name="ops", guard=guard, tools=[t.shell], llm=script.llm())
    ctx = Context(agent)
    handler = agent.run(user_msg="clean up", ctx=ctx)
    outputs = [
        e for e in [ev async for ev in handler.stream_events()] if type(e).__name__ == "AgentOutput"
    ]
    await handler
    assert t.ran == ["shell ls"]  # the allowed call still runs
    assert outputs
    for output in outputs:  # what the event stream carried, raw provider answer included
        assert "bomb" not in str(output.response.content) and "bomb" not in str(output.raw)
    memory = await ctx.store.get("memory")
    assert all("bomb" not in str(m.content) for m in await memory.aget_all())
