"""Answer side: assistant text and each tool call are screened before the caller sees them."""

from __future__ import annotations

from typing import Any

import pytest
from openai.types.chat import ChatCompletion, ParsedChatCompletion
from pydantic import BaseModel

from guard_core import GuardViolation
from guard_core.content import AssistantMessage, ToolCall, UserMessage
from guard_core.integrations.openai import guard_openai
from guard_core.testing import Fault

from .conftest import MAIN, Env, answer, user

TOOL_CALLS = [
    {"id": "call_a", "name": "get_weather", "arguments": {"city": "Paris"}},
    {"id": "call_b", "name": "run_shell", "arguments": {"cmd": "kill -9 1"}},
]


def test_safe_answer_is_the_sdk_object_unchanged(env: Env, client: Any) -> None:
    reply = answer("It is sunny.", tool_calls=TOOL_CALLS[:1])
    env.model.reply(reply, reply)
    plain = env.sync_client()
    expected = plain.chat.completions.create(model=MAIN, messages=user("weather?"))
    got = client.chat.completions.create(model=MAIN, messages=user("weather?"))
    assert type(got) is ChatCompletion
    assert got.model_dump() == expected.model_dump()
    plain.close()


def test_each_tool_call_is_screened_with_the_user_request_as_context(env: Env) -> None:
    seen: list[Any] = []
    inner = env.sync_client()
    client = guard_openai(inner, env.guard, on_verdict=lambda item, v: seen.append((item, v)))
    env.model.reply(answer(None, tool_calls=TOOL_CALLS))
    with pytest.raises(GuardViolation) as caught:
        client.chat.completions.create(model=MAIN, messages=user("check the weather"))
    assert caught.value.verdict.surface == "tool_call"
    calls = [item for item, _ in seen if isinstance(item, ToolCall)]
    assert [(c.name, c.id, dict(c.arguments)) for c in calls] == [
        ("get_weather", "call_a", {"city": "Paris"}),
        ("run_shell", "call_b", {"cmd": "kill -9 1"}),
    ]
    assert all(c.context == UserMessage("check the weather") for c in calls)
    assert [v.allowed for item, v in seen if isinstance(item, ToolCall)] == [True, False]
    inner.close()


async def test_async_unsafe_tool_call_is_blocked(env: Env, aclient: Any) -> None:
    env.model.reply(answer(None, tool_calls=TOOL_CALLS))
    with pytest.raises(GuardViolation) as caught:
        await aclient.chat.completions.create(model=MAIN, messages=user("check the weather"))
    assert caught.value.verdict.surface == "tool_call"


def test_unsafe_assistant_text_is_blocked(env: Env, client: Any) -> None:
    env.model.reply(answer("Step 1: build the bomb."))
    with pytest.raises(GuardViolation) as caught:
        client.chat.completions.create(model=MAIN, messages=user("tell me a story"))
    assert caught.value.verdict.surface == "output"


def test_tool_arguments_that_are_not_json_block_fail_closed(env: Env) -> None:
    seen: list[Any] = []
    inner = env.sync_client()
    client = guard_openai(inner, env.guard, on_verdict=lambda item, v: seen.append((item, v)))
    env.model.reply(answer(None, tool_calls=[{"name": "lookup", "arguments": "{'q': broken"}]))
    with pytest.raises(GuardViolation) as caught:
        client.chat.completions.create(model=MAIN, messages=user("look it up"))
    verdict = caught.value.verdict
    assert verdict.surface == "tool_call" and verdict.error is not None
    assert "lookup" in verdict.error and "not valid JSON" in verdict.error
    assert seen[-1][0] is None
    inner.close()


