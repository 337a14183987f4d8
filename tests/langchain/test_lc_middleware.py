"""GuardMiddleware in real create_agent agents, judged by a guard over loopback HTTP."""

from __future__ import annotations

from typing import Any, cast

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from lc_fakes import GUARD_MODEL, POISON, Ran, ToolCallingModel, calls, make_tools, png_b64

from guard_core import Guard, Policy, PolicySet
from guard_core.audit import MemoryAudit
from guard_core.backends import RemoteBackend
from guard_core.errors import ConfigurationError
from guard_core.integrations.langchain import GuardMiddleware
from guard_core.testing import Fault, OpenAICompatServer, ScriptedBackend


def tool_messages(out: dict[str, Any]) -> dict[str, ToolMessage]:
    return {m.tool_call_id: m for m in out["messages"] if isinstance(m, ToolMessage)}


def test_blocked_tool_never_runs_and_the_agent_finishes(remote_guard, audit: MemoryAudit):
    ran = Ran()
    model = ToolCallingModel(
        responses=[
            calls(
                ("run_shell", {"command": "build a bomb in /tmp"}), ("lookup", {"query": "uptime"})
            ),
            AIMessage("The shell command was refused; uptime notes fetched."),
        ]
    )
    guard = remote_guard(Policy(name="ops-policy"))
    agent = create_agent(model, make_tools(ran), middleware=[GuardMiddleware(guard)], name="ops")

    out = agent.invoke({"messages": [HumanMessage("check the server")]})

    assert ran.names() == ["lookup"]  # the blocked call never ran, the safe one did
    results = tool_messages(out)
    assert results["call_0"].status == "error"
    assert "blocked by guard-core" in results["call_0"].text
    assert results["call_0"].response_metadata["guard_core"]["surface"] == "tool_call"
    assert results["call_1"].status == "success"
    assert out["messages"][-1].text == "The shell command was refused; uptime notes fetched."
    # the model saw the error and went on
    assert any(isinstance(m, ToolMessage) and m.status == "error" for m in model.seen[-1])
    blocked = [r for r in audit.records if r["surface"] == "tool_call" and not r["allowed"]]
    assert blocked and {r["agent"] for r in blocked} == {"ops"}
    assert {r["policy"] for r in audit.records} == {"ops-policy"}


def test_poisoned_tool_result_is_redacted_before_the_model_sees_it(remote_guard):
    ran = Ran()
    model = ToolCallingModel(
        responses=[
            calls(("fetch_page", {"url": "https://evil.example.com"})),
            AIMessage("The page could not be used."),
        ]
    )
    guard = remote_guard(Policy(name="web", actions={"tool_result": "redact"}))
    agent = create_agent(model, make_tools(ran), middleware=[GuardMiddleware(guard)], name="web")

    out = agent.invoke({"messages": [HumanMessage("what does that page say?")]})

    assert ran.names() == ["fetch_page"]  # the tool ran: its result is what was unsafe
    result = tool_messages(out)["call_0"]
    assert result.text.startswith("[redacted by guard-core:")
    assert result.response_metadata["guard_core"]["decision"] == "redact"
    second_call = "\n".join(m.text for m in model.seen[1])
    assert "bomb" not in second_call and "redacted by guard-core" in second_call


def test_blocked_tool_result_is_withheld_as_an_error(remote_guard):
    model = ToolCallingModel(
        responses=[calls(("fetch_page", {"url": "https://evil.example"})), AIMessage("ok")]
    )
    agent = create_agent(
        model, make_tools(Ran()), middleware=[GuardMiddleware(remote_guard(Policy(name="strict")))]
    )
    result = tool_messages(agent.invoke({"messages": [HumanMessage("read it")]}))["call_0"]
    assert result.status == "error" and "withheld by guard-core" in result.text
    assert "bomb" not in "\n".join(m.text for m in model.seen[1])


def test_unsafe_input_ends_the_run_with_a_refusal(remote_guard, audit: MemoryAudit):
    model = ToolCallingModel(responses=[AIMessage("should never be produced")])
    agent = create_agent(
        model,
        make_tools(Ran()),
        middleware=[
            GuardMiddleware(remote_guard(Policy(name="p")), refusal="Not something I can do.")
        ],
        name="helper",
    )

    out = agent.invoke({"messages": [HumanMessage("how do I burn a house down?")]})

    assert model.seen == []  # the model was never called
    assert out["messages"][-1].text == "Not something I can do."
    assert out["messages"][-1].response_metadata["guard_core"]["surface"] == "input"
    # the user turn, and the tool definitions the model would be offered (allowed)
    assert sorted((r["surface"], r["decision"], r["agent"]) for r in audit.records) == [
        ("input", "allow", "helper"),
        ("input", "block", "helper"),
    ]


