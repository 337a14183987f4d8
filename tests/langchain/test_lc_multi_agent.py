"""Two create_agent agents in one LangGraph graph, one middleware, two policies."""

from __future__ import annotations

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph
from lc_fakes import Ran, ToolCallingModel, calls, make_tools

from guard_core import GuardViolation, Policy, PolicySet
from guard_core.audit import MemoryAudit
from guard_core.integrations.langchain import GuardCallbackHandler, GuardMiddleware

# The DevOps agent's policy ignores Violence ("bomb the cache" is jargon there); the
# support agent's does not. Both need categories to tell Violence apart.
POLICIES = PolicySet(
    {
        "devops": Policy(
            name="devops-policy",
            mode="categories",
            exclude_categories={"Violence"},
        ),
        "support": Policy(name="support-policy", mode="categories"),
    },
    default=Policy(name="default-policy"),
)


def build_graph(
    middleware: list[GuardMiddleware], ran: Ran
) -> tuple[
    CompiledStateGraph[MessagesState, None, MessagesState, MessagesState],
    ToolCallingModel,
    ToolCallingModel,
]:
    command = ("run_shell", {"command": "bomb the build cache"})
    devops_model = ToolCallingModel(responses=[calls(command), AIMessage("cache cleared")])
    support_model = ToolCallingModel(responses=[calls(command), AIMessage("I escalated it")])
    devops = create_agent(devops_model, make_tools(ran), middleware=middleware, name="devops")
    support = create_agent(support_model, make_tools(ran), middleware=middleware, name="support")
    graph = StateGraph(MessagesState)
    graph.add_node("devops", devops)
    graph.add_node("support", support)
    graph.add_edge(START, "devops")
    graph.add_edge("devops", "support")
    graph.add_edge("support", END)
    return graph.compile(), devops_model, support_model


def test_each_agent_is_judged_by_its_own_policy(remote_guard, audit: MemoryAudit):
    ran = Ran()
    guard = remote_guard(POLICIES)
    graph, _, support_model = build_graph([GuardMiddleware(guard)], ran)

    out = graph.invoke({"messages": [HumanMessage("the build is slow, fix it")]})

    # the same command: allowed for devops (Violence excluded); under the support policy
    # the history holding it may not reach the support model at all
    assert ran.calls == [("run_shell", {"command": "bomb the build cache"})]
    assert support_model.seen == []
    tool_results = [m for m in out["messages"] if isinstance(m, ToolMessage)]
    assert [m.status for m in tool_results] == ["success"]
    last = out["messages"][-1]
    assert last.text == "I can't help with that request." and not last.tool_calls
    assert last.response_metadata["guard_core"]["policy"] == "support-policy"
    # the blocked call is withheld in state: its arguments no longer say it
    assert "bomb" not in str([m.tool_calls for m in out["messages"] if isinstance(m, AIMessage)])

    by_agent = {(r["agent"], r["policy"]) for r in audit.records}
    assert by_agent == {("devops", "devops-policy"), ("support", "support-policy")}
    calls_judged = [
        (r["agent"], r["decision"], tuple(r["categories"]))
        for r in audit.records
        if r["surface"] == "tool_call" and not r["cached"]
    ]
    assert ("devops", "allow", ()) in calls_judged
    assert ("support", "block", ("Violence",)) in calls_judged


def test_callback_handler_picks_the_policy_from_the_agent_name(remote_guard, audit: MemoryAudit):
    ran = Ran()
    graph, _, _ = build_graph([], ran)
    handler = GuardCallbackHandler(remote_guard(POLICIES))

    with pytest.raises(GuardViolation) as caught:  # the support agent's tool start aborts
        graph.invoke(
            {"messages": [HumanMessage("the build is slow, fix it")]},
            config={"callbacks": [handler]},
        )

    raised = caught.value
    assert raised.verdict.surface == "tool_call"
    assert raised.verdict.agent == "support" and raised.verdict.policy.name == "support-policy"
    assert ran.calls == [("run_shell", {"command": "bomb the build cache"})]  # devops ran it
    assert ("devops", "devops-policy") in {(r["agent"], r["policy"]) for r in audit.records}
