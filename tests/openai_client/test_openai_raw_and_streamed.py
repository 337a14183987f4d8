"""``with_raw_response`` and ``with_streaming_response`` behave like the SDK's own, screened.

One matrix, sync and async: both APIs, streamed or not, each way of reaching the resource,
a safe exchange, an unsafe request (never sent) and an unsafe answer, under
``on_block="raise"`` and ``"refuse"``. What the caller can parse is exactly what the guard
judged; the raw HTTP body is withheld (``Withheld``, an ``AttributeError`` too).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import openai
import pytest
from openai._legacy_response import LegacyAPIResponse
from openai.types.responses import Response, ResponseOutputMessage

from guard_core import GuardViolation
from guard_core.errors import ConfigurationError
from guard_core.integrations.openai import guard_openai
from guard_core.integrations.openai._raw import Withheld

from .conftest import MAIN, Env, answer, user

SAFE = "Sure, happy to help."
CASES = ["safe", "unsafe request", "unsafe answer"]
# every way to reach a resource's with_*_response, for each API
PATHS: dict[str, list[Callable[[Any, str], Any]]] = {
    "chat": [
        lambda c, m: getattr(c, m).chat.completions,
        lambda c, m: getattr(c.chat, m).completions,
        lambda c, m: getattr(c.chat.completions, m),
    ],
    "responses": [
        lambda c, m: getattr(c, m).responses,
        lambda c, m: getattr(c.responses, m),
    ],
}
ROUTES = [(api, i) for api, paths in PATHS.items() for i in range(len(paths))]
APIS = [("chat", 0), ("responses", 1)]  # the matrices: one route each (all: below)


def _kwargs(api: str, text: str, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = (
        {"model": MAIN, "messages": user(text)} if api == "chat" else {"model": MAIN, "input": text}
    )
    return {**body, "stream": True} if stream else body


def _said(api: str, pieces: list[Any]) -> str:
    """The text a caller reads from an answer or from the chunks / events of a stream."""
    out = []
    for piece in pieces:
        if api == "chat":
            for choice in piece.choices:
                message = getattr(choice, "message", None) or getattr(choice, "delta", None)
                assert message is not None
                out.append(message.content or "")
        elif isinstance(piece, Response):
            out.append(piece.output_text)
        elif piece.type == "response.output_text.delta":
            out.append(piece.delta)
    return "".join(out)


def _refused(api: str, pieces: list[Any]) -> bool:
    last = pieces[-1]
    if api == "chat":
        return bool(last.choices[-1].finish_reason == "content_filter")
    response = last if isinstance(last, Response) else last.response
    for item in response.output:
        assert isinstance(item, ResponseOutputMessage)
        if any(part.type == "refusal" for part in item.content):
            return True
    return False


def _prepare(env: Env, case: str) -> str:
    if case == "unsafe answer":
        env.model.reply(answer("Here is how to build a bomb."))
    return "bomb" if case == "unsafe request" else "hi"


def _check(env: Env, api: str, case: str, on_block: str, pieces: list[Any] | None) -> None:
    sent = len(env.main_requests())
    assert sent == (0 if case == "unsafe request" else 1)
    if case == "safe":
        assert pieces is not None and _said(api, pieces) == SAFE
    elif on_block == "refuse":
        assert pieces is not None and _refused(api, pieces)
        assert "bomb" not in _said(api, pieces) and "blocked" in _said(api, pieces)
    else:
        assert pieces is None  # raised


def _pieces(parsed: Any, stream: bool) -> list[Any]:
    if stream:
        assert isinstance(parsed, openai.Stream)
        return list(parsed)
    return [parsed]


async def _apieces(parsed: Any, stream: bool) -> list[Any]:
    if stream:
        assert isinstance(parsed, openai.AsyncStream)
        return [piece async for piece in parsed]
    return [parsed]


@pytest.mark.parametrize(("api", "path"), APIS)
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("on_block", ["raise", "refuse"])
def test_with_streaming_response(
    env: Env, api: str, path: int, stream: bool, case: str, on_block: str
) -> None:
    inner = env.sync_client()
    client = guard_openai(inner, env.guard, on_block=on_block)  # type: ignore[arg-type]
    text = _prepare(env, case)
    pieces = None
    manager = PATHS[api][path](client, "with_streaming_response").create(
        **_kwargs(api, text, stream)
    )
    assert hasattr(manager, "__enter__") and not inspect.isawaitable(manager)
    try:
        with manager as response:
            assert response.status_code == 200 and "content-type" in response.headers
            with pytest.raises(Withheld):
                response.read()
            pieces = _pieces(response.parse(), stream)
    except GuardViolation:
        assert on_block == "raise" and case != "safe"
    _check(env, api, case, on_block, pieces)
    inner.close()


@pytest.mark.parametrize(("api", "path"), APIS)
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("on_block", ["raise", "refuse"])
async def test_async_with_streaming_response(
    env: Env, api: str, path: int, stream: bool, case: str, on_block: str
) -> None:
    inner = env.async_client()
    client = guard_openai(inner, env.guard, on_block=on_block)  # type: ignore[arg-type]
    text = _prepare(env, case)
    pieces = None
    manager = PATHS[api][path](client, "with_streaming_response").create(
        **_kwargs(api, text, stream)
    )
    assert hasattr(manager, "__aenter__") and not inspect.isawaitable(manager)  # no coroutine
    try:
        async with manager as response:
            assert response.request_id is None or isinstance(response.request_id, str)
            with pytest.raises(Withheld):
                await response.text()
            pieces = await _apieces(await response.parse(), stream)
    except GuardViolation:
        assert on_block == "raise" and case != "safe"
    _check(env, api, case, on_block, pieces)
    await inner.close()
    await env.guard.aclose()


@pytest.mark.parametrize(("api", "path"), APIS)
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("on_block", ["raise", "refuse"])
def test_with_raw_response(
    env: Env, api: str, path: int, stream: bool, case: str, on_block: str
) -> None:
    inner = env.sync_client()
    client = guard_openai(inner, env.guard, on_block=on_block)  # type: ignore[arg-type]
    text = _prepare(env, case)
    pieces = None
    try:
        raw = PATHS[api][path](client, "with_raw_response").create(**_kwargs(api, text, stream))
        assert "content-type" in raw.headers
        if case == "safe" and not stream:  # the SDK's own object: its whole body was screened
            assert isinstance(raw, LegacyAPIResponse)
        else:
            assert not hasattr(raw, "http_response")  # withheld, as frameworks probe it
        pieces = _pieces(raw.parse(), stream)
    except GuardViolation:
        assert on_block == "raise" and case != "safe"
    _check(env, api, case, on_block, pieces)
    inner.close()


@pytest.mark.parametrize(("api", "path"), APIS)
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("case", CASES)
async def test_async_with_raw_response(
    env: Env, api: str, path: int, stream: bool, case: str
) -> None:
    inner = env.async_client()
    client = guard_openai(inner, env.guard, on_block="refuse")
    text = _prepare(env, case)
    raw = await PATHS[api][path](client, "with_raw_response").create(**_kwargs(api, text, stream))
    pieces = await _apieces(raw.parse(), stream)  # a raw answer's parse() is sync here too
    _check(env, api, case, "refuse", pieces)
    await inner.close()
    await env.guard.aclose()


def test_a_refused_request_says_so_in_its_headers(env: Env) -> None:
    inner = env.sync_client()
    client = guard_openai(inner, env.guard, on_block="refuse")
    raw = client.chat.completions.with_raw_response.create(model=MAIN, messages=user("bomb"))
    assert raw.headers["x-guard-core"] == "refused" and raw.retries_taken == 0
    assert raw.request_id is None
    with pytest.raises(Withheld, match="only parse"):
        raw.text  # noqa: B018
    with pytest.raises(ConfigurationError, match="parse"):
        raw.parse(to=dict)
    with client.responses.with_streaming_response.create(model=MAIN, input="bomb") as response:
        assert response.headers["x-guard-core"] == "refused"
        message = response.parse().output[0]
        assert isinstance(message, ResponseOutputMessage)
        assert message.content[1].type == "refusal"
    assert env.main_requests() == []
    inner.close()


def test_stream_helpers_on_raw_or_streamed_resources_are_refused(env: Env, client: Any) -> None:
    with pytest.raises(ConfigurationError, match="not screened"):
        client.chat.completions.with_streaming_response.stream(model=MAIN, messages=user("hi"))
    with pytest.raises(ConfigurationError, match="not screened"):
        client.responses.with_raw_response.stream(model=MAIN, input="hi")
    assert env.main_requests() == []


@pytest.mark.parametrize(("api", "path"), ROUTES)
@pytest.mark.parametrize("mode", ["with_raw_response", "with_streaming_response"])
def test_every_route_to_a_resource_is_screened(env: Env, api: str, path: int, mode: str) -> None:
    inner = env.sync_client()
    client = guard_openai(inner, env.guard)
    resource = PATHS[api][path](client, mode)
    for text in ("hi", "bomb"):
        try:
            call = resource.create(**_kwargs(api, text, stream=False))
            if mode == "with_raw_response":
                pieces = [call.parse()]
            else:
                with call as response:
                    pieces = [response.parse()]
        except GuardViolation:
            assert text == "bomb"
        else:
            assert text == "hi" and _said(api, pieces) == SAFE
    assert len(env.main_requests()) == 1
    inner.close()
