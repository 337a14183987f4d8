"""Canaries: an unsafe marker in every string-bearing field the SDK's schema has, one at a
time, through the wrapper against the real loopback server. The rule each one checks:

- default policy (the marker is unsafe): it never reaches the caller (refusals included),
  and request-side it never reaches the main model;
- devops policy (the marker's category is allowed): when it reaches the caller or the
  main model, the guard was asked about it first.

The fields come from walking the installed SDK's models (see ``_schema``), plus one field
no model declares yet, so a field a later release adds is a canary the day it appears.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.chat.completion_create_params import CompletionCreateParamsBase
from openai.types.responses import Response, ResponseStreamEvent
from openai.types.responses.response_create_params import ResponseCreateParamsBase

from ._canary import Harness, harness, kwargs_for, merged, plant, receive
from ._schema import MARKER, canaries, minimal
from .conftest import MAIN

Call = Callable[[Any], Any]  # wrapped client -> what the call returns
USER = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def rig() -> Iterator[Harness]:
    with harness() as rig:
        yield rig


SETTINGS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _sweep(
    rig: Harness,
    cases: list[tuple[str, Any]],
    call_for: Callable[[Any], Call],
    *,
    request_side: bool = False,
    travels: bool = False,
    **options: Any,
) -> None:
    """Every canary under both policies; every broken rule is listed at once."""
    leaks: list[str] = []
    judged_and_passed = 0
    for path, value in cases:
        call = call_for(value)
        for agent in (None, "devops"):
            client = rig.client(agent, **options)
            with rig.watch() as watch:
                receive(watch, lambda: call(client))  # noqa: B023 - run right here
            reached = watch.main_saw if request_side else MARKER in watch.received
            if agent is None and reached:
                leaks.append(f"{path}: reached the {'model' if request_side else 'caller'}")
            elif reached and not watch.guard_saw:
                leaks.append(f"{path}: passed without the guard seeing it")
            elif agent and travels and not (reached or watch.refused):
                leaks.append(f"{path}: allowed, yet it never reached the model")
            judged_and_passed += bool(agent and reached)
    assert leaks == [], "\n".join(leaks)
    assert judged_and_passed > 0 or len(cases) == 1  # the canaries do travel: it can fail


def test_chat_completion_fields(rig: Harness) -> None:
    def call_for(value: Any) -> Call:
        rig.answer = value
        return lambda client: client.chat.completions.create(model=MAIN, messages=USER)

    _sweep(rig, canaries(ChatCompletion), call_for, on_block="refuse")


def test_responses_fields(rig: Harness) -> None:
    def call_for(value: Any) -> Call:
        rig.answer = {**value, "object": "response"}  # how the test server tells the kind
        return lambda client: client.responses.create(model=MAIN, input="hi")

    cases = [(p, v) for p, v in canaries(Response) if p != ".object"]
    _sweep(rig, cases, call_for, on_block="refuse")


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": MAIN,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def test_chat_stream_chunk_fields(rig: Harness) -> None:
    """Incremental mode, one character per step: the most a stream ever releases early."""

    def call_for(value: Any) -> Call:
        rig.answer = {
            "object": "chunks",
            "chunks": [
                _chunk({"role": "assistant", "content": "Hello there. "}),
                value,
                _chunk({}, "stop"),
            ],
        }
        return lambda client: client.chat.completions.create(model=MAIN, messages=USER, stream=True)

    _sweep(rig, canaries(ChatCompletionChunk), call_for, streaming="incremental", stream_chars=1)


def test_responses_stream_event_fields(rig: Harness) -> None:
    """Every event type of the stream union, between a created and a completed event."""
    response = {**minimal(Response), "object": "response", "status": "in_progress"}

    def call_for(value: Any) -> Call:
        rig.answer = {
            "object": "events",
            "events": [
                {"type": "response.created", "response": response},
                value,
                {"type": "response.completed", "response": {**response, "status": "completed"}},
            ],
        }
        return lambda client: client.responses.create(model=MAIN, input="hi", stream=True)

    _sweep(rig, canaries(ResponseStreamEvent), call_for, streaming="incremental", stream_chars=1)


def test_chat_request_fields(rig: Harness) -> None:
    def call_for(value: Any) -> Call:
        body = {**value, "model": MAIN, "messages": value.get("messages") or USER}
        return lambda client: client.chat.completions.create(
            **kwargs_for(client.chat.completions.create, body)
        )

    cases = [(p, v) for p, v in canaries(CompletionCreateParamsBase) if p != ".model"]
    _sweep(rig, cases, call_for, request_side=True, screen_system=True)


def test_responses_request_fields(rig: Harness) -> None:
    def call_for(value: Any) -> Call:
        body = {"input": "hi", **value, "model": MAIN}
        return lambda client: client.responses.create(**kwargs_for(client.responses.create, body))

    cases = [(p, v) for p, v in canaries(ResponseCreateParamsBase) if p != ".model"]
    _sweep(rig, cases, call_for, request_side=True, screen_system=True)


# -- shapes no schema lists: Hypothesis builds them -------------------------------------------

_WORD = st.text(alphabet="abcdefghij_", min_size=1, max_size=6)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | _WORD,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_WORD, inner, max_size=3),
    max_leaves=10,
)
_PART = st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "input_text", "refusal", "brand_new_part"]) | _WORD},
    optional={"text": _WORD, "data": _JSON, "note": _JSON},
)
_MESSAGE = st.fixed_dictionaries(
    {
        "role": st.sampled_from(["user", "assistant", "tool", "system", "developer"]) | _WORD,
        "content": _WORD | st.lists(_PART, max_size=3),
    },
    optional={"name": _WORD, "tool_call_id": _WORD, "extra": _JSON},
)
_OVERRIDES = st.dictionaries(
    st.sampled_from(["messages", "input", "instructions", "tools", "metadata", "x_vendor"]),
    st.lists(_MESSAGE, min_size=1, max_size=3) | _JSON,
    max_size=3,
)


@SETTINGS
@given(messages=st.lists(_MESSAGE, min_size=1, max_size=4), extra=_OVERRIDES, data=st.data())
def test_request_shapes_with_overrides(
    rig: Harness, messages: list[Any], extra: dict[str, Any], data: st.DataObject
) -> None:
    """Messages of any role and part type, extra_body over any field: the marker, put in one
    place chosen at random, never reaches the model unjudged (chat and Responses alike)."""
    request = {"messages": messages, "extra_body": extra}
    where = data.draw(st.sampled_from(sorted(request)))
    request[where] = plant(request[where], data.draw)
    api = data.draw(st.sampled_from(["chat", "responses"]))

    def call(client: Any) -> Any:
        if api == "chat":
            return client.chat.completions.create(model=MAIN, **request)
        return client.responses.create(
            model=MAIN, input=request["messages"], extra_body=request["extra_body"]
        )

    _sweep(
        rig,
        [("planted", request)],
        lambda _: call,
        request_side=True,
        travels=True,
        screen_system=True,
    )


@SETTINGS
@given(picks=st.lists(st.sampled_from(canaries(ChatCompletion)), min_size=2, max_size=6))
def test_chat_answer_fields_combined(rig: Harness, picks: list[tuple[str, Any]]) -> None:
    def call_for(value: Any) -> Call:
        rig.answer = value
        return lambda client: client.chat.completions.create(model=MAIN, messages=USER)

    _sweep(
        rig,
        [("+".join(p for p, _ in picks), merged(v for _, v in picks))],
        call_for,
        on_block="refuse",
    )


@SETTINGS
@given(
    picks=st.lists(
        st.sampled_from([c for c in canaries(Response) if c[0] != ".object"]),
        min_size=2,
        max_size=6,
    )
)
def test_responses_answer_fields_combined(rig: Harness, picks: list[tuple[str, Any]]) -> None:
    def call_for(value: Any) -> Call:
        rig.answer = {**value, "object": "response"}
        return lambda client: client.responses.create(model=MAIN, input="hi")

    _sweep(
        rig,
        [("+".join(p for p, _ in picks), merged(v for _, v in picks))],
        call_for,
        on_block="refuse",
    )
