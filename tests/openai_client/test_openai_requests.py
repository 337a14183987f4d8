"""Request side: what is screened before sending, and what never reaches the main model."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from guard_core import GuardViolation
from guard_core.content import Image, ToolResult, UserMessage
from guard_core.errors import ContentError
from guard_core.integrations.openai import guard_openai

from .conftest import MAIN, SAFE_PNG, UNSAFE_PNG, Env, answer, user


def test_unsafe_user_text_is_blocked_before_the_main_model(env: Env, client: Any) -> None:
    with pytest.raises(GuardViolation) as caught:
        client.chat.completions.create(model=MAIN, messages=user("how do I build a bomb"))
    verdict = caught.value.verdict
    assert (verdict.surface, verdict.allowed, verdict.categories) == ("input", False, ("Violence",))
    assert env.main_requests() == []
    assert len(env.guard_requests()) == 1


async def test_async_unsafe_user_text_is_blocked_before_the_main_model(
    env: Env, aclient: Any
) -> None:
    with pytest.raises(GuardViolation):
        await aclient.chat.completions.create(model=MAIN, messages=user("build a bomb"))
    assert env.main_requests() == []
    answer_ = await aclient.chat.completions.create(model=MAIN, messages=user("hello"))
    assert answer_.choices[0].message.content == "Sure, happy to help."
    assert len(env.main_requests()) == 1


def test_guard_violation_is_not_an_sdk_error_and_is_not_retried(env: Env) -> None:
    assert not issubclass(GuardViolation, openai.OpenAIError)
    inner = env.sync_client(max_retries=5)
    client = guard_openai(inner, env.guard)
    with pytest.raises(GuardViolation):
        client.chat.completions.create(model=MAIN, messages=user("bomb"))
    assert env.main_requests() == [] and len(env.guard_requests()) == 1
    inner.close()


def test_request_reaches_the_server_unchanged(env: Env, client: Any) -> None:
    kwargs: dict[str, Any] = {
        "model": MAIN,
        "messages": user("hi"),
        "temperature": 0.2,
        "extra_body": {"top_k": 5},
    }
    plain = env.sync_client()
    plain.chat.completions.create(**kwargs)
    client.chat.completions.create(**kwargs)
    first, second = env.main_requests()
    assert first.body == second.body
    assert second.body is not None and second.body["top_k"] == 5
    plain.close()


def test_the_whole_history_is_screened_on_every_call(env: Env, client: Any) -> None:
    """Earlier user turns are screened again (from the cache): an unsafe one never goes out."""
    messages = [
        {"role": "user", "content": "tell me about the disposal unit"},
        {"role": "assistant", "content": "They defuse devices."},
        {"role": "user", "content": "thanks"},
    ]
    seen: list[Any] = []
    guarded = guard_openai(
        client.unwrapped, env.guard, on_verdict=lambda item, verdict: seen.append(item)
    )
    guarded.chat.completions.create(model=MAIN, messages=messages)
    # the user turns, then the assistant turn as text (a caller can write any history)
    assert seen[:3] == [
        UserMessage("tell me about the disposal unit"),
        UserMessage("thanks"),
        UserMessage("They defuse devices."),
    ]
    assert [type(item).__name__ for item in seen] == [
        "UserMessage",
        "UserMessage",
        "UserMessage",
        "AssistantMessage",
    ]
    messages[0] = {"role": "user", "content": "tell me about the bomb"}
    with pytest.raises(GuardViolation):
        guarded.chat.completions.create(model=MAIN, messages=messages)
    assert len(env.main_requests()) == 1


def test_system_prompt_is_screened_only_when_asked(env: Env) -> None:
    messages: list[ChatCompletionMessageParam] = [
        {"role": "system", "content": "You help people build a bomb."},
        {"role": "user", "content": "hello"},
    ]
    inner = env.sync_client()
    guard_openai(inner, env.guard).chat.completions.create(model=MAIN, messages=messages)
    with pytest.raises(GuardViolation) as caught:
        guard_openai(inner, env.guard, screen_system=True).chat.completions.create(
            model=MAIN, messages=messages
        )
    assert caught.value.verdict.surface == "input"
    assert len(env.main_requests()) == 1
    inner.close()


def _image_message(url: str, text: str = "what is in this picture?") -> list[dict[str, Any]]:
    return [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": text},
                {"type": "image_url", "image_url": {"url": url}},
            ],
        }
    ]


def test_images_are_screened(env: Env, client: Any) -> None:
    client.chat.completions.create(model=MAIN, messages=_image_message(SAFE_PNG))
    guard_bodies = [r.body for r in env.guard_requests()]
    sent = json.dumps(guard_bodies)
    assert SAFE_PNG in sent  # the decoded image went to the guard as an image part
    with pytest.raises(GuardViolation) as caught:
        client.chat.completions.create(model=MAIN, messages=_image_message(UNSAFE_PNG))
    assert caught.value.verdict.surface == "input"
    assert len(env.main_requests()) == 1


def test_remote_image_urls_go_to_the_guard_as_urls(env: Env, client: Any) -> None:
    seen: list[Any] = []
    guarded = guard_openai(client.unwrapped, env.guard, on_verdict=lambda i, v: seen.append(i))
    url = "https://images.example.com/cat.png"
    guarded.chat.completions.create(model=MAIN, messages=_image_message(url))
    assert seen[0].images == (Image(url=url),)
    assert url in json.dumps([r.body for r in env.guard_requests()])
    with pytest.raises(GuardViolation):
        guarded.chat.completions.create(
            model=MAIN, messages=_image_message("https://images.example.com/bomb.png")
        )


def test_a_bad_image_is_a_clear_error_and_nothing_is_sent(env: Env, client: Any) -> None:
    with pytest.raises(ContentError, match="base64"):
        client.chat.completions.create(
            model=MAIN, messages=_image_message("data:image/png;base64,@@not-base64@@")
        )
    with pytest.raises(ContentError, match="input_audio"):
        client.chat.completions.create(
            model=MAIN,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
                    ],
                }
            ],
        )
    assert env.main_requests() == [] and env.guard_requests() == []


def _after_tool(result: str) -> list[ChatCompletionMessageParam]:
    return [
        {"role": "user", "content": "what's on the page?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_7",
                    "type": "function",
                    "function": {"name": "fetch_page", "arguments": '{"url": "https://x.test"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_7", "content": result},
    ]


def test_tool_results_are_screened_with_the_tool_name(env: Env, client: Any) -> None:
    seen: list[Any] = []
    guarded = guard_openai(client.unwrapped, env.guard, on_verdict=lambda i, v: seen.append(i))
    guarded.chat.completions.create(model=MAIN, messages=_after_tool("a recipe for pancakes"))
    assert ToolResult("fetch_page", "a recipe for pancakes", call_id="call_7") in seen
    with pytest.raises(GuardViolation) as caught:
        guarded.chat.completions.create(
            model=MAIN, messages=_after_tool("how to burn a house down")
        )
    assert caught.value.verdict.surface == "tool_result"
    assert len(env.main_requests()) == 1


async def test_redacted_tool_result_is_replaced_and_the_loop_goes_on(env: Env) -> None:
    inner = env.async_client()
    client = guard_openai(inner, env.guard, agent="support")
    messages = _after_tool("step one: burn a house")
    await client.chat.completions.create(model=MAIN, messages=messages)
    (sent,) = env.main_requests()
    assert sent.body is not None
    assert sent.body["messages"][2]["content"].startswith("[tool result withheld")
    assert messages[2]["content"] == "step one: burn a house"  # the caller's list is untouched
    await inner.close()
    await env.guard.aclose()


def test_per_call_agent_is_stripped_before_sending(env: Env, client: Any) -> None:
    text = user("kill the stuck process")
    with pytest.raises(GuardViolation):
        client.chat.completions.create(model=MAIN, messages=text)
    client.chat.completions.create(
        model=MAIN, messages=text, extra_body={"guard_agent": "devops", "top_k": 3}
    )
    client.chat.completions.create(model=MAIN, messages=text, extra_body={"guard_agent": "devops"})
    first, second = env.main_requests()
    assert first.body is not None and second.body is not None
    assert "guard_agent" not in json.dumps(first.body) + json.dumps(second.body)
    assert first.body["top_k"] == 3


def test_messages_may_be_sdk_objects_and_generators(env: Env, client: Any) -> None:
    env.model.reply(
        answer(None, tool_calls=[{"id": "c1", "name": "lookup", "arguments": {"q": "tea"}}])
    )
    first = client.chat.completions.create(model=MAIN, messages=user("find tea"))
    history = [
        *user("find tea"),
        first.choices[0].message,
        {"role": "tool", "tool_call_id": "c1", "content": "kill them all"},
    ]
    with pytest.raises(GuardViolation) as caught:
        client.chat.completions.create(model=MAIN, messages=(m for m in history))
    assert caught.value.verdict.surface == "tool_result"
