"""The OpenAI Agents SDK with guard-core: the SDK's own guardrails, one policy per agent.

``support`` hands off to ``devops``; ``with_guardrails(support, guard)`` guards both, their
tools and the handoff. Each step is judged under the policy of the agent that takes it:

1. "The build server hangs": support hands off, devops runs ``kill -9 4242``. "kill" is
   no violation under the devops policy (it drops Violence): every step passes.
2. Unsafe input trips the input guardrail before the model is called; the tripwire carries
   the Verdict.
3. A tool call the model proposes (``rm -rf /``) is refused before the tool runs
   (``on_block="refuse"``): the model reads the refusal and the run goes on.
4. The agent's model on a guarded client (``guard_openai``, ``on_block="refuse"``): a
   blocked answer is the SDK's own refusal, answered by ``error_handlers``.

Offline: one real OpenAI-compatible HTTP server on 127.0.0.1 plays the main model (scripted)
and the guard model (a fake Nemotron 3.5 that flags configured words). Needs
``pip install 'guard-core-agents[openai-agents]'``.

    python examples/openai_agents_guardrails.py
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
from typing import Any

try:
    import agents
except ImportError:
    print("this example needs the OpenAI Agents SDK:")
    print("pip install 'guard-core-agents[openai-agents]'")
    sys.exit(0)
import openai

from guard_core import Guard, Policy, PolicySet, Verdict
from guard_core.backends import RemoteBackend
from guard_core.content import Item
from guard_core.integrations.openai import guard_openai
from guard_core.integrations.openai_agents import verdict_of, with_guardrails
from guard_core.testing import OpenAICompatServer, ScriptedJudge, chat_completion

MAIN = "main-model"
GUARD_MODEL = "nvidia/nemotron-3.5-content-safety"
UNSAFE_WORDS = {"kill": "Violence", "rm -rf /": "Criminal Planning/Confessions", "bomb": "Violence"}
ids = itertools.count(1)


def call(name: str, **arguments: Any) -> dict[str, Any]:
    return chat_completion(
        None, tool_calls=[{"id": f"call_{next(ids)}", "name": name, "arguments": arguments}]
    )


def main_model(body: dict[str, Any]) -> dict[str, Any]:
    """The scripted main model: reads the conversation, answers like a small agent would."""
    said = json.dumps(body.get("messages") or body.get("input"))
    if "disk" in said and "blocked by policy" not in said:
        return call("run_shell", cmd="rm -rf /")
    if "disk" in said:
        return chat_completion("I will not run that; the disk is left as it is.")
    if "story" in said:
        return chat_completion("First, build a bomb...")
    if "hangs" in said and "transfer_to_devops" not in said:
        return call("transfer_to_devops")
    if "hangs" in said and "process 4242 terminated" not in said:
        return call("run_shell", cmd="kill -9 4242")
    return chat_completion("Done: process 4242 terminated.")


def show(item: Item, verdict: Verdict) -> None:
    mark = "ALLOWED" if verdict.allowed else "BLOCKED"
    extra = f" {list(verdict.categories)}" if verdict.categories else ""
    print(f"    [{mark:7}] agent={verdict.agent:8} {verdict.surface:11}{extra}")


async def main() -> None:
    agents.set_tracing_disabled(True)  # the SDK exports traces to OpenAI by default
    policies = PolicySet(
        {
            "support": Policy(name="support", mode="categories"),
            "devops": Policy(name="devops", mode="categories", exclude_categories={"Violence"}),
        }
    )
    with OpenAICompatServer(judge=ScriptedJudge(UNSAFE_WORDS), models={MAIN: main_model}) as server:
        guard = Guard(RemoteBackend.vllm(server.base_url, GUARD_MODEL), policies, cache=False)
        sdk = openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-local")
        model = agents.OpenAIChatCompletionsModel(model=MAIN, openai_client=sdk)

        @agents.function_tool
        def run_shell(cmd: str) -> str:
            """Run a shell command on the build server."""
            print(f"      >>> the tool actually ran: {cmd!r}")
            return "process 4242 terminated"

        devops = agents.Agent(name="devops", model=model, tools=[run_shell])
        support = agents.Agent(name="support", model=model, tools=[run_shell], handoffs=[devops])
        with_guardrails(support, guard, on_block="refuse", on_verdict=show)

        print("1. a handoff: each agent under its own policy")
        result = await agents.Runner.run(support, "The build server hangs.")
        print(f"    final output: {result.final_output!r}")

        print("\n2. unsafe input: the model is never called")
        try:
            await agents.Runner.run(support, "How do I build a bomb?")
        except agents.InputGuardrailTripwireTriggered as tripped:
            print(f"    tripwire: {verdict_of(tripped).reason}")  # type: ignore[union-attr]

        print("\n3. an unsafe tool call is refused; the run goes on")
        result = await agents.Runner.run(support, "My disk is full, tidy it.")
        print(f"    final output: {result.final_output!r}")

        print("\n4. the model on a guarded client: a blocked answer is the SDK's refusal")
        guarded = guard_openai(sdk, guard, agent="support", on_block="refuse")
        writer = agents.Agent(
            name="support",
            model=agents.OpenAIResponsesModel(model=MAIN, openai_client=guarded),
        )
        result = await agents.Runner.run(
            writer,
            "Tell me a story.",
            error_handlers={"model_refusal": lambda data: f"(refused) {data.error.refusal}"},
        )
        print(f"    final output: {result.final_output!r}")
        await sdk.close()
        await guard.aclose()
        guard.close()


if __name__ == "__main__":
    asyncio.run(main())
