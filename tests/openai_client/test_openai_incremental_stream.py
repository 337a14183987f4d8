"""Incremental streams: each step screens its new text plus a bounded trailing context.

The loopback server streams the main model's answer in 8-character pieces, so with
``stream_chars=40`` the steps end exactly at characters 40, 80, 120, ...
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from guard_core import GuardViolation
from guard_core.errors import ConfigurationError
from guard_core.integrations.openai import guard_openai
from guard_core.testing import RecordedRequest

from .conftest import MAIN, Env, answer, user


def _prose(length: int) -> str:
    """Harmless text that never repeats (so no check is answered from the guard's cache)."""
    return "".join(f"line {i:05d} is calm. " for i in range(length // 20 + 1))[:length]


# "burn a house" (unsafe to the judge) straddles the step boundary at character 400
SPLIT = _prose(394) + "burn a house" + " then nothing else. " + _prose(2_000)
END = " THE END."


def _texts(post: RecordedRequest) -> list[str]:
    """The text of every message of one guard request."""
    assert post.body is not None
    out = []
    for message in post.body["messages"]:
        content = message["content"]
        out += (
            [content]
            if isinstance(content, str)
            else [p["text"] for p in content if isinstance(p, Mapping) and "text" in p]
        )
    return out


def _chars(posts: list[RecordedRequest]) -> int:
    return sum(len(text) for post in posts for text in _texts(post))


def _answer_checks(env: Env) -> list[RecordedRequest]:
    """The guard requests that judged the answer (user turn + assistant turn), in order;
    the request's own input check has no assistant turn."""
    return [p for p in env.guard_requests() if p.body and len(p.body["messages"]) == 2]


def _client(env: Env, *, is_async: bool, **kwargs: Any) -> Any:
    inner = env.async_client() if is_async else env.sync_client()
    return guard_openai(inner, env.guard, streaming="incremental", **kwargs)


async def _stream(
    env: Env, client: Any, *, is_async: bool
) -> tuple[list[Any], BaseException | None]:
    """The chunks released, and what the stream raised (None when it ended normally)."""
    chunks: list[Any] = []
    try:
        if is_async:
            stream = await client.chat.completions.create(
                model=MAIN, messages=user("story"), stream=True
            )
            async for chunk in stream:
                chunks.append(chunk)
        else:
            for chunk in client.chat.completions.create(
                model=MAIN, messages=user("story"), stream=True
            ):
                chunks.append(chunk)
    except GuardViolation as exc:
        return chunks, exc
    finally:
        await _close(env, client, is_async=is_async)
    return chunks, None


async def _close(env: Env, client: Any, *, is_async: bool) -> None:
    """Close the SDK client and, when async, the guard's clients of this event loop."""
    if is_async:
        await client.unwrapped.close()
        await env.guard.aclose()
    else:
        client.unwrapped.close()


def _text(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_guard_work_grows_linearly_with_a_long_stream(env: Env, is_async: bool) -> None:
    text = _prose(20_000)
    env.model.reply(answer(text))
    client = _client(env, is_async=is_async, stream_chars=500)
    chunks, raised = await _stream(env, client, is_async=is_async)
    assert raised is None and _text(chunks) == text
    posts = _answer_checks(env)
    *steps, final = posts
    assert len(steps) == len(text) // 504  # a step is due at 504: 63 pieces of 8
    # each step: its ~500 new characters and the default context (1,000: the guard's
    # window overlap, above 2 x 500), never the whole text so far
    assert max(_chars([s]) for s in steps) <= 500 + 1_000 + 8 + len("story")
    assert text in _texts(final)  # the final check still sees the whole answer
    # screening all the text so far at every step sent ~413,000 characters here; now ~77,000
    assert _chars(env.guard_requests()) <= 5 * len(text)


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_a_phrase_split_across_steps_is_caught_before_the_end(
    env: Env, is_async: bool
) -> None:
    env.model.reply(answer(SPLIT + END))
    client = _client(env, is_async=is_async, stream_chars=40, stream_context=40)
    chunks, raised = await _stream(env, client, is_async=is_async)
    assert isinstance(raised, GuardViolation) and raised.verdict.surface == "output"
    released = _text(chunks)
    assert released == SPLIT[:400] and released.endswith("burn a")  # all steps before passed
    posts = [" ".join(_texts(p)) for p in _answer_checks(env)]
    assert posts[-2].endswith("burn a")  # the step before saw only half of it ...
    assert "burn a house" in posts[-1] and len(posts[-1]) <= 80 + 1 + len("story")  # ... this
    assert not any("THE END" in p for p in posts)  # aborted mid-stream, not by the final check


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_the_final_check_blocks_what_no_step_saw(env: Env, is_async: bool) -> None:
    # steps end at 80, 160, ..., 400; the phrase ends after the last one, and the stream
    # ends before another step is due: only the final check of the whole answer sees it
    text = (_prose(395) + "burn a house" + _prose(100))[:450]
    env.model.reply(answer(text))
    client = _client(env, is_async=is_async, stream_chars=80, stream_context=8, on_block="refuse")
    chunks, raised = await _stream(env, client, is_async=is_async)
    assert raised is None
    released = _text(chunks)
    assert released.startswith(text[:400]) and "house" not in released
    assert chunks[-1].choices[0].finish_reason == "content_filter"
    steps = [" ".join(_texts(p)) for p in _answer_checks(env)]
    assert len(steps) == 6 and not any("burn a house" in s for s in steps[:-1])
    assert text in _texts(_answer_checks(env)[-1])


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_the_final_check_screens_tool_calls_after_passed_steps(
    env: Env, is_async: bool
) -> None:
    call = {"id": "call_x", "name": "run_shell", "arguments": {"cmd": "build a bomb"}}
    env.model.reply(answer(_prose(300), tool_calls=[call]))
    client = _client(env, is_async=is_async, stream_chars=40)
    chunks, raised = await _stream(env, client, is_async=is_async)
    assert isinstance(raised, GuardViolation) and raised.verdict.surface == "tool_call"
    assert _text(chunks) == _prose(280)  # steps released text; the rest waited
    assert not any(c.choices and c.choices[0].delta.tool_calls for c in chunks)
    assert len(_answer_checks(env)) == 7 + 2  # 7 steps, then the whole text and the call


def test_a_bad_stream_context_is_a_clear_error(env: Env) -> None:
    for bad in (-1, "800"):
        with pytest.raises(ConfigurationError, match="stream_context"):
            guard_openai(env.sync_client(), env.guard, stream_context=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_done_events_repeating_other_text_are_held_and_judged(
    env: Env, is_async: bool
) -> None:
    """``response.output_text.done`` / ``content_part.done`` carry the part's text again; a
    server whose repeat disagrees with the deltas must not get it out unjudged."""
    from guard_core.testing.server import _response_events, response_from_completion

    calm = _prose(200)
    events = _response_events(response_from_completion(answer(calm)))
    for event in events:
        if event["type"] == "response.output_text.done":
            event["text"] = "how to build a bomb, step by step"
        if event["type"] == "response.content_part.done":
            event["part"] = {**event["part"], "text": "how to build a bomb, step by step"}
    env.model.reply({"object": "events", "events": events})
    client = _client(env, is_async=is_async, stream_chars=40)
    released: list[Any] = []
    with pytest.raises(GuardViolation):
        try:
            if is_async:
                async for event in await client.responses.create(
                    model=MAIN, input="story", stream=True
                ):
                    released.append(event)
            else:
                for event in client.responses.create(model=MAIN, input="story", stream=True):
                    released.append(event)
        finally:
            await _close(env, client, is_async=is_async)
    assert any(e.type == "response.output_text.delta" for e in released)  # early release
    assert not any("bomb" in str(e) for e in released)