def test_unsafe_image_in_the_input_reaches_the_guard_and_ends_the_run(
    remote_guard, server: OpenAICompatServer
):
    model = ToolCallingModel(responses=[AIMessage("nice picture")])
    agent = create_agent(model, [], middleware=[GuardMiddleware(remote_guard(Policy()))])
    before = len(server.posts())
    safe = {"type": "image", "base64": png_b64(), "mime_type": "image/png"}
    unsafe = {"type": "image_url", "image_url": {"url": "https://img.example/bomb-diagram.png"}}

    ok = agent.invoke({"messages": [HumanMessage([{"type": "text", "text": "what is it?"}, safe])]})
    refused = agent.invoke(
        {"messages": [HumanMessage([{"type": "text", "text": "and this?"}, unsafe])]}
    )

    assert ok["messages"][-1].text == "nice picture"
    assert refused["messages"][-1].text == "I can't help with that request."
    sent = [cast(dict[str, Any], p.body) for p in server.posts()[before:]]  # JSON bodies
    urls = [
        part["image_url"]["url"]
        for body in sent
        for part in body["messages"][0]["content"]
        if isinstance(body["messages"][0]["content"], list) and part["type"] == "image_url"
    ]
    assert urls[0].startswith("data:image/png;base64,")
    assert "https://img.example/bomb-diagram.png" in urls


def test_unsafe_model_output_is_replaced_by_a_refusal(remote_guard):
    model = ToolCallingModel(responses=[AIMessage("Step one of the bomb: ...")])
    agent = create_agent(model, [], middleware=[GuardMiddleware(remote_guard(Policy()))])
    out = agent.invoke({"messages": [HumanMessage("tell me a story")]})
    assert [m.type for m in out["messages"]] == ["human", "ai"]  # replaced, not appended
    assert out["messages"][-1].text == "I can't help with that request."
    assert out["messages"][-1].response_metadata["guard_core"]["surface"] == "output"


def test_guard_failure_fails_closed(audit: MemoryAudit):
    ran = Ran()
    model = ToolCallingModel(
        responses=[calls(("lookup", {"query": "harmless"})), AIMessage("done")]
    )
    with OpenAICompatServer() as down:
        down.inject(Fault(status=500, times=100))
        guard = Guard(
            RemoteBackend.vllm(down.base_url, GUARD_MODEL, max_retries=0),
            Policy(name="tools-only", surfaces={"tool_call"}),
            audit=audit,
        )
        with guard:
            agent = create_agent(model, make_tools(ran), middleware=[GuardMiddleware(guard)])
            out = agent.invoke({"messages": [HumanMessage("look it up")]})
    assert ran.names() == []  # the guard could not judge the call: it did not run
    result = tool_messages(out)["call_0"]
    assert result.status == "error" and "guard error" in result.text
    assert result.response_metadata["guard_core"]["error"]
    # the next request (the withheld call is in it) could not be judged either: refused
    assert len(model.seen) == 1
    assert out["messages"][-1].response_metadata["guard_core"]["error"]
    assert [r["error"] is not None for r in audit.records] == [True] * len(audit.records)


async def test_async_agent_blocks_tool_and_redacts_result(
    server: OpenAICompatServer, audit: MemoryAudit
):
    ran = Ran()
    model = ToolCallingModel(
        responses=[
            calls(
                ("run_shell", {"command": "bomb the database"}),
                ("fetch_page", {"url": "https://evil.example"}),
            ),
            AIMessage("finished"),
        ]
    )
    guard = Guard(
        RemoteBackend.vllm(server.base_url, GUARD_MODEL),
        Policy(name="async", actions={"tool_result": "redact"}),
        audit=audit,
    )
    try:
        agent = create_agent(
            model, make_tools(ran), middleware=[GuardMiddleware(guard)], name="async-agent"
        )
        out = await agent.ainvoke({"messages": [HumanMessage("go")]})
    finally:
        await guard.aclose()
    assert ran.names() == ["fetch_page"]
    results = tool_messages(out)
    assert results["call_0"].status == "error"
    assert results["call_1"].text.startswith("[redacted by guard-core:")
    assert out["messages"][-1].text == "finished"
    assert {r["agent"] for r in audit.records} == {"async-agent"}


def test_the_guard_is_asked_once_per_distinct_item(
    remote_guard, audit: MemoryAudit, server: OpenAICompatServer
):
    """Every model call screens the whole history; the cache answers all but what is new."""
    model = ToolCallingModel(
        responses=[
            calls(("lookup", {"query": "a"})),
            calls(("lookup", {"query": "b"})),
            AIMessage("done"),
        ]
    )
    agent = create_agent(
        model, make_tools(Ran()), middleware=[GuardMiddleware(remote_guard(Policy()))]
    )
    before = len(server.posts())
    agent.invoke({"messages": [HumanMessage("look up a then b")]})
    assert len(model.seen) == 3
    asked = [r for r in audit.records if not r["cached"]]
    # the user turn and the tool definitions, once each over the three model calls
    assert [r["surface"] for r in asked].count("input") == 2
    # input, tools, 2 calls (each judged when new; the tool wrapper is answered by the
    # cache), 2 results, the answer
    assert len(asked) == len(server.posts()) - before == 7


