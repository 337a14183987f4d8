"""One real loopback server plays the main chat model (scripted) and the guard model."""

from __future__ import annotations

import base64
import copy
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from guard_core import Guard, Policy, PolicySet
from guard_core.backends import RemoteBackend
from guard_core.testing import OpenAICompatServer, RecordedRequest, ScriptedJudge, chat_completion

MAIN = "main-model"
GUARD_MODEL = "nvidia/nemotron-3.5-content-safety"
CREATED = 1_700_000_000
UNSAFE = {"bomb": "Violence", "kill": "Violence", "burn a house": "Criminal Planning/Confessions"}

# An image whose data: URL carries the judge's unsafe word (the judge reads image URLs).
UNSAFE_PNG = (
    "data:image/png;base64,"
    + base64.b64encode(b"\x89PNG\r\n\x1a\n\0" + base64.b64decode("AAAAbombAAAA")).decode()
)
SAFE_PNG = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 9).decode()


def answer(
    content: str | None = None,
    *,
    tool_calls: list[dict[str, Any]] | None = None,
    finish_reason: str | None = None,
) -> dict[str, Any]:
    """A deterministic main-model answer (fixed ``created``, so two runs compare equal)."""
    body = chat_completion(content, tool_calls=tool_calls, model=MAIN, finish_reason=finish_reason)
    body["created"] = CREATED
    return body


@dataclass
class MainModel:
    """The scripted main model: queued answers first, then a friendly default."""

    queue: list[dict[str, Any]] = field(default_factory=list)

    def reply(self, *answers: dict[str, Any]) -> None:
        self.queue.extend(answers)

    def __call__(self, body: dict[str, Any]) -> dict[str, Any]:
        return copy.deepcopy(self.queue.pop(0)) if self.queue else answer("Sure, happy to help.")


@dataclass
class Env:
    server: OpenAICompatServer
    model: MainModel
    guard: Guard

    @property
    def url(self) -> str:
        return self.server.base_url

    def main_requests(self, path: str = "") -> list[RecordedRequest]:
        """Requests that reached the main model (not the guard)."""
        return [
            r
            for r in self.server.requests
            if r.body is not None and r.body.get("model") == MAIN and path in r.path
        ]

    def guard_requests(self) -> list[RecordedRequest]:
        return [
            r
            for r in self.server.requests
            if r.body is not None and r.body.get("model") == GUARD_MODEL
        ]

    def sync_client(self, **kwargs: Any) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url, api_key="sk-test", **kwargs)

    def async_client(self, **kwargs: Any) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=self.url, api_key="sk-test", **kwargs)


POLICIES = PolicySet(
    {
        "devops": Policy(name="devops", mode="categories", exclude_categories={"Violence"}),
        "support": Policy(name="support", actions={"tool_result": "redact"}),
        "lenient": Policy(name="lenient", surfaces={"input", "output"}),
    },
    default=Policy(name="default", mode="categories"),
)


@pytest.fixture
def env() -> Iterator[Env]:
    model = MainModel()
    with OpenAICompatServer(judge=ScriptedJudge(UNSAFE), models={MAIN: model}) as server:
        backend = RemoteBackend.vllm(server.base_url, GUARD_MODEL, max_retries=0)
        guard = Guard(backend, POLICIES, cache=False)
        yield Env(server, model, guard)
        guard.close()


@pytest.fixture
def client(env: Env) -> Iterator[Any]:
    from guard_core.integrations.openai import guard_openai

    inner = env.sync_client()
    yield guard_openai(inner, env.guard)
    inner.close()


@pytest.fixture
async def aclient(env: Env) -> AsyncIterator[Any]:
    from guard_core.integrations.openai import guard_openai

    inner = env.async_client()
    yield guard_openai(inner, env.guard)
    await inner.close()
    await env.guard.aclose()


def user(text: str) -> list[ChatCompletionMessageParam]:
    return [{"role": "user", "content": text}]
