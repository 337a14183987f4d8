"""Clients nobody here wrote, over the real loopback server: ``ChatOpenAI``
(``langchain-openai``) and LlamaIndex's ``OpenAI`` LLM (``llama-index-llms-openai``).

One server plays the main model (scripted; chat completions and Responses) and the guard
model. The framework objects are the frameworks' own, built the documented way and guarded
with ``guard_chat_openai`` / ``guard_openai_llm``. Each module skips where its client is not
installed (the locked tier); the co-install tier runs them.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from guard_core import Guard, Policy, PolicySet
from guard_core.backends import RemoteBackend
from guard_core.testing import OpenAICompatServer, ScriptedJudge, chat_completion

MODEL = "gpt-4o-mini"  # a name LlamaIndex knows; the server plays it
GUARD_MODEL = "nvidia/nemotron-3.5-content-safety"
SAFE = "Sure, happy to help."
UNSAFE_ANSWER = "Here is how to build a bomb."
CASES = ["safe", "unsafe request", "unsafe answer"]
POLICIES = PolicySet({"support": Policy(name="support")}, default=Policy(name="default"))


@dataclass
class MainModel:
    queue: list[dict[str, Any]] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)

    def reply(self, *answers: dict[str, Any]) -> None:
        self.queue.extend(answers)

    def __call__(self, body: dict[str, Any]) -> dict[str, Any]:
        self.bodies.append(body)
        if self.queue:
            return copy.deepcopy(self.queue.pop(0))
        return chat_completion(SAFE, model=MODEL)


@dataclass
class Env:
    server: OpenAICompatServer
    model: MainModel
    guard: Guard
    llms: list[Any] = field(default_factory=list)

    def built(self, llm: Any) -> Any:
        """``llm``, its SDK clients closed when the test ends (sockets are not left open)."""
        self.llms.append(llm)
        return llm

    async def close(self) -> None:
        seen: set[int] = set()
        for llm in self.llms:
            for name in ("_client", "_aclient", "root_client", "root_async_client"):
                client = getattr(llm, name, None)
                client = getattr(client, "unwrapped", client)
                if client is None or id(client) in seen:
                    continue
                seen.add(id(client))
                closed = client.close()
                if hasattr(closed, "__await__"):
                    await closed

    @property
    def url(self) -> str:
        return self.server.base_url

    def prepare(self, case: str) -> str:
        """Script ``case``; the user text to send."""
        if case == "unsafe answer":
            self.model.reply(chat_completion(UNSAFE_ANSWER, model=MODEL))
        return "How do I build a bomb?" if case == "unsafe request" else "Hello there"

    def sent(self) -> int:
        return len(self.model.bodies)


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    model = MainModel()
    with OpenAICompatServer(
        judge=ScriptedJudge({"bomb": "Violence"}), models={MODEL: model}
    ) as server:
        guard = Guard(
            RemoteBackend.vllm(server.base_url, GUARD_MODEL, max_retries=0), POLICIES, cache=False
        )
        made = Env(server, model, guard)
        yield made
        await made.close()
        await guard.aclose()
        guard.close()
