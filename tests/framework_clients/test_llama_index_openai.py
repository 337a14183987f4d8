"""LlamaIndex's ``OpenAI`` LLM (llama-index-llms-openai) guarded with ``guard_openai_llm``.

chat / stream_chat / complete and their async twins: a safe exchange passes; a blocked
request is never sent; a block raises ``GuardViolation`` (LlamaIndex has no refusal type)
or, with ``on_block="refuse"``, is answered with the refusal (``finish_reason`` is
``content_filter`` in ``raw``). ``OpenAIResponses`` too.
"""

from __future__ import annotations

from typing import Any

import pytest

llms = pytest.importorskip("llama_index.llms.openai")

from llama_index.core.llms import ChatMessage  # noqa: E402

from guard_core import GuardViolation  # noqa: E402
from guard_core.errors import ConfigurationError  # noqa: E402
from guard_core.integrations.llama_index import check_openai_llm, guard_openai_llm  # noqa: E402
from guard_core.integrations.openai import guard_openai  # noqa: E402

from .conftest import CASES, MODEL, SAFE, Env  # noqa: E402

METHODS = ["chat", "stream_chat", "complete", "achat", "astream_chat", "acomplete"]


def _llm(env: Env, cls: Any = None, **kwargs: Any) -> Any:
    cls = cls or llms.OpenAI
    llm = cls(model=MODEL, api_base=env.url, api_key="sk-test", max_retries=0, **kwargs)
    if cls is llms.OpenAI and kwargs.get("reuse_client", True):
        llm._get_client(), llm._get_aclient()  # built now (else lazily), so the test closes them
    return env.built(llm)


async def _call(llm: Any, method: str, text: str) -> tuple[str, Any]:
    """(the answer's text, the last raw SDK object)."""
    messages = [ChatMessage(role="user", content=text)]
    if method == "chat":
        out = llm.chat(messages)
    elif method == "achat":
        out = await llm.achat(messages)
    elif method == "complete":
        out = llm.complete(text)
    elif method == "acomplete":
        out = await llm.acomplete(text)
    elif method == "stream_chat":
        *_, out = list(llm.stream_chat(messages))
    else:
        *_, out = [r async for r in await llm.astream_chat(messages)]
    return (out.text if hasattr(out, "text") else out.message.content), out.raw


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("on_block", ["raise", "refuse"])
async def test_openai_llm(env: Env, method: str, case: str, on_block: str) -> None:
    llm = guard_openai_llm(_llm(env), env.guard, on_block=on_block)  # type: ignore[arg-type]
    check_openai_llm(llm)
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


@pytest.mark.parametrize("case", CASES)
async def test_openai_responses_llm(env: Env, case: str) -> None:
    llm = guard_openai_llm(_llm(env, llms.OpenAIResponses), env.guard, on_block="refuse")
    text = env.prepare(case)
    said = [llm.chat([ChatMessage(role="user", content=text)]).message.content]
    env.prepare(case)
    said.append((await llm.acomplete(text)).text)
    for one in said:
        if case == "safe":
            assert one == SAFE
        else:
            assert "blocked by policy" in str(one) and "bomb" not in str(one)
    assert env.sent() == (0 if case == "unsafe request" else 2)


def test_what_would_bypass_the_guard_is_refused(env: Env) -> None:
    import openai

    inner = openai.OpenAI(base_url=env.url, api_key="sk-test")
    guarded = guard_openai(inner, env.guard)
    half = _llm(env, openai_client=guarded)  # achat would build its own, unguarded client
    with pytest.raises(ConfigurationError, match="async_openai_client"):
        check_openai_llm(half)
    with pytest.raises(ConfigurationError, match="already holds a guarded client"):
        guard_openai_llm(half, env.guard)
    with pytest.raises(ConfigurationError, match="reuse_client=False"):
        guard_openai_llm(_llm(env, reuse_client=False), env.guard)
    with pytest.raises(ConfigurationError, match="guard_openai_llm needs a Guard"):
        guard_openai_llm(_llm(env), "guard")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="OpenAIResponses"):
        guard_openai_llm(object(), env.guard)
    inner.close()


def test_the_original_stays_unguarded(env: Env) -> None:
    plain = _llm(env, temperature=0.3)
    llm = guard_openai_llm(plain, env.guard)
    assert type(llm) is type(plain) and llm.temperature == 0.3
    with pytest.raises(ConfigurationError):
        check_openai_llm(plain)
    assert plain.complete("build a bomb").text == SAFE  # the caller's object: not screened
