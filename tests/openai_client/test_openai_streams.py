"""Streams keep the SDK's type; the answer is screened before chunks are released."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from guard_core import GuardViolation
from guard_core.errors import ConfigurationError
from guard_core.integrations.openai import guard_openai

from .conftest import MAIN, Env, answer, user

UNSAFE_CALL = [{"id": "call_x", "name": "run_shell", "arguments": {"cmd": "build a bomb"}}]
LONG_UNSAFE = "Once upon a time " * 30 + "they built a bomb."  # longer than stream_chars


def _chunks(stream: Any) -> list[Any]:
    return [chunk.model_dump() for chunk in stream]


def test_safe_stream_is_an_sdk_stream_with_the_same_chunks(env: Env, client: Any) -> None:
    reply = answer(
        "Here is a calm and friendly answer.",
        tool_calls=[{"id": "c1", "name": "get_time", "arguments": {"tz": "UTC"}}],
    )
    env.model.reply(reply, reply)
    plain = env.sync_client()
    expected = _chunks(plain.chat.completions.create(model=MAIN, messages=user("hi"), stream=True))
    stream = client.chat.completions.create(model=MAIN, messages=user("hi"), stream=True)
    assert isinstance(stream, openai.Stream)
    with stream:
        assert _chunks(stream) == expected
    plain.close()


def test_unsafe_tool_call_blocks_before_any_chunk(env: Env, client: Any) -> None:
    env.model.reply(answer("Sure, running it now.", tool_calls=UNSAFE_CALL))
    stream = client.chat.completions.create(model=MAIN, messages=user("run it"), stream=True)
    released = []
    with pytest.raises(GuardViolation) as caught:
        for chunk in stream:
            released.append(chunk)
    assert released == [] and caught.value.verdict.surface == "tool_call"


async def test_async_stream_safe_and_blocked(env: Env, aclient: Any) -> None:
    reply = answer("All good here, nothing to see.")
    env.model.reply(reply, answer(LONG_UNSAFE))
    stream = await aclient.chat.completions.create(model=MAIN, messages=user("hi"), stream=True)
    assert isinstance(stream, openai.AsyncStream)
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "All good here, nothing to see."
    stream = await aclient.chat.completions.create(model=MAIN, messages=user("hi"), stream=True)
    released = []
    with pytest.raises(GuardViolation):
        async for chunk in stream:
            released.append(chunk)
    assert released == []


async def test_async_blocked_request_stream(env: Env, aclient: Any) -> None:
    with pytest.raises(GuardViolation):
        await aclient.chat.completions.create(model=MAIN, messages=user("bomb"), stream=True)
    assert env.main_requests() == []


def test_refused_streams_are_sdk_streams_with_a_refusal(env: Env) -> None:
    inner = env.sync_client()
    client = guard_openai(inner, env.guard, on_block="refuse")
    before = client.chat.completions.create(model=MAIN, messages=user("bomb"), stream=True)
    assert isinstance(before, openai.Stream) and env.main_requests() == []
    env.model.reply(answer("ok", tool_calls=UNSAFE_CALL))
    after = client.chat.completions.create(model=MAIN, messages=user("go"), stream=True)
    for stream in (before, after):
        chunks = list(stream)
        text = "".join(c.choices[0].delta.content or "" for c in chunks)
        assert "blocked" in text
        assert chunks[-1].choices[0].finish_reason == "content_filter"
        assert not any(c.choices[0].delta.tool_calls for c in chunks)
    inner.close()


def _incremental(env: Env, **kwargs: Any) -> Any:
    return guard_openai(
        env.sync_client(), env.guard, streaming="incremental", stream_chars=40, **kwargs
    )


def test_incremental_mode_releases_early_and_aborts_on_a_block(env: Env) -> None:
    client = _incremental(env)
    env.model.reply(answer(LONG_UNSAFE))
    released: list[str] = []
    with pytest.raises(GuardViolation) as caught:
        for chunk in client.chat.completions.create(
            model=MAIN, messages=user("story"), stream=True
        ):
            released.append(chunk.choices[0].delta.content or "")
    assert caught.value.verdict.surface == "output"
    assert "".join(released).startswith("Once upon a time")  # seen before the block
    assert "bomb" not in "".join(released)
    client.unwrapped.close()


def test_incremental_mode_holds_tool_calls_until_screened(env: Env) -> None:
    client = _incremental(env, on_block="refuse")
    env.model.reply(answer("Running the command for you now, please wait.", tool_calls=UNSAFE_CALL))
    chunks = list(client.chat.completions.create(model=MAIN, messages=user("go"), stream=True))
    assert not any(c.choices[0].delta.tool_calls for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "content_filter"
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text.startswith("Running the command") and "blocked" in text
    client.unwrapped.close()


def test_incremental_safe_stream_is_complete(env: Env) -> None:
    client = _incremental(env)
    env.model.reply(
        answer(
            "A long and entirely harmless answer about gardening tips.",
            tool_calls=[{"id": "c", "name": "water", "arguments": {"l": 2}}],
        )
    )
    chunks = list(client.chat.completions.create(model=MAIN, messages=user("go"), stream=True))
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert any(c.choices[0].delta.tool_calls for c in chunks)
    client.unwrapped.close()


def test_bad_stream_options_are_clear_errors(env: Env) -> None:
    with pytest.raises(ConfigurationError, match="streaming"):
        guard_openai(env.sync_client(), env.guard, streaming="fast")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="stream_chars"):
        guard_openai(env.sync_client(), env.guard, stream_chars=0)


def test_the_sdk_stream_helper_is_screened(env: Env, client: Any) -> None:
    with client.chat.completions.stream(model=MAIN, messages=user("hi")) as stream:
        for _ in stream:
            pass
        assert stream.get_final_completion().choices[0].message.content == "Sure, happy to help."
    env.model.reply(answer(None, tool_calls=UNSAFE_CALL))
    with (
        pytest.raises(GuardViolation),
        client.chat.completions.stream(model=MAIN, messages=user("go")) as stream,
    ):
        for _ in stream:
            pass
    with (
        pytest.raises(GuardViolation),
        client.chat.completions.stream(model=MAIN, messages=user("bomb")),
    ):
        pass
    assert len(env.main_requests()) == 2


async def test_the_async_sdk_stream_helper_is_screened(env: Env, aclient: Any) -> None:
    env.model.reply(answer(None, tool_calls=UNSAFE_CALL))
    with pytest.raises(GuardViolation):
        async with aclient.chat.completions.stream(model=MAIN, messages=user("go")) as stream:
            async for _ in stream:
                pass


def test_a_streamed_audio_transcript_is_screened_before_release(env: Env) -> None:
    body = answer(None)
    body["choices"][0]["message"]["audio"] = {"transcript": "here is how to build a bomb"}
    env.model.reply(body)
    inner = env.sync_client()
    client = guard_openai(inner, env.guard)
    stream = client.chat.completions.create(
        model=MAIN, messages=[{"role": "user", "content": "say something"}], stream=True
    )
    with pytest.raises(GuardViolation):
        list(stream)
    inner.close()


def test_responses_stream_screens_the_delta_text_even_when_the_final_output_is_empty() -> None:
    """What the caller receives is the deltas: they are judged, whatever the final output."""
    from types import SimpleNamespace

    from openai.types.responses import ResponseTextDeltaEvent

    from guard_core import Guard
    from guard_core.integrations.openai._screen import Call, Options
    from guard_core.integrations.openai.streams import gate_for
    from guard_core.testing import ScriptedBackend

    call = Call(
        Guard(ScriptedBackend()),
        Options(),
        "responses",
        {"model": MAIN, "input": "tell me something"},
    )
    gate = gate_for(call)
    gate.add(
        ResponseTextDeltaEvent(
            type="response.output_text.delta",
            delta="build a bomb",
            item_id="m1",
            output_index=0,
            content_index=0,
            logprobs=[],
            sequence_number=1,
        )
    )
    gate.add(SimpleNamespace(type="response.failed", response=SimpleNamespace(output=[])))
    texts = [getattr(e, "text", "") for e in gate.final()]
    assert any("bomb" in t for t in texts)