def test_refuse_returns_a_completion_of_the_normal_type(env: Env) -> None:
    inner = env.sync_client()
    client = guard_openai(inner, env.guard, on_block="refuse")
    refused = client.chat.completions.create(model=MAIN, messages=user("bomb please"))
    assert type(refused) is ChatCompletion
    choice = refused.choices[0]
    assert choice.finish_reason == "content_filter" and choice.message.tool_calls is None
    assert "blocked" in (choice.message.content or "") and choice.message.refusal
    assert env.main_requests() == []

    env.model.reply(answer(None, tool_calls=TOOL_CALLS))
    refused = client.chat.completions.create(model=MAIN, messages=user("weather"))
    assert refused.id == "chatcmpl-test" and refused.usage is not None  # from the real answer
    assert refused.choices[0].message.tool_calls is None
    assert "tool_call" in (refused.choices[0].message.content or "")
    inner.close()


def test_refusal_text_can_be_customised(env: Env) -> None:
    inner = env.sync_client()
    client = guard_openai(
        inner, env.guard, on_block="refuse", refusal=lambda v: f"no ({', '.join(v.categories)})"
    )
    refused = client.chat.completions.create(model=MAIN, messages=user("bomb"))
    assert refused.choices[0].message.content == "no (Violence)"
    inner.close()


def test_flagged_content_passes_and_is_reported(env: Env) -> None:
    from guard_core import Guard, Policy

    seen: list[Any] = []
    guard = Guard(env.guard.backend, Policy(name="watch", actions={"input": "flag"}))
    inner = env.sync_client()
    client = guard_openai(inner, guard, on_verdict=lambda item, v: seen.append(v))
    client.chat.completions.create(model=MAIN, messages=user("a bomb"))
    assert seen[0].decision == "flag" and len(env.main_requests()) == 1
    inner.close()


def test_guard_failure_blocks_fail_closed(env: Env, client: Any) -> None:
    env.server.inject(Fault(status=400))
    with pytest.raises(GuardViolation) as caught:
        client.chat.completions.create(model=MAIN, messages=user("hello"))
    assert caught.value.verdict.error is not None
    assert env.main_requests() == []


def test_with_options_copies_stay_guarded(env: Env, client: Any) -> None:
    copy = client.with_options(timeout=5, max_retries=0)
    assert copy.timeout == 5 and copy.unwrapped is not client.unwrapped
    with pytest.raises(GuardViolation):
        copy.chat.completions.create(model=MAIN, messages=user("bomb"))
    with pytest.raises(GuardViolation):
        client.copy(max_retries=1).responses.create(model=MAIN, input="bomb")
    assert env.main_requests() == []


class Weather(BaseModel):
    city: str
    sunny: bool


def test_parse_is_screened_and_keeps_its_type(env: Env, client: Any) -> None:
    env.model.reply(answer('{"city": "Paris", "sunny": true}'))
    parsed = client.chat.completions.parse(
        model=MAIN, messages=user("weather"), response_format=Weather
    )
    assert isinstance(parsed, ParsedChatCompletion)
    assert parsed.choices[0].message.parsed == Weather(city="Paris", sunny=True)
    env.model.reply(answer('{"city": "bomb", "sunny": true}'))
    with pytest.raises(GuardViolation):
        client.chat.completions.parse(model=MAIN, messages=user("weather"), response_format=Weather)
    refusing = guard_openai(client.unwrapped, env.guard, on_block="refuse")
    refused = refusing.chat.completions.parse(
        model=MAIN, messages=user("bomb"), response_format=Weather
    )
    assert isinstance(refused, ParsedChatCompletion)
    assert refused.choices[0].message.parsed is None and refused.choices[0].message.refusal


def test_assistant_message_context_is_the_latest_user_text(env: Env) -> None:
    seen: list[Any] = []
    inner = env.sync_client()
    client = guard_openai(inner, env.guard, on_verdict=lambda item, v: seen.append(item))
    client.chat.completions.create(
        model=MAIN,
        messages=[
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "text", "text": "second"}]},
        ],
    )
    assert seen[-1] == AssistantMessage("Sure, happy to help.", context=UserMessage("second"))
    inner.close()
