"""GuardRunnable incremental streams: each check screens its new text plus a bounded
trailing context, against the loopback guard server (real HTTP), sync and async.

The scripted models below stream 8-character chunks, so with ``stream_chars=40`` the
checks end exactly at characters 40, 80, 120, ...
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.runnables import Runnable, RunnableGenerator

from guard_core import Guard, GuardViolation, Policy, PolicySet
from guard_core.errors import ConfigurationError, ContentError
from guard_core.integrations.langchain import GuardRunnable
from guard_core.testing import OpenAICompatServer


def _prose(length: int) -> str:
    """Harmless text that never repeats (so no check is answered from the guard's cache)."""
    return "".join(f"line {i:05d} is calm. " for i in range(length // 20 + 1))[:length]


# "burn a house" (unsafe to the judge) straddles the check boundary at character 400
SPLIT = _prose(394) + "burn a house" + " then nothing else. " + _prose(2_000)
END = " THE END."

MakeGuard = Callable[[Policy | PolicySet], Guard]


def _pieces(text: str, *extra: AIMessageChunk) -> Runnable[Any, Any]:
    """A streaming model (sync and async): ``text`` in 8-character chunks, then ``extra``."""
    chunks = [AIMessageChunk(content=text[i : i + 8]) for i in range(0, len(text), 8)] + list(extra)

    def model(_: Iterator[Any]) -> Iterator[AIMessageChunk]:
        yield from chunks

    async def amodel(_: AsyncIterator[Any]) -> AsyncIterator[AIMessageChunk]:
        for chunk in chunks:
            yield chunk

    return RunnableGenerator(model, amodel)


def _answer_texts(server: OpenAICompatServer, since: int) -> list[str]:
    """The assistant turn of each guard request made since ``since`` posts, in order."""
    out = []
    for post in server.posts()[since:]:
        assert post.body is not None
        *_, last = post.body["messages"]
        assert last["role"] == "assistant"
        out.append(last["content"])
    return out


async def _collect(
    chain: Runnable[Any, Any], guard_out: GuardRunnable, seen: list[Any], *, is_async: bool
) -> None:
    try:
        if is_async:
            async for chunk in chain.astream("go"):
                seen.append(chunk)
        else:
            for chunk in chain.stream("go"):
                seen.append(chunk)
    finally:
        if is_async:
            await guard_out.guard.aclose()


async def _run(
    chain: Runnable[Any, Any], guard_out: GuardRunnable, *, is_async: bool
) -> tuple[list[Any], GuardViolation | None]:
    """The chunks released, and the violation raised (None when the stream ended)."""
    seen: list[Any] = []
    try:
        await _collect(chain, guard_out, seen, is_async=is_async)
    except GuardViolation as exc:
        return seen, exc
    return seen, None


def _text(chunks: list[Any]) -> str:
    return "".join(str(c.content) for c in chunks)


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_guard_work_grows_linearly_with_a_long_stream(
    remote_guard: MakeGuard, server: OpenAICompatServer, is_async: bool
) -> None:
    text = _prose(20_000)
    model = GenericFakeChatModel(messages=iter([AIMessage(text)]))  # streams word by word
    guard_out = GuardRunnable(
        remote_guard(Policy()), surface="output", streaming="incremental", stream_chars=500
    )
    since = len(server.posts())
    chunks, raised = await _run(model | guard_out, guard_out, is_async=is_async)
    assert raised is None and _text(chunks) == text
    *steps, final = _answer_texts(server, since)
    assert len(steps) >= len(text) // 520  # a check per ~500 characters
    # each check: its ~500 new characters (a word may overshoot) and 1,000 of context
    assert max(len(s) for s in steps) <= 500 + 1_000 + 20
    assert final == text  # the final check still sees the whole answer
    # screening all the text so far at every check sent ~410,000 characters; now ~80,000
    assert sum(map(len, [*steps, final])) <= 5 * len(text)
    assert guard_out.stream_context == 1_000  # the guard's window overlap, above 2 x 500


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_a_phrase_split_across_checks_is_caught_before_the_end(
    remote_guard: MakeGuard, server: OpenAICompatServer, is_async: bool
) -> None:
    guard_out = GuardRunnable(
        remote_guard(Policy()),
        surface="output",
        streaming="incremental",
        stream_chars=40,
        stream_context=40,
    )
    since = len(server.posts())
    chunks, raised = await _run(_pieces(SPLIT + END) | guard_out, guard_out, is_async=is_async)
    assert raised is not None and raised.verdict.surface == "output"
    assert _text(chunks) == SPLIT[:400]  # every check before the phrase passed
    checks = _answer_texts(server, since)
    assert checks[-2].endswith("burn a")  # the check before saw only half of it ...
    assert "burn a house" in checks[-1] and len(checks[-1]) == 80  # ... this one, whole
    assert not any("THE END" in c for c in checks)  # aborted mid-stream


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_the_final_check_blocks_what_no_check_saw(
    remote_guard: MakeGuard, server: OpenAICompatServer, is_async: bool
) -> None:
    # checks end at 80, 160, ..., 400; the phrase ends after the last one, and the stream
    # ends before another is due: only the final check of the whole message sees it
    text = (_prose(395) + "burn a house" + _prose(100))[:450]
    guard_out = GuardRunnable(
        remote_guard(Policy()),
        surface="output",
        streaming="incremental",
        stream_chars=80,
        stream_context=8,
    )
    since = len(server.posts())
    chunks, raised = await _run(_pieces(text) | guard_out, guard_out, is_async=is_async)
    assert raised is not None and raised.verdict.surface == "output"
    assert _text(chunks) == text[:400]  # the rest was held for the final check
    *steps, final = _answer_texts(server, since)
    assert len(steps) == 5 and not any("burn a house" in s for s in steps)
    assert final == text


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_the_final_check_screens_a_tool_call_after_passed_checks(
    remote_guard: MakeGuard, server: OpenAICompatServer, is_async: bool
) -> None:
    call = AIMessageChunk(
        content="",
        tool_call_chunks=[
            {"name": "run_shell", "id": "call_0", "args": '{"cmd": "build a bomb"}', "index": 0}
        ],
    )
    guard_out = GuardRunnable(
        remote_guard(Policy()), surface="output", streaming="incremental", stream_chars=40
    )
    since = len(server.posts())
    model = _pieces(_prose(300), call)
    chunks, raised = await _run(model | guard_out, guard_out, is_async=is_async)
    assert raised is not None and raised.verdict.surface == "tool_call"
    assert _text(chunks) == _prose(280)  # checks released text; the rest waited
    assert not any(c.tool_call_chunks for c in chunks)
    checks = _answer_texts(server, since)
    assert len(checks) == 7 + 2  # 7 checks, then the whole text and the call
    assert _prose(300) in checks and any("build a bomb" in c for c in checks[-2:])


def test_a_bad_stream_context_is_a_clear_error(guard: Guard) -> None:
    with pytest.raises(ConfigurationError, match="stream_context"):
        GuardRunnable(guard, surface="output", streaming="incremental", stream_context=-1)
    assert GuardRunnable(guard, stream_chars=800).stream_context == 1_600  # twice the step
    # not an int: refused when built, not a TypeError from the middle of a stream
    for bad in (
        {"stream_context": 2.5},
        {"stream_context": "10"},
        {"stream_chars": 7.5},
        {"stream_chars": "200"},
        {"stream_context": True},
    ):
        with pytest.raises(ConfigurationError, match="must be an int of characters"):
            GuardRunnable(guard, surface="output", streaming="incremental", **bad)


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_chunks_that_do_not_add_up_are_refused_not_judged_by_the_last_alone(
    remote_guard: MakeGuard, server: OpenAICompatServer, is_async: bool
) -> None:
    # An AIMessageChunk and a str do not add up: the final check judged only the last chunk
    # ("ok") and then released the held unsafe chunk, which no check had seen.
    def model(_: Iterator[Any]) -> Iterator[Any]:
        yield AIMessageChunk(content="How to build a bomb: ")
        yield "ok"

    async def amodel(_: AsyncIterator[Any]) -> AsyncIterator[Any]:
        for chunk in model(iter(())):
            yield chunk

    guard_out = GuardRunnable(remote_guard(Policy()), surface="output", streaming="incremental")
    chain = RunnableGenerator(model, amodel) | guard_out
    seen: list[Any] = []
    with pytest.raises(ContentError, match="AIMessageChunk and str"):
        await _collect(chain, guard_out, seen, is_async=is_async)
    assert seen == []

    def odd(_: Iterator[Any]) -> Iterator[Any]:
        yield "fine so far, "
        yield {"cmd": "build a bomb"}

    guard_out = GuardRunnable(remote_guard(Policy()), surface="output", streaming="incremental")
    with pytest.raises(ContentError, match="dict"):
        await _collect(RunnableGenerator(odd) | guard_out, guard_out, seen, is_async=False)
    assert seen == []
