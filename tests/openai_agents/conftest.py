"""The real Agents SDK (``Runner``, its OpenAI models) against the real loopback server.

One server plays the main model (scripted answers, chat completions and Responses alike)
and the guard model. Nothing of the SDK is patched: agents, tools, models and runs are the
SDK's own, over HTTP. Each test module skips where ``openai-agents`` is not installed (the
locked tier: ``pytest.importorskip``); the co-install tier runs them.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import openai
import pytest

from guard_core import Guard, Policy, PolicySet
from guard_core.backends import RemoteBackend
from guard_core.testing import OpenAICompatServer, ScriptedJudge, chat_completion

MAIN = "main-model"
GUARD_MODEL = "nvidia/nemotron-3.5-content-safety"
UNSAFE = {"bomb": "Violence", "kill": "Violence"}
KINDS = ["chat", "responses"]

POLICIES = PolicySet(
    {
        "support": Policy(name="support", mode="categories"),
        # a DevOps agent may "kill the process": Violence is not its concern
        "devops": Policy(name="devops", mode="categories", exclude_categories={"Violence"}),
        "notes": Policy(name="notes", actions={"tool_result": "redact"}),
    },
    default=Policy(name="default", mode="categories"),
)


_CALL_IDS = itertools.count(1)


def say(text: str | None = None, **call: Any) -> dict[str, Any]:
    """A main-model answer: text, or one tool call ``name=..., arguments={...}`` (each with
    its own call id, as a real model gives)."""
    calls = [{"id": f"call_{next(_CALL_IDS)}", **call}] if call else None
    return chat_completion(text, tool_calls=calls, model=MAIN)


@dataclass
class MainModel:
    queue: list[dict[str, Any]] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)

    def reply(self, *answers: dict[str, Any]) -> None:
        self.queue.extend(answers)

    def __call__(self, body: dict[str, Any]) -> dict[str, Any]:
        self.bodies.append(body)
        return copy.deepcopy(self.queue.pop(0)) if self.queue else say("Happy to help.")


@dataclass
class Env:
    server: OpenAICompatServer
    model: MainModel
    guard: Guard
    clients: list[Any] = field(default_factory=list)

    def client(self) -> openai.AsyncOpenAI:
        client = openai.AsyncOpenAI(base_url=self.server.base_url, api_key="sk-test")
        self.clients.append(client)
        return client

    def sdk_model(self, kind: str, client: Any = None) -> Any:
        import agents

        cls = agents.OpenAIChatCompletionsModel if kind == "chat" else agents.OpenAIResponsesModel
        return cls(model=MAIN, openai_client=client if client is not None else self.client())

    def sent(self) -> str:
        """Everything the main model was sent, as one text."""
        return repr(self.model.bodies)


@pytest.fixture(autouse=True, scope="session")
def _no_tracing() -> Iterator[None]:
    import agents

    # the SDK exports traces to api.openai.com by default: nothing leaves the machine here
    agents.set_tracing_disabled(True)
    yield
    agents.set_tracing_disabled(False)


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    model = MainModel()
    with OpenAICompatServer(judge=ScriptedJudge(UNSAFE), models={MAIN: model}) as server:
        backend = RemoteBackend.vllm(server.base_url, GUARD_MODEL, max_retries=0)
        guard = Guard(backend, POLICIES, cache=False)
        made = Env(server, model, guard)
        yield made
        for client in made.clients:
            await client.close()
        await guard.aclose()
        guard.close()


async def run(agent: Any, text: Any, *, streamed: bool, **kwargs: Any) -> Any:
    """``Runner.run`` or ``Runner.run_streamed`` (its events consumed), the run's result."""
    import agents

    if not streamed:
        return await agents.Runner.run(agent, text, **kwargs)
    result = agents.Runner.run_streamed(agent, text, **kwargs)
    async for _ in result.stream_events():
        pass
    return result
