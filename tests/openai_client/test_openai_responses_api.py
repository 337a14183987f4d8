"""The Responses API: input items, function calls and outputs, streams, refusals."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from openai.types.responses import Response, ResponseInputParam, ResponseOutputMessage

from guard_core import GuardViolation
from guard_core.content import Image, ToolResult, UserMessage
from guard_core.errors import ConfigurationError, ContentError
from guard_core.integrations.openai import guard_openai

from .conftest import MAIN, UNSAFE_PNG, Env, answer

CALL = [{"id": "call_w", "name": "get_weather", "arguments": {"city": "Oslo"}}]
UNSAFE_CALL = [{"id": "call_x", "name": "run_shell", "arguments": {"cmd": "make a bomb"}}]


def test_safe_response_is_unchanged(env: Env, client: Any) -> None:
    env.model.reply(answer("Cloudy.", tool_calls=CALL), answer("Cloudy.", tool_calls=CALL))
    plain = env.sync_client()
    expected = plain.responses.create(model=MAIN, input="weather in Oslo?")
    got = client.responses.create(model=MAIN, input="weather in Oslo?")
    assert type(got) is Response and got.model_dump() == expected.model_dump()
    first, second = env.main_requests("/responses")
    assert first.body == second.body
    plain.close()


def test_unsafe_input_never_reaches_the_model(env: Env, client: Any) -> None:
    with pytest.raises(GuardViolation):
        client.responses.create(model=MAIN, input="how to build a bomb")
    with pytest.raises(GuardViolation):
        client.responses.create(
            model=MAIN,
            input=[
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "describe it"},
                        {"type": "input_image", "image_url": UNSAFE_PNG},
                    ],
                }
            ],
        )
    assert env.main_requests() == []


def test_function_call_and_output_items_are_screened(env: Env) -> None:
    seen: list[Any] = []
    inner = env.sync_client()
    client = guard_openai(inner, env.guard, on_verdict=lambda item, v: seen.append(item))
    env.model.reply(answer(None, tool_calls=UNSAFE_CALL))
    with pytest.raises(GuardViolation) as caught:
        client.responses.create(model=MAIN, input="tidy the server")
    assert caught.value.verdict.surface == "tool_call"
    history: ResponseInputParam = [
        {"role": "user", "content": "weather?"},
        {
            "type": "function_call",
            "call_id": "call_w",
            "name": "get_weather",
            "arguments": '{"city": "Oslo"}',
        },
        {
            "type": "function_call_output",
            "call_id": "call_w",
            "output": [
                {"type": "input_text", "text": "cloudy"},
                {"type": "input_image", "image_url": "https://maps.example.com/oslo.png"},
            ],
        },
    ]
    seen.clear()
    client.responses.create(model=MAIN, input=history, instructions="be brief")
    assert seen[:3] == [
        UserMessage("weather?"),
        ToolResult("get_weather", "cloudy", call_id="call_w"),
        Image(url="https://maps.example.com/oslo.png"),
    ]
    history[2] = {
        "type": "function_call_output",
        "call_id": "call_w",
        "output": "kill everyone in Oslo",
    }
    with pytest.raises(GuardViolation) as caught:
        client.responses.create(model=MAIN, input=history)
    assert caught.value.verdict.surface == "tool_result"
    inner.close()


def test_instructions_are_screened_only_when_asked(env: Env) -> None:
    inner = env.sync_client()
    seen: list[Any] = []
    client = guard_openai(
        inner, env.guard, screen_system=True, on_verdict=lambda item, v: seen.append(item)
    )
    client.responses.create(model=MAIN, input="hi", instructions="be kind")
    assert seen[:2] == [UserMessage("be kind"), UserMessage("hi")]
    with pytest.raises(GuardViolation):
        client.responses.create(model=MAIN, input="hi", instructions="explain the bomb")
    inner.close()


def test_refused_response_is_a_refusal_message(env: Env) -> None:
    """The shape the API gives a model's own refusal (what frameworks treat as one): a
    completed response whose message carries the text as output_text and as a refusal."""
    inner = env.sync_client()
    client = guard_openai(inner, env.guard, on_block="refuse")
    before = client.responses.create(model=MAIN, input="bomb")
    env.model.reply(answer(None, tool_calls=UNSAFE_CALL))
    after = client.responses.create(model=MAIN, input="go")
    for refused in (before, after):
        assert type(refused) is Response
        assert refused.status == "completed" and refused.incomplete_details is None
        assert "blocked" in refused.output_text
        [message] = refused.output
        assert message.type == "message"
        assert [part.type for part in message.content] == ["output_text", "refusal"]
        assert message.content[1].refusal == refused.output_text  # type: ignore[union-attr]
    # its own id (the server stored the blocked answer under "resp_test"); usage is kept
    assert after.id.startswith("resp-guard-") and after.usage is not None
    inner.close()


@pytest.mark.parametrize("stream", [False, True])
def test_a_refusal_cannot_be_chained_as_previous_response(env: Env, stream: bool) -> None:
    """previous_response_id = the blocked answer's id would put its output back in the
    model's context: the refusal carries another id, and chaining from that is refused
    before anything is sent."""
    inner = env.sync_client()
    client = guard_openai(inner, env.guard, on_block="refuse")
    env.model.reply(answer(None, tool_calls=UNSAFE_CALL))
    refused = client.responses.create(model=MAIN, input="go")
    message = refused.output[0]
    assert isinstance(message, ResponseOutputMessage)
    assert message.content[1].type == "refusal" and refused.id != "resp_test"
    sent = len(env.main_requests())
    with pytest.raises(ContentError, match="refusal made by the guard"):
        client.responses.create(
            model=MAIN, input="and then?", stream=stream, previous_response_id=refused.id
        )
    assert len(env.main_requests()) == sent
    inner.close()


def test_response_streams(env: Env, client: Any) -> None:
    stream = client.responses.create(model=MAIN, input="hi", stream=True)
    assert isinstance(stream, openai.Stream)
    events = list(stream)
    assert events[-1].type == "response.completed"
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == (
        "Sure, happy to help."
    )
    env.model.reply(answer("Sure.", tool_calls=UNSAFE_CALL))
    released = []
    with pytest.raises(GuardViolation):
        for event in client.responses.create(model=MAIN, input="go", stream=True):
            released.append(event)
    assert released == []


async def test_async_response_stream_refusal(env: Env) -> None:
    inner = env.async_client()
    client = guard_openai(inner, env.guard, on_block="refuse")
    env.model.reply(answer("Sure.", tool_calls=UNSAFE_CALL))
    stream = await client.responses.create(model=MAIN, input="go", stream=True)
    assert isinstance(stream, openai.AsyncStream)
    events = [event async for event in stream]
    assert events[0].type == "response.created"
    assert events[-1].type == "response.completed"
    assert "blocked" in events[-1].response.output_text
    refusal = "".join(e.delta for e in events if e.type == "response.refusal.delta")
    assert refusal == events[-1].response.output_text
    assert not any(e.type.startswith("response.function_call") for e in events)
    await inner.close()
    await env.guard.aclose()


def test_responses_stream_helper_and_incremental_mode(env: Env, client: Any) -> None:
    with client.responses.stream(model=MAIN, input="hi") as stream:
        for _ in stream:
            pass
        assert stream.get_final_response().output_text == "Sure, happy to help."
    with pytest.raises(ConfigurationError, match="response_id"):
        client.responses.stream(response_id="resp_123")
    incremental = guard_openai(
        client.unwrapped, env.guard, streaming="incremental", stream_chars=16
    )
    env.model.reply(answer("A quiet tale of rivers, then they built a bomb at dawn."))
    released: list[str] = []
    with pytest.raises(GuardViolation):
        for event in incremental.responses.create(model=MAIN, input="story", stream=True):
            if event.type == "response.output_text.delta":
                released.append(event.delta)
    assert "".join(released).startswith("A quiet tale") and "bomb" not in "".join(released)


def test_a_refused_stream_that_released_text_is_cut_off(env: Env) -> None:
    """Incremental text already left: the stream can only end, incomplete, under its own id
    (so the SDK's stream helper accepts it); the blocked id stays unchainable."""
    inner = env.sync_client()
    client = guard_openai(
        inner, env.guard, on_block="refuse", streaming="incremental", stream_chars=16
    )
    env.model.reply(answer("A quiet tale of rivers, then they built a bomb at dawn."))
    with client.responses.stream(model=MAIN, input="story") as stream:
        events = list(stream)
    first, final = events[0], events[-1]
    assert first.type == "response.created"
    assert final.type == "response.incomplete" and final.response.id == first.response.id
    details = final.response.incomplete_details
    assert details is not None and details.reason == "content_filter"
    assert "bomb" not in "".join(e.delta for e in events if e.type == "response.output_text.delta")
    with pytest.raises(ContentError, match="blocked"):
        client.responses.create(model=MAIN, input="go on", previous_response_id=final.response.id)
    inner.close()


async def test_async_responses_create_and_parse(env: Env, aclient: Any) -> None:
    from pydantic import BaseModel

    class City(BaseModel):
        name: str

    env.model.reply(answer('{"name": "Oslo"}'))
    parsed = await aclient.responses.parse(model=MAIN, input="a city", text_format=City)
    assert parsed.output_parsed == City(name="Oslo")
    with pytest.raises(GuardViolation):
        await aclient.responses.create(model=MAIN, input="bomb")


def test_every_output_item_but_reasoning_is_screened_as_a_call() -> None:
    """An MCP approval request (and any kind newer than this code) is judged, never skipped."""
    from types import SimpleNamespace

    from openai.types.responses.response_output_item import McpApprovalRequest

    from guard_core.content import ToolCall
    from guard_core.integrations.openai._convert import responses_response

    request = McpApprovalRequest(
        id="a1",
        type="mcp_approval_request",
        server_label="ops",
        name="run",
        arguments='{"cmd": "build a bomb"}',
    )
    [entry], covered = responses_response(SimpleNamespace(output=[request]), None)
    assert '{"cmd": "build a bomb"}' in covered
    assert isinstance(entry, ToolCall) and "bomb" in entry.arguments_json
    assert entry.name == "mcp_approval_request:run"


def test_a_computer_screenshot_is_screened_as_an_image() -> None:
    from guard_core.integrations.openai._request import responses_request

    shot = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
    slots, _ = responses_request(
        {
            "input": [
                {
                    "type": "computer_call_output",
                    "call_id": "c1",
                    "output": {"type": "computer_screenshot", "image_url": shot},
                }
            ]
        },
        screen_system=False,
    )
    assert [type(slot.entry).__name__ for slot in slots] == ["Image"]
