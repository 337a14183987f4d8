"""LlamaIndex's ``OpenAI`` LLM on a model served by the legacy completions API.

LlamaIndex sends every call of a model it does not know as a chat model
(``gpt-3.5-turbo-instruct``, a vLLM model id) to ``client.completions``, chat included
(the messages become one prompt). ``guard_openai`` screens that resource, so
``guard_openai_llm`` takes such a model: a safe exchange passes, a blocked prompt is never
sent, a blocked answer raises ``GuardViolation`` or, with ``on_block="refuse"``, is
answered with the refusal (``finish_reason`` is ``content_filter`` in ``raw``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

llms = pytest.importorskip("llama_index.llms.openai")

from llama_index.core.llms import ChatMessage  # noqa: E402

from guard_core import Guard, GuardViolation  # noqa: E402
from guard_core.backends import RemoteBackend  # noqa: E402
from guard_core.integrations.llama_index import check_openai_llm, guard_openai_llm  # noqa: E402
from guard_core.testing import OpenAICompatServer, ScriptedJudge  # noqa: E402

from .conftest import CASES, GUARD_MODEL, POLICIES, SAFE, Env, MainModel  # noqa: E402

LEGACY = "gpt-3.5-turbo-instruct"  # not a chat model to LlamaIndex: legacy completions
METHODS = [
    "complete",
    "stream_complete",
    "chat",
    "stream_chat",
    "acomplete",
    "astream_complete",
    "achat",
    "astream_chat",
]


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    model = MainModel()
    judge = ScriptedJudge({"bomb": "Violence"})
    with OpenAICompatServer(judge=judge, models={LEGACY: model}) as server:
        guard = Guard(
            RemoteBackend.vllm(server.base_url, GUARD_MODEL, max_retries=0), POLICIES, cache=False
        )
        made = Env(server, model, guard)
        yield made
        await made.close()
        await guard.aclose()
        guard.close()


def _llm(env: Env) -> Any:
    # max_tokens given: LlamaIndex would otherwise count the prompt with tiktoken (a download)
    llm = llms.OpenAI(
        model=LEGACY, api_base=env.url, api_key="sk-test", max_retries=0, max_tokens=64
    )
    llm._get_client(), llm._get_aclient()  # built now (else lazily), so the test closes them
    return env.built(llm)


async def _call(llm: Any, method: str, text: str) -> tuple[str, Any]:
    """(the answer's text, the last raw SDK object)."""
    messages = [ChatMessage(role="user", content=text)]
    if method in ("complete", "chat"):
        out = llm.complete(text) if method == "complete" else llm.chat(messages)
    elif method in ("acomplete", "achat"):
        out = await (llm.acomplete(text) if method == "acomplete" else llm.achat(messages))
    elif method in ("stream_complete", "stream_chat"):
        stream = llm.stream_complete(text) if method == "stream_complete" else None
        *_, out = list(stream if stream is not None else llm.stream_chat(messages))
    elif method == "astream_complete":
        *_, out = [r async for r in await llm.astream_complete(text)]
    else:
        *_, out = [r async for r in await llm.astream_chat(messages)]
    return (out.text if hasattr(out, "text") else out.message.content), out.raw


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("on_block", ["raise", "refuse"])
async def test_legacy_completions_model(env: Env, method: str, case: str, on_block: str) -> None:
    llm = guard_openai_llm(_llm(env), env.guard, on_block=on_block)  # type: ignore[arg-type]
    check_openai_llm(llm)  # nothing it could bypass the guard with
    assert not llm.metadata.is_chat_model
    text = env.prepare(case)
    try:
        said, raw = await _call(llm, method, text)
    except GuardViolation as caught:
        assert on_block == "raise" and case != "safe"
        assert caught.verdict.surface == ("input" if case == "unsafe request" else "output")
    else:
        if case == "safe":
            assert said == SAFE
        else:
            assert on_block == "refuse" and "blocked by policy" in said and "bomb" not in said
            assert raw.choices[-1].finish_reason == "content_filter"
    assert env.sent() == (0 if case == "unsafe request" else 1)
    assert all("prompt" in body for body in env.model.bodies)  # /v1/completions, not chat
    legacy = [r.path for r in env.server.posts("/completions") if (r.body or {})["model"] == LEGACY]
    assert legacy == ["/v1/completions"] * env.sent()
