"""``ChatOpenAI`` (langchain-openai) guarded with ``guard_chat_openai``, end to end.

Every way ChatOpenAI reaches the model (chat completions and, with
``use_responses_api=True``, Responses; invoke / stream, sync and async; with
``include_response_headers=True``, which goes through ``with_raw_response``): a safe
exchange passes; a blocked request is never sent; a block raises ``GuardViolation``
(``on_block="raise"``) or comes back as what ChatOpenAI treats as a refusal.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import BaseModel

langchain_openai = pytest.importorskip("langchain_openai")

from langchain_core.messages import AIMessage, AIMessageChunk  # noqa: E402

from guard_core import GuardViolation  # noqa: E402
from guard_core.errors import ConfigurationError  # noqa: E402
from guard_core.integrations.langchain import check_chat_openai, guard_chat_openai  # noqa: E402
from guard_core.integrations.openai import guard_openai  # noqa: E402

from .conftest import CASES, MODEL, SAFE, Env  # noqa: E402

METHODS = ["invoke", "stream", "ainvoke", "astream"]


def _llm(env: Env, **kwargs: Any) -> Any:
    # Its own HTTP clients: ChatOpenAI's default ones are cached per base URL for the whole
    # process, so closing them here would hand a closed client to a later test whose server
    # got the same port back ("Connection error", 1 run in a few).
    return env.built(
        langchain_openai.ChatOpenAI(
            model=MODEL,
            base_url=env.url,
            api_key="sk-test",
            max_retries=0,
            http_client=httpx.Client(),
            http_async_client=httpx.AsyncClient(),
            **kwargs,
        )
    )


async def _call(llm: Any, method: str, text: str) -> AIMessage:
    if method == "invoke":
        return llm.invoke(text)
    if method == "ainvoke":
        return await llm.ainvoke(text)
    chunks: list[AIMessageChunk] = (
        list(llm.stream(text)) if method == "stream" else [c async for c in llm.astream(text)]
    )
    message = chunks[0]
    for chunk in chunks[1:]:
        message = message + chunk
    return message


def _refusal(message: AIMessage) -> bool:
    """ChatOpenAI's refusal marks: a refusal field or block, a content_filter finish."""
    blocks = message.content if isinstance(message.content, list) else []
    return (
        bool(message.additional_kwargs.get("refusal"))
        or message.response_metadata.get("finish_reason") == "content_filter"
        or any(isinstance(b, dict) and b.get("type") == "refusal" for b in blocks)
    )


@pytest.mark.parametrize("responses_api", [False, True], ids=["chat", "responses"])
@pytest.mark.parametrize("headers", [False, True], ids=["", "headers"])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("on_block", ["raise", "refuse"])
async def test_chat_openai(
    env: Env, responses_api: bool, headers: bool, method: str, case: str, on_block: str
) -> None:
    plain = _llm(env, use_responses_api=responses_api, include_response_headers=headers)
    llm = guard_chat_openai(plain, env.guard, on_block=on_block)  # type: ignore[arg-type]
    check_chat_openai(llm)
    text = env.prepare(case)
    try:
        message = await _call(llm, method, text)
    except GuardViolation as caught:
        assert on_block == "raise" and case != "safe"
        assert caught.verdict.surface == ("input" if case == "unsafe request" else "output")
    else:
        if case == "safe":
            assert message.text == SAFE
            if headers:
                assert "content-type" in message.response_metadata["headers"]
        else:
            assert on_block == "refuse" and _refusal(message)
            assert "blocked by policy" in message.text and "bomb" not in message.text
    assert env.sent() == (0 if case == "unsafe request" else 1)


class Answer(BaseModel):
    text: str


async def test_structured_output_refusal_is_chat_openais_refusal_error(env: Env) -> None:
    llm = guard_chat_openai(_llm(env), env.guard, on_block="refuse")
    with pytest.raises(langchain_openai.chat_models.base.OpenAIRefusalError):
        llm.with_structured_output(Answer, method="json_schema").invoke("build a bomb")
    assert env.sent() == 0


async def test_a_tool_call_is_screened_through_bind_tools(env: Env) -> None:
    from guard_core.testing import chat_completion

    def run_shell(cmd: str) -> str:
        """Run a shell command."""
        return cmd

    env.model.reply(
        chat_completion(
            None,
            tool_calls=[{"id": "c1", "name": "run_shell", "arguments": {"cmd": "make a bomb"}}],
            model=MODEL,
        )
    )
    llm = guard_chat_openai(_llm(env), env.guard).bind_tools([run_shell])
    with pytest.raises(GuardViolation) as caught:
        llm.invoke("tidy the disk")
    assert caught.value.verdict.surface == "tool_call"


def test_a_guarded_client_passed_alone_is_bypassed_and_check_says_so(env: Env) -> None:
    import openai

    inner = openai.OpenAI(base_url=env.url, api_key="sk-test")
    guarded = guard_openai(inner, env.guard)
    bypassed = _llm(env, root_client=guarded)  # langchain-openai builds its own client
    assert bypassed.root_client is not guarded
    with pytest.raises(ConfigurationError, match="client, async_client, root_client"):
        check_chat_openai(bypassed)
    with pytest.raises(ConfigurationError, match="guard_chat_openai"):
        check_chat_openai(_llm(env))
    with pytest.raises(ConfigurationError, match="already holds a guarded client"):
        guard_chat_openai(guard_chat_openai(_llm(env), env.guard), env.guard)
    with pytest.raises(ConfigurationError, match="ChatOpenAI"):
        guard_chat_openai(object(), env.guard)
    with pytest.raises(ConfigurationError, match="on_block"):
        guard_chat_openai(_llm(env), env.guard, on_block="ignore")  # type: ignore[arg-type]
    inner.close()


def test_the_original_stays_unguarded_and_the_copy_is_a_chat_openai(env: Env) -> None:
    plain = _llm(env, temperature=0.2)
    llm = guard_chat_openai(plain, env.guard)
    assert type(llm) is type(plain) and llm.temperature == 0.2
    assert llm.root_client.unwrapped is plain.root_client  # its own client, wrapped
    assert plain.invoke("build a bomb").text == SAFE  # the caller's object: not screened
