"""The Agents SDK's OpenAI models on a ``guard_openai`` client: the wrapper is transparent.

Both models (chat completions; Responses, whose streams go through
``with_streaming_response``), ``Runner.run`` and ``run_streamed``: a safe exchange passes;
a blocked request or answer raises ``GuardViolation`` (``on_block="raise"``) or, with
``on_block="refuse"``, is what the SDK treats as a refusal: ``ModelRefusalError``, which
``error_handlers={"model_refusal": ...}`` answers. No unsafe text reaches the consumer.
"""

from __future__ import annotations

from typing import Any

import pytest

agents = pytest.importorskip("agents")

from guard_core import GuardViolation  # noqa: E402
from guard_core.integrations.openai import guard_openai  # noqa: E402

from .conftest import KINDS, Env, say  # noqa: E402

pytestmark = [
    pytest.mark.parametrize("kind", KINDS),
    pytest.mark.parametrize("streamed", [False, True]),
]


async def _run(agent: Any, text: str, streamed: bool, **kwargs: Any) -> tuple[Any, str]:
    """The result and every text the consumer saw (stream events, final output)."""
    if not streamed:
        result = await agents.Runner.run(agent, text, **kwargs)
        return result, str(result.final_output)
    result = agents.Runner.run_streamed(agent, text, **kwargs)
    seen = [repr(event) async for event in result.stream_events()]
    return result, "".join(seen) + str(result.final_output)


def _agent(env: Env, kind: str, on_block: str) -> Any:
    client = guard_openai(env.client(), env.guard, agent="support", on_block=on_block)  # type: ignore[arg-type]
    return agents.Agent(name="support", model=env.sdk_model(kind, client))


async def test_a_safe_exchange_passes(env: Env, kind: str, streamed: bool) -> None:
    result, _ = await _run(_agent(env, kind, "raise"), "hi", streamed)
    assert result.final_output == "Happy to help."


@pytest.mark.parametrize("case", ["unsafe request", "unsafe answer"])
async def test_a_block_raises_guard_violation(
    env: Env, kind: str, streamed: bool, case: str
) -> None:
    if case == "unsafe answer":
        env.model.reply(say("Here is how to build a bomb."))
    with pytest.raises(GuardViolation) as caught:
        await _run(
            _agent(env, kind, "raise"), "bomb" if case == "unsafe request" else "hi", streamed
        )
    assert caught.value.verdict.surface == ("input" if case == "unsafe request" else "output")
    assert len(env.model.bodies) == (0 if case == "unsafe request" else 1)


@pytest.mark.parametrize("case", ["unsafe request", "unsafe answer"])
async def test_a_refusal_is_the_sdks_model_refusal(
    env: Env, kind: str, streamed: bool, case: str
) -> None:
    text = "bomb" if case == "unsafe request" else "hi"
    if case == "unsafe answer":
        env.model.reply(say("Here is how to build a bomb."), say("Here is how to build a bomb."))
    with pytest.raises(agents.ModelRefusalError) as caught:
        await _run(_agent(env, kind, "refuse"), text, streamed)
    assert "blocked by policy 'support'" in caught.value.refusal
    handled = {"model_refusal": lambda data: f"Sorry: {data.error.refusal}"}
    result, seen = await _run(_agent(env, kind, "refuse"), text, streamed, error_handlers=handled)
    assert result.final_output.startswith("Sorry: I can't help with that")
    if case == "unsafe request":
        assert env.model.bodies == []  # never sent
    else:
        assert len(env.model.bodies) == 2 and "bomb" not in seen  # the consumer saw no part
