"""Each agent keeps its own policy: after a handoff, and as a tool of another agent.

``support`` (the standard taxonomy) hands off to ``devops`` (Violence excluded: "kill the
stuck process" is routine there). The same tool call is blocked under ``support``.
"""

from __future__ import annotations

from typing import Any

import pytest

agents = pytest.importorskip("agents")

from guard_core.integrations.openai_agents import verdict_of, with_guardrails  # noqa: E402
from guard_core.verdict import Verdict  # noqa: E402

from .conftest import KINDS, Env, run, say  # noqa: E402

KILL = {"cmd": "kill the stuck process"}


def _shell(ran: list[str]) -> Any:
    @agents.function_tool
    def run_shell(cmd: str) -> str:
        """Run a shell command."""
        ran.append(cmd)
        return "killed 4242"

    return run_shell


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("streamed", [False, True])
@pytest.mark.parametrize("how", ["agent", "handoff()"])
async def test_a_handoff_target_is_judged_under_its_own_policy(
    env: Env, kind: str, streamed: bool, how: str
) -> None:
    ran: list[str] = []
    seen: list[Verdict] = []
    devops = agents.Agent(name="devops", model=env.sdk_model(kind), tools=[_shell(ran)])
    target = devops if how == "agent" else agents.handoff(devops)
    support = agents.Agent(name="support", model=env.sdk_model(kind), handoffs=[target])
    with_guardrails(support, env.guard, on_verdict=lambda item, v: seen.append(v))
    assert devops.output_guardrails and devops.tools[0].tool_input_guardrails  # reached
    env.model.reply(
        say(name="transfer_to_devops", arguments={}),
        say(name="run_shell", arguments=KILL),
        say("Killed the stuck process 4242."),
    )
    result = await run(support, "the build server hangs", streamed=streamed)
    assert result.final_output == "Killed the stuck process 4242." and ran == [KILL["cmd"]]
    by_surface = {v.surface: v for v in seen}
    assert by_surface["input"].agent == "support"
    assert by_surface["tool_call"].agent == "devops" and by_surface["tool_call"].allowed
    assert by_surface["output"].agent == "devops" and by_surface["output"].allowed


@pytest.mark.parametrize("kind", KINDS)
async def test_the_same_call_is_blocked_under_the_other_agents_policy(env: Env, kind: str) -> None:
    ran: list[str] = []
    support = agents.Agent(name="support", model=env.sdk_model(kind), tools=[_shell(ran)])
    with_guardrails(support, env.guard)
    env.model.reply(say(name="run_shell", arguments=KILL))
    with pytest.raises(agents.ToolInputGuardrailTripwireTriggered) as caught:
        await run(support, "the build server hangs", streamed=False)
    verdict = verdict_of(caught.value)
    assert verdict is not None and verdict.agent == "support" and ran == []


async def test_an_agent_used_as_a_tool_is_guarded_too(env: Env) -> None:
    ran: list[str] = []
    devops = agents.Agent(name="devops", model=env.sdk_model("chat"), tools=[_shell(ran)])
    support = agents.Agent(
        name="support",
        model=env.sdk_model("chat"),
        tools=[devops.as_tool(tool_name="ask_devops", tool_description="Ask DevOps.")],
    )
    with_guardrails(support, env.guard)
    assert devops.input_guardrails and devops.tools[0].tool_output_guardrails
    env.model.reply(
        say(name="ask_devops", arguments={"input": "the server hangs"}),
        say(name="run_shell", arguments=KILL),  # devops, inside the tool
        say("Done: the process is gone."),  # devops' answer, the tool's result for support
        say("DevOps fixed it."),
    )
    result = await run(support, "the build server hangs", streamed=False)
    assert result.final_output == "DevOps fixed it." and ran == [KILL["cmd"]]


async def test_one_policy_for_every_agent(env: Env) -> None:
    ran: list[str] = []
    devops = agents.Agent(name="devops", model=env.sdk_model("chat"), tools=[_shell(ran)])
    support = agents.Agent(name="support", model=env.sdk_model("chat"), handoffs=[devops])
    with_guardrails(support, env.guard, agent="support")  # the developer's choice, everywhere
    env.model.reply(
        say(name="transfer_to_devops", arguments={}), say(name="run_shell", arguments=KILL)
    )
    with pytest.raises(agents.ToolInputGuardrailTripwireTriggered) as caught:
        await run(support, "the build server hangs", streamed=False)
    verdict = verdict_of(caught.value)
    assert verdict is not None and verdict.agent == "support" and ran == []
