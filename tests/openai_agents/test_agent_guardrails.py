"""``with_guardrails`` on real agents: ``Runner.run`` and ``run_streamed``, chat completions and
Responses models, over the loopback server.

The five rows of the issue, each on both APIs and both run modes: a safe conversation with a
tool; unsafe input; unsafe tool arguments; an unsafe tool result; an unsafe answer. What the
model, the tool and the caller receive is what the guard judged.
"""

from __future__ import annotations

from typing import Any

import pytest

agents = pytest.importorskip("agents")

from guard_core.integrations.openai_agents import verdict_of, with_guardrails  # noqa: E402
from guard_core.verdict import Verdict  # noqa: E402

from .conftest import KINDS, Env, run, say  # noqa: E402

pytestmark = [
    pytest.mark.parametrize("kind", KINDS),
    pytest.mark.parametrize("streamed", [False, True]),
]


class Tools:
    """Two real function tools; what they were called with is kept."""

    def __init__(self, result: str = "Sunny in {city}.") -> None:
        self.ran: list[str] = []

        @agents.function_tool
        def get_weather(city: str) -> str:
            """The weather in a city."""
            self.ran.append(city)
            return result.format(city=city)

        @agents.function_tool
        def run_shell(cmd: str) -> str:
            """Run a shell command."""
            self.ran.append(cmd)
            return "done"

        self.all = [get_weather, run_shell]


def _agent(env: Env, kind: str, tools: Tools, **options: Any) -> tuple[Any, list[Verdict]]:
    seen: list[Verdict] = []
    agent = agents.Agent(
        name="support", instructions="Help.", model=env.sdk_model(kind), tools=tools.all
    )
    with_guardrails(agent, env.guard, on_verdict=lambda item, v: seen.append(v), **options)
    return agent, seen


async def test_a_safe_conversation_with_a_tool(env: Env, kind: str, streamed: bool) -> None:
    tools = Tools()
    agent, seen = _agent(env, kind, tools)
    env.model.reply(
        say(name="get_weather", arguments={"city": "Paris"}), say("It is sunny in Paris.")
    )
    result = await run(agent, "What is the weather in Paris?", streamed=streamed)
    assert result.final_output == "It is sunny in Paris."
    assert tools.ran == ["Paris"]
    assert "Sunny in Paris." in env.sent()  # the tool result reached the model
    assert {v.surface for v in seen} == {"input", "tool_call", "tool_result", "output"}
    assert all(v.allowed and v.agent == "support" for v in seen)


async def test_unsafe_input_never_reaches_the_model(env: Env, kind: str, streamed: bool) -> None:
    tools = Tools()
    agent, _ = _agent(env, kind, tools)
    with pytest.raises(agents.InputGuardrailTripwireTriggered) as caught:
        await run(agent, "How do I build a bomb?", streamed=streamed)
    verdict = verdict_of(caught.value)
    assert verdict is not None and verdict.surface == "input" and not verdict.allowed
    assert verdict.categories == ("Violence",) and verdict.agent == "support"
    assert env.model.bodies == [] and tools.ran == []  # blocking: the model never read it


@pytest.mark.parametrize("on_block", ["raise", "refuse"])
async def test_unsafe_tool_arguments_never_reach_the_tool(
    env: Env, kind: str, streamed: bool, on_block: str
) -> None:
    tools = Tools()
    agent, _ = _agent(env, kind, tools, on_block=on_block)
    env.model.reply(say(name="run_shell", arguments={"cmd": "build a bomb"}), say("I cannot."))
    if on_block == "raise":
        with pytest.raises(agents.ToolInputGuardrailTripwireTriggered) as caught:
            await run(agent, "tidy the disk", streamed=streamed)
        verdict = verdict_of(caught.value)
        assert verdict is not None and verdict.surface == "tool_call"
        assert len(env.model.bodies) == 1
    else:  # the model reads the refusal in place of the tool's result; the run goes on
        result = await run(agent, "tidy the disk", streamed=streamed)
        assert result.final_output == "I cannot."
        assert "tool_call blocked by policy 'support'" in repr(env.model.bodies[1])
    assert tools.ran == []


@pytest.mark.parametrize("on_block", ["raise", "refuse"])
async def test_an_unsafe_tool_result_never_reaches_the_model(
    env: Env, kind: str, streamed: bool, on_block: str
) -> None:
    tools = Tools(result="Step one: build a bomb in {city}.")
    agent, _ = _agent(env, kind, tools, on_block=on_block)
    env.model.reply(say(name="get_weather", arguments={"city": "Oslo"}), say("Sorry."))
    if on_block == "raise":
        with pytest.raises(agents.ToolOutputGuardrailTripwireTriggered) as caught:
            await run(agent, "weather in Oslo?", streamed=streamed)
        verdict = verdict_of(caught.value)
        assert verdict is not None and verdict.surface == "tool_result"
    else:
        result = await run(agent, "weather in Oslo?", streamed=streamed)
        assert result.final_output == "Sorry."
        assert "tool_result blocked by policy 'support'" in env.sent()
    assert tools.ran == ["Oslo"]  # it ran; its result went nowhere
    assert "Step one" not in env.sent()


async def test_an_unsafe_answer_is_a_tripwire(env: Env, kind: str, streamed: bool) -> None:
    agent, _ = _agent(env, kind, Tools())
    env.model.reply(say("Here is how to build a bomb."))
    with pytest.raises(agents.OutputGuardrailTripwireTriggered) as caught:
        result = await run(agent, "tell me a story", streamed=streamed)
        assert streamed, result.final_output  # never returned by Runner.run
    verdict = verdict_of(caught.value)
    assert verdict is not None and verdict.surface == "output" and not verdict.allowed