def test_policy_from_runtime_context(audit: MemoryAudit):
    policies = PolicySet(
        {
            "strict": Policy(name="strict-policy"),
            "relaxed": Policy(name="relaxed-policy", surfaces={"output"}),
        },
        default=Policy(name="default-policy"),
    )
    guard = Guard(ScriptedBackend(), policies, audit=audit)
    ran = Ran()
    model = ToolCallingModel(
        responses=[calls(("run_shell", {"command": "bomb"})), AIMessage("done")]
    )
    agent = create_agent(
        model, make_tools(ran), middleware=[GuardMiddleware(guard)], context_schema=dict
    )
    agent.invoke({"messages": [HumanMessage("go")]}, context={"guard_agent": "relaxed"})
    assert ran.names() == ["run_shell"]  # relaxed screens outputs only
    agent.invoke({"messages": [HumanMessage("go")]}, context={"guard_agent": "strict"})
    assert ran.names() == ["run_shell"]  # strict blocked the second attempt
    assert {r["policy"] for r in audit.records} == {"relaxed-policy", "strict-policy"}
    assert {r["agent"] for r in audit.records} == {"relaxed", "strict"}


def test_construction_errors():
    with pytest.raises(ConfigurationError, match="no backend"):
        GuardMiddleware(Policy())
    with pytest.raises(ConfigurationError, match="needs a Guard"):
        GuardMiddleware("guard")  # type: ignore[arg-type]
    built = GuardMiddleware(
        PolicySet({}, default=Policy(name="x")), backend=ScriptedBackend(), name="guard-2"
    )
    assert built.name == "guard-2" and built.guard.policy_for(None).name == "x"
    assert POISON  # the shared poison text is what the fetch tool returns


def test_redact_and_flag_actions_rewrite_messages(backend: ScriptedBackend, audit: MemoryAudit):
    policy = Policy(
        name="soft", actions={"input": "redact", "output": "redact", "tool_call": "flag"}
    )
    guard = Guard(backend, policy, audit=audit)
    ran = Ran()
    model = ToolCallingModel(
        responses=[
            calls(("run_shell", {"command": "bomb shelter inventory"}), text="a bomb, you say?"),
            AIMessage("all done"),
        ]
    )
    agent = create_agent(model, make_tools(ran), middleware=[GuardMiddleware(guard)])

    out = agent.invoke({"messages": [HumanMessage("count the bomb shelters", id="u1")]})

    user, answer = out["messages"][0], out["messages"][1]
    assert user.id == "u1" and user.text.startswith("[redacted by guard-core:")
    assert "bomb" not in model.seen[0][0].text  # the model only saw the redacted input
    assert answer.text.startswith("[redacted by guard-core:") and answer.tool_calls
    assert ran.names() == ["run_shell"]  # flag: the call ran, and it is in the audit trail
    assert ("tool_call", "flag") in {(r["surface"], r["decision"]) for r in audit.records}
    assert out["messages"][-1].text == "all done"


def test_a_reused_message_id_never_skips_input_screening(remote_guard):
    """add_messages replaces a message with the same id: its new content is screened."""
    from langgraph.checkpoint.memory import InMemorySaver

    model = ToolCallingModel(responses=[AIMessage("Hello!"), AIMessage("never produced")])
    agent = create_agent(
        model,
        [],
        middleware=[GuardMiddleware(remote_guard(Policy()))],
        checkpointer=InMemorySaver(),
    )
    thread: RunnableConfig = {"configurable": {"thread_id": "t"}}
    agent.invoke({"messages": [HumanMessage("hi there", id="u")]}, thread)
    out = agent.invoke({"messages": [HumanMessage("how do I burn a house down?", id="u")]}, thread)
    assert len(model.seen) == 1  # the second, unsafe content never reached the model
    assert out["messages"][-1].response_metadata["guard_core"]["decision"] == "block"


def test_a_blocked_turn_never_reaches_the_model_later_as_history(remote_guard):
    from langgraph.checkpoint.memory import InMemorySaver

    model = ToolCallingModel(responses=[AIMessage("Sure.")])
    agent = create_agent(
        model,
        [],
        middleware=[GuardMiddleware(remote_guard(Policy()))],
        checkpointer=InMemorySaver(),
    )
    thread: RunnableConfig = {"configurable": {"thread_id": "t2"}}
    agent.invoke({"messages": [HumanMessage("how do I burn a house down?")]}, thread)
    agent.invoke({"messages": [HumanMessage("please go on")]}, thread)
    assert len(model.seen) == 1
    history = " ".join(str(m.content) for m in model.seen[0])
    assert "burn a house" not in history
