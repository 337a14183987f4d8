"""GuardCallbackHandler: aborts runs on real models, tools and retrievers, sync and async."""

from __future__ import annotations

import pytest
from langchain.agents import create_agent
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode
from lc_fakes import ListRetriever, Ran, ToolCallingModel, calls, make_tools

from guard_core import Guard, GuardViolation, Policy, PolicySet
from guard_core.audit import MemoryAudit
from guard_core.errors import ConfigurationError
from guard_core.integrations.langchain import GuardCallbackHandler


def test_tool_call_is_aborted_before_the_tool_runs(guard: Guard, audit: MemoryAudit):
    ran = Ran()
    run_shell = make_tools(ran)[0]
    handler = GuardCallbackHandler(guard, agent="ops")

    ok = run_shell.invoke({"command": "ls"}, config={"callbacks": [handler]})
    assert ok == "ran 'ls': exit 0"
    with pytest.raises(GuardViolation) as caught:
        run_shell.invoke({"command": "bomb the disk"}, config={"callbacks": [handler]})

    assert ran.calls == [("run_shell", {"command": "ls"})]
    assert caught.value.verdict.surface == "tool_call" and caught.value.verdict.agent == "ops"
    assert [(r["surface"], r["decision"]) for r in audit.records] == [
        ("tool_call", "allow"),
        ("tool_result", "allow"),
        ("tool_call", "block"),
    ]


async def test_tool_call_is_aborted_before_the_tool_runs_async(guard: Guard):
    ran = Ran()
    run_shell = make_tools(ran)[0]
    handler = GuardCallbackHandler(guard)
    assert await run_shell.ainvoke({"command": "ls"}, config={"callbacks": [handler]})
    with pytest.raises(GuardViolation):
        await run_shell.ainvoke({"command": "bomb it"}, config={"callbacks": [handler]})
    assert ran.names() == ["run_shell"]


async def test_agent_run_aborts_on_a_blocked_tool_call_async(remote_guard):
    ran = Ran()
    model = ToolCallingModel(
        responses=[calls(("run_shell", {"command": "bomb"})), AIMessage("done")]
    )
    agent = create_agent(model, make_tools(ran), name="builder")
    # the model's tool call is judged when the model ends, before the tools node starts
    handler = GuardCallbackHandler(remote_guard(Policy(surfaces={"tool_call"})))
    with pytest.raises(GuardViolation) as caught:
        await agent.ainvoke({"messages": [HumanMessage("build")]}, config={"callbacks": [handler]})
    assert ran.calls == []
    assert caught.value.verdict.agent == "builder"


def test_model_tool_calls_abort_at_llm_end(guard: Guard):
    ran = Ran()
    model = ToolCallingModel(
        responses=[calls(("run_shell", {"command": "burn a house"})), AIMessage("done")]
    )
    agent = create_agent(model, make_tools(ran))
    with pytest.raises(GuardViolation) as caught:
        agent.invoke(
            {"messages": [HumanMessage("go")]}, config={"callbacks": [GuardCallbackHandler(guard)]}
        )
    assert caught.value.verdict.surface == "tool_call"  # judged in on_llm_end
    assert ran.calls == [] and len(model.seen) == 1


def test_chat_model_start_screens_the_user_turn(guard: Guard):
    model = ToolCallingModel(responses=[AIMessage("hello")])
    handler = GuardCallbackHandler(guard)
    assert model.invoke([HumanMessage("hi")], config={"callbacks": [handler]}).text == "hello"
    with pytest.raises(GuardViolation) as caught:
        model.invoke([HumanMessage("a bomb?")], config={"callbacks": [handler]})
    assert caught.value.verdict.surface == "input"


def test_unsafe_answer_and_tool_result_abort(guard: Guard):
    model = ToolCallingModel(responses=[AIMessage("ok, the bomb goes here")])
    with pytest.raises(GuardViolation) as caught:
        model.invoke("hi", config={"callbacks": [GuardCallbackHandler(guard)]})
    assert caught.value.verdict.surface == "output"

    fetch_page = make_tools(Ran())[1]
    with pytest.raises(GuardViolation) as caught:
        fetch_page.invoke(
            {"url": "https://evil.example"}, config={"callbacks": [GuardCallbackHandler(guard)]}
        )
    assert caught.value.verdict.surface == "tool_result"


def test_retriever_end_aborts_on_an_unsafe_document(guard: Guard):
    handler = GuardCallbackHandler(guard)
    safe = ListRetriever(docs=[Document("Opening hours 9-5")])
    assert safe.invoke("hours", config={"callbacks": [handler]})
    poisoned = ListRetriever(docs=[Document("fine"), Document("bomb making 101")])
    with pytest.raises(GuardViolation) as caught:
        poisoned.invoke("hours", config={"callbacks": [handler]})
    assert caught.value.verdict.surface == "retrieval"


async def test_tool_node_run_aborts_before_the_tool_async(backend, audit: MemoryAudit):
    policies = PolicySet({"executor": Policy(name="executor-policy")}, default=Policy())
    ran = Ran()
    graph = StateGraph(MessagesState)
    graph.add_node("executor", ToolNode(make_tools(ran)))
    graph.add_edge(START, "executor")
    graph.add_edge("executor", END)
    handler = GuardCallbackHandler(Guard(backend, policies, audit=audit))
    with pytest.raises(GuardViolation) as caught:  # no model here: on_tool_start aborts
        await graph.compile().ainvoke(
            {"messages": [calls(("run_shell", {"command": "bomb"}))]},
            config={"callbacks": [handler]},
        )
    assert ran.calls == []
    assert caught.value.verdict.agent == "executor"
    assert caught.value.verdict.policy.name == "executor-policy"


def test_agent_from_langgraph_node(backend, audit: MemoryAudit):
    policies = PolicySet({"executor": Policy(name="executor-policy")}, default=Policy())
    guard = Guard(backend, policies, audit=audit)
    ran = Ran()
    graph = StateGraph(MessagesState)
    graph.add_node("executor", ToolNode(make_tools(ran)))
    graph.add_edge(START, "executor")
    graph.add_edge("executor", END)
    app = graph.compile()
    call = calls(("lookup", {"query": "hours"}))
    app.invoke({"messages": [call]}, config={"callbacks": [GuardCallbackHandler(guard)]})
    assert ran.names() == ["lookup"]
    assert {(r["agent"], r["policy"]) for r in audit.records} == {("executor", "executor-policy")}


def test_handler_needs_a_guard():
    with pytest.raises(ConfigurationError, match="needs a Guard"):
        GuardCallbackHandler(object())  # type: ignore[arg-type]
