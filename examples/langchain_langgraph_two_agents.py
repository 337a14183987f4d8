"""Two agents in one LangGraph graph, one ``GuardMiddleware``, two policies.

A DevOps agent and a customer-support agent share a graph. The DevOps policy excludes the
Violence category ("kill the stuck worker" is everyday jargon there); the support policy
does not. Both agents try the same command: the DevOps agent runs it, the support agent is
blocked, and the agent goes on. Each verdict names its agent and policy: the middleware
picks the policy from the agent's ``create_agent(name=...)``.

The same graph is then run with a ``GuardCallbackHandler`` instead of the middleware: it
picks the policy the same way, and aborts the run at the support agent's tool call.

Offline: the guard is served over real HTTP by guard-core's loopback test server and
reached with ``RemoteBackend.vllm``; the chat models are scripted LangChain fakes.

    python examples/langchain_langgraph_two_agents.py
"""

from __future__ import annotations

from typing import Any

from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.graph import END, START, MessagesState, StateGraph

from guard_core import Guard, GuardViolation, Policy, PolicySet
from guard_core.audit import MemoryAudit
from guard_core.backends import RemoteBackend
from guard_core.integrations.langchain import GuardCallbackHandler, GuardMiddleware
from guard_core.testing import OpenAICompatServer, ScriptedJudge

POLICIES = PolicySet(
    {
        "devops": Policy(
            name="devops-policy",
            mode="categories",
            exclude_categories={"Violence"},
            description="infra jargon is fine",
        ),
        "support": Policy(name="support-policy", mode="categories"),
    },
    default=Policy(name="default-policy"),
)


class ScriptedModel(FakeMessagesListChatModel):
    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedModel:
        return self


@tool
def run_command(command: str) -> str:
    """Run an operations command."""
    print(f"    [tool ran] run_command({command!r})")
    return "done"


def build(middleware: list[GuardMiddleware]) -> Any:
    def agent(name: str, answer: str) -> Any:
        model = ScriptedModel(
            responses=[
                AIMessage(
                    "",
                    tool_calls=[
                        {
                            "name": "run_command",
                            "id": f"{name}-1",
                            "args": {"command": "kill the stuck worker"},
                        }
                    ],
                ),
                AIMessage(answer),
            ]
        )
        return create_agent(model, [run_command], middleware=middleware, name=name)

    graph = StateGraph(MessagesState)
    graph.add_node("devops", agent("devops", "Worker restarted."))
    graph.add_node("support", agent("support", "I have asked the ops team to look at it."))
    graph.add_edge(START, "devops")
    graph.add_edge("devops", "support")
    graph.add_edge("support", END)
    return graph.compile()


def main() -> None:
    audit = MemoryAudit()
    judge = ScriptedJudge({"kill": "Violence"})
    with OpenAICompatServer(judge) as server:
        guard = Guard(
            RemoteBackend.vllm(server.base_url, "nvidia/nemotron-3.5-content-safety"),
            POLICIES,
            audit=audit,
        )
        with guard:
            print("1. one GuardMiddleware shared by both agents")
            out = build([GuardMiddleware(guard)]).invoke(
                {"messages": [HumanMessage("A worker is stuck; sort it out.")]}
            )
            for m in out["messages"][1:]:
                if isinstance(m, ToolMessage):
                    print(f"    {m.tool_call_id}: tool message [{m.status}] {m.text[:70]}")
                elif m.text:
                    print(f"    {m.name}: {m.text}")
            for r in audit.records:
                if r["surface"] == "tool_call" and not r["cached"]:
                    print(
                        f"    screened tool_call agent={r['agent']:<8} policy={r['policy']:<15}"
                        f"-> {r['decision']} {r['categories']}"
                    )

            print("\n2. the same graph with GuardCallbackHandler (abort on block)")
            try:
                build([]).invoke(
                    {"messages": [HumanMessage("A worker is stuck; sort it out.")]},
                    config={"callbacks": [GuardCallbackHandler(guard)]},
                )
            except GuardViolation as exc:
                v = exc.verdict
                print(f"    aborted: {exc} (agent={v.agent}, policy={v.policy.name})")


if __name__ == "__main__":
    main()
