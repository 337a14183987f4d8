"""Legacy completions, field by field and through the raw / streamed response wrappers.

The canaries come from the installed SDK's own schema (``Completion`` and the legacy
``CompletionCreateParamsBase``, plus one field no model declares yet), as for chat and
Responses in ``test_openai_canaries``: under the default policy the marker never reaches the
caller (or, request-side, the main model); under ``devops`` (its category allowed) it gets
there only after the guard saw it. ``with_raw_response`` / ``with_streaming_response`` screen
like the plain call and withhold the HTTP body.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from openai.types import Completion
from openai.types.completion_create_params import CompletionCreateParamsBase

from guard_core import GuardViolation
from guard_core.integrations.openai import guard_openai
from guard_core.integrations.openai._raw import Withheld

from ._canary import Harness, harness, kwargs_for, receive
from ._schema import MARKER, canaries
from .conftest import MAIN, Env

Call = Callable[[Any], Any]  # wrapped client -> what the call returns


@pytest.fixture(scope="module")
def rig() -> Iterator[Harness]:
    with harness() as rig:
        yield rig


def _sweep(
    rig: Harness, cases: list[tuple[str, Any]], call_for: Callable[[Any], Call], *, request: bool
) -> None:
    """Every canary under both policies; every broken rule is listed at once."""
    leaks: list[str] = []
    travelled = 0
    for path, value in cases:
        call = call_for(value)
        for agent in (None, "devops"):
            client = rig.client(agent, on_block="refuse")
            with rig.watch() as watch:
                receive(watch, lambda: call(client))  # noqa: B023 - run right here
            reached = watch.main_saw if request else MARKER in watch.received
            if agent is None and reached:
                leaks.append(f"{path}: reached the {'model' if request else 'caller'}")
            elif reached and not watch.guard_saw:
                leaks.append(f"{path}: passed without the guard seeing it")
            travelled += bool(agent and reached)
    assert leaks == [], "\n".join(leaks)
    assert travelled > 0  # the canaries do travel: the check can fail


ANSWERS = [(p, v) for p, v in canaries(Completion) if p != ".object"]


@pytest.mark.parametrize("stream", [False, True])
def test_completion_answer_fields(rig: Harness, stream: bool) -> None:
    def call_for(value: Any) -> Call:
        rig.answer = {**value, "object": "text_completion"}  # how the test server tells it
        return lambda client: client.completions.create(model=MAIN, prompt="hi", stream=stream)

    assert any(p == ".choices[0].text" for p, _ in ANSWERS)
    assert any(".logprobs.top_logprobs" in p for p, _ in ANSWERS)
    _sweep(rig, ANSWERS, call_for, request=False)


def test_completion_request_fields(rig: Harness) -> None:
    def call_for(value: Any) -> Call:
        body = {"prompt": "hi", **value, "model": MAIN}
        return lambda client: client.completions.create(
            **kwargs_for(client.completions.create, body)
        )

    cases = [(p, v) for p, v in canaries(CompletionCreateParamsBase) if p != ".model"]
    assert {".prompt", ".suffix", ".stop"} <= {p for p, _ in cases}
    _sweep(rig, cases, call_for, request=True)


def test_extra_body_cannot_carry_an_unscreened_prompt(rig: Harness) -> None:
    """``extra_body`` wins over the arguments in the SDK's merge: what is screened is that."""
    client = rig.client()
    with rig.watch() as watch:
        receive(
            watch,
            lambda: client.completions.create(
                model=MAIN, prompt="hi", extra_body={"prompt": [f"a {MARKER}"], "x_note": "fine"}
            ),
        )
    assert watch.refused == "GuardViolation" and watch.guard_saw and not watch.main_saw


@pytest.mark.parametrize("unsafe", ["request", "answer"])
def test_with_raw_response(env: Env, unsafe: str) -> None:
    inner = env.sync_client()
    client = guard_openai(inner, env.guard, on_block="refuse")
    if unsafe == "answer":
        env.model.reply({**_answer(f"Here is {MARKER}"), "object": "text_completion"})
    prompt = f"tell me {MARKER}" if unsafe == "request" else "hi"
    raw = client.completions.with_raw_response.create(model=MAIN, prompt=prompt)
    answer = raw.parse()
    assert isinstance(answer, Completion) and MARKER not in answer.model_dump_json()
    assert answer.choices[0].finish_reason == "content_filter"
    with pytest.raises(Withheld):
        raw.http_response  # noqa: B018 - the body the guard judged only as parsed
    assert len(env.main_requests("/completions")) == (0 if unsafe == "request" else 1)
    safe = client.completions.with_raw_response.create(model=MAIN, prompt="hi").parse()
    assert safe.choices[0].text == "Sure, happy to help."
    inner.close()


@pytest.mark.parametrize("stream", [False, True])
async def test_with_streaming_response(env: Env, stream: bool) -> None:
    sync_inner, async_inner = env.sync_client(), env.async_client()
    sync = guard_openai(sync_inner, env.guard)
    with sync.completions.with_streaming_response.create(model=MAIN, prompt="hi") as response:
        assert response.parse().choices[0].text == "Sure, happy to help."
    with (
        pytest.raises(GuardViolation),
        sync.completions.with_streaming_response.create(model=MAIN, prompt=MARKER),
    ):
        pass
    aclient = guard_openai(async_inner, env.guard, on_block="refuse")
    env.model.reply({**_answer(f"Here is {MARKER}"), "object": "text_completion"})
    opened = aclient.completions.with_streaming_response.create(
        model=MAIN, prompt="hi", stream=stream
    )
    async with opened as aresponse:
        parsed: Any = await aresponse.parse()
        chunks = [c async for c in parsed] if stream else [parsed]
    assert MARKER not in "".join(c.model_dump_json() for c in chunks)
    assert chunks[-1].choices[-1].finish_reason == "content_filter"
    assert len(env.main_requests("/completions")) == 2  # the blocked prompt was never sent
    sync_inner.close()
    await async_inner.close()
    await env.guard.aclose()


def _answer(text: str) -> dict[str, Any]:
    return {
        "id": "cmpl-1",
        "created": 1,
        "model": MAIN,
        "choices": [{"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}],
    }
