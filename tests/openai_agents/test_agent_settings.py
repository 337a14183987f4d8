"""What ``with_guardrails`` and the guardrail factories accept, refuse and screen.

Misconfigurations are ConfigurationErrors when the agent is guarded; what the SDK's
guardrails cannot reach (hosted tools, MCP servers, a handoff whose agent is hidden) is
refused unless ``allow_unscreened`` names it; the remaining surfaces (structured output,
tool-result images and files, the run context's agent) on real runs.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from pydantic import BaseModel

agents = pytest.importorskip("agents")

from guard_core import Guard, Policy, PolicySet  # noqa: E402
from guard_core.errors import ConfigurationError, ContentError, GuardViolation  # noqa: E402
from guard_core.integrations.openai_agents import (  # noqa: E402
    guard_input,
    guard_output,
    guard_tool_input,
    guard_tool_output,
    verdict_of,
    with_guardrails,
)
from guard_core.integrations.openai_agents.agent import UNSCREENED_KINDS  # noqa: E402
from guard_core.testing import ScriptedBackend  # noqa: E402

from .conftest import Env, run, say  # noqa: E402

# an image whose data: URL carries the scripted judge's unsafe word (it reads image URLs)
UNSAFE_PNG = (
    "data:image/png;base64,"
    + base64.b64encode(b"\x89PNG\r\n\x1a\n\0" + base64.b64decode("AAAAbombAAAA")).decode()
)


def _tool(result: Any = "ok") -> Any:
    @agents.function_tool
    def lookup(query: str) -> Any:
        """Look something up."""
        return result

    return lookup


@pytest.fixture
def guard() -> Guard:
    return Guard(ScriptedBackend())


def test_with_guardrails_sets_the_sdks_lists_in_place_and_keeps_the_developers(
    guard: Guard,
) -> None:
    mine = agents.InputGuardrail(guardrail_function=lambda c, a, i: None, name="mine")
    tool = _tool()
    agent = agents.Agent(name="a", tools=[tool], input_guardrails=[mine])
    assert with_guardrails(agent, guard) is agent
    assert [g.get_name() for g in agent.input_guardrails] == ["guard_core_input", "mine"]
    assert not agent.input_guardrails[0].run_in_parallel  # blocking, unlike the SDK's default
    assert len(agent.output_guardrails) == 1
    assert len(tool.tool_input_guardrails) == len(tool.tool_output_guardrails) == 1
    with_guardrails(agent, guard)  # the same settings again: nothing added
    assert len(agent.input_guardrails) == 2 and len(tool.tool_input_guardrails) == 1
    with pytest.raises(ConfigurationError, match="already guarded with other settings"):
        with_guardrails(agent, Guard(ScriptedBackend()))


@pytest.mark.parametrize(
    ("build", "kind"),
    [
        (lambda: agents.Agent(name="a", tools=[agents.WebSearchTool()]), "WebSearchTool"),
        (
            lambda: agents.Agent(
                name="a",
                handoffs=[
                    agents.Handoff(
                        tool_name="transfer",
                        tool_description="hidden",
                        input_json_schema={},
                        on_invoke_handoff=lambda ctx, args: None,
                        agent_name="hidden",
                    )
                ],
            ),
            "handoff",
        ),
        (
            lambda: agents.Agent(
                name="a",
                mcp_servers=[agents.mcp.MCPServerStdio(params={"command": "true"})],
            ),
            "mcp_servers",
        ),
    ],
    ids=["hosted tool", "hidden handoff", "mcp servers"],
)
def test_what_the_guardrails_cannot_reach_is_refused_unless_allowed(
    guard: Guard, build: Any, kind: str
) -> None:
    assert kind in UNSCREENED_KINDS
    with pytest.raises(ConfigurationError, match=rf"guard_openai.*allow_unscreened=\{{'{kind}'\}}"):
        with_guardrails(build(), guard)
    assert with_guardrails(build(), guard, allow_unscreened={kind}) is not None


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (lambda g: with_guardrails(agents.Agent(name="a"), g, on_block="ignore"), "on_block"),  # type: ignore[arg-type]
        (lambda g: with_guardrails(agents.Agent(name="a"), g, refusal=3), "refusal"),  # type: ignore[arg-type]
        (
            lambda g: with_guardrails(agents.Agent(name="a"), g, run_in_parallel="yes"),  # type: ignore[arg-type]
            "run_in_parallel",
        ),
        (
            lambda g: with_guardrails(agents.Agent(name="a"), g, allow_unscreened="file"),
            "collection",
        ),
        (lambda g: with_guardrails(agents.Agent(name="a"), g, allow_unscreened={"x"}), "unknown"),
        (lambda g: with_guardrails(agents.Agent(name="a"), g, on_verdict="print"), "on_verdict"),  # type: ignore[arg-type]
        (lambda g: with_guardrails("an agent", g), "agents.Agent"),
        (lambda g: guard_tool_output(g, allow_unscreened={"WebSearchTool"}), "unknown"),
        (lambda g: guard_input(g, allow_agent_override=1), "allow_agent_override"),  # type: ignore[arg-type]
    ],
)
def test_a_bad_setting_is_a_configuration_error(guard: Guard, call: Any, named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        call(guard)


def test_an_agent_without_a_policy_fails_when_guarded() -> None:
    guard = Guard(ScriptedBackend(), PolicySet({"support": Policy(name="support")}))
    support = agents.Agent(name="support", handoffs=[agents.Agent(name="sales")])
    with pytest.raises(ConfigurationError, match="no policy for agent 'sales'"):
        with_guardrails(support, guard)
    with pytest.raises(ConfigurationError, match="no policy for agent 'ops'"):
        guard_tool_input(guard, agent="ops")


def test_verdict_of_reads_only_guard_core_tripwires(guard: Guard) -> None:
    verdict = guard.check("a bomb")
    assert verdict_of(GuardViolation(verdict)) is verdict
    assert verdict_of(ValueError("no")) is None


async def test_parallel_input_guardrails_can_only_abort(env: Env) -> None:
    agent = agents.Agent(
        name="support",
        model=env.sdk_model("chat"),
        input_guardrails=[guard_input(env.guard, run_in_parallel=True)],
    )
    with pytest.raises(agents.InputGuardrailTripwireTriggered):
        await run(agent, "How do I build a bomb?", streamed=False)
    # (the model call started with it: whether it was answered first is a race)


class Answer(BaseModel):
    text: str


async def test_a_structured_output_is_screened_string_by_string(env: Env) -> None:
    agent = agents.Agent(
        name="support",
        model=env.sdk_model("responses"),
        output_type=Answer,
        output_guardrails=[guard_output(env.guard)],
    )
    env.model.reply(say('{"text": "Sure."}'), say('{"text": "Build a bomb like this."}'))
    assert (await run(agent, "hi", streamed=False)).final_output == Answer(text="Sure.")
    with pytest.raises(agents.OutputGuardrailTripwireTriggered):
        await run(agent, "hi", streamed=False)


@pytest.mark.parametrize(
    ("result", "allow", "outcome"),
    [
        (agents.ToolOutputImage(image_url=UNSAFE_PNG), (), "blocked"),
        (
            [agents.ToolOutputText(text="a chart"), {"type": "image", "file_id": "f1"}],
            (),
            "refused",
        ),
        (agents.ToolOutputFileContent(file_data="JVBERi0=", filename="a.pdf"), (), "refused"),
        (agents.ToolOutputFileContent(file_data="JVBERi0=", filename="a.pdf"), {"file"}, "passed"),
    ],
    ids=["unsafe image", "image by file id", "file", "file allowed"],
)
async def test_tool_result_images_are_judged_and_files_refused(
    env: Env, result: Any, allow: Any, outcome: str
) -> None:
    tool = _tool(result)
    tool.tool_output_guardrails = [guard_tool_output(env.guard, allow_unscreened=allow)]
    agent = agents.Agent(name="support", model=env.sdk_model("responses"), tools=[tool])
    env.model.reply(say(name="lookup", arguments={"query": "chart"}), say("Here it is."))
    if outcome == "blocked":
        with pytest.raises(agents.ToolOutputGuardrailTripwireTriggered) as caught:
            await run(agent, "show me", streamed=False)
        assert verdict_of(caught.value).surface == "image"  # type: ignore[union-attr]
    elif outcome == "refused":  # the SDK reports a guardrail's error as a UserError
        with pytest.raises(agents.UserError) as caught:
            await run(agent, "show me", streamed=False)
        assert isinstance(caught.value.__cause__, ContentError)
        assert "allow_unscreened={'file'}" in str(caught.value.__cause__)
        assert len(env.model.bodies) == 1  # the result never reached the model
    else:
        assert (await run(agent, "show me", streamed=False)).final_output == "Here it is."


async def test_a_redacting_policy_hands_the_model_a_notice(env: Env) -> None:
    tool = _tool("the bomb is in the basement")
    agent = with_guardrails(
        agents.Agent(name="notes", model=env.sdk_model("chat"), tools=[tool]), env.guard
    )
    env.model.reply(
        say(name="lookup", arguments={"query": "notes"}), say("Some notes were withheld.")
    )
    result = await run(agent, "read my notes", streamed=False)  # on_block="raise", yet it goes on
    assert result.final_output == "Some notes were withheld."
    assert "redacted by guard-core" in env.sent() and "basement" not in env.sent()


async def test_non_json_tool_arguments_stop_the_run(env: Env) -> None:
    tool = _tool()
    tool.tool_input_guardrails = [guard_tool_input(env.guard, on_block="refuse")]
    agent = agents.Agent(name="support", model=env.sdk_model("chat"), tools=[tool])
    env.model.reply(say(name="lookup", arguments="[1, 2]"))
    with pytest.raises(agents.UserError) as caught:
        await run(agent, "look it up", streamed=False)
    assert isinstance(caught.value.__cause__, ContentError)
    assert len(env.model.bodies) == 1


async def test_the_run_context_may_name_the_agent_only_when_allowed(env: Env) -> None:
    tool = _tool()
    agent = agents.Agent(name="support", model=env.sdk_model("chat"), tools=[tool])
    with_guardrails(agent, env.guard)
    with pytest.raises(ContentError, match="cannot pick another agent's policy"):
        await run(agent, "hi", streamed=False, context={"guard_agent": "devops"})
    assert env.model.bodies == []
    open_agent = agents.Agent(name="support", model=env.sdk_model("chat"))
    seen: list[Any] = []
    with_guardrails(
        open_agent,
        env.guard,
        allow_agent_override=True,
        on_verdict=lambda item, v: seen.append(v.agent),
    )
    await run(
        open_agent, "kill the stuck process", streamed=False, context={"guard_agent": "devops"}
    )
    assert seen and set(seen) == {"devops"}


async def test_unreadable_input_stops_the_run_before_the_model(env: Env) -> None:
    agent = with_guardrails(agents.Agent(name="support", model=env.sdk_model("chat")), env.guard)
    audio = {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
    with pytest.raises(ContentError, match="input_audio"):
        await run(agent, [{"role": "user", "content": [audio]}], streamed=False)
    assert env.model.bodies == []
