"""Legacy completions (``client.completions``) under ``guard_openai``, against the real
loopback server, sync and async, streamed and not, ``on_block="raise"`` and ``"refuse"``:

- an unsafe marker in the prompt (a string, or any element of a list) or in ``suffix``
  never reaches the main model;
- an unsafe marker in any returned choice (its text, a logprobs token or a logprobs
  alternative) never reaches the caller, refusals included; a refusal's choices say so with
  ``finish_reason="content_filter"`` and carry no logprobs;
- a safe exchange passes unchanged (so the canaries can fail);
- token-id prompts, which the guard cannot read, are refused before sending; so is every
  call on ``client.realtime`` (a websocket session the wrapper cannot screen).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guard_core import Guard, GuardViolation
from guard_core.backends import RemoteBackend
from guard_core.errors import ConfigurationError, ContentError
from guard_core.integrations.openai import guard_openai
from guard_core.integrations.openai.client import PASSED_THROUGH
from guard_core.testing import OpenAICompatServer, ScriptedJudge

from ._schema import MARKER
from .conftest import GUARD_MODEL, MAIN, POLICIES, UNSAFE

MODES = [(a, s, b) for a in (False, True) for s in (False, True) for b in ("raise", "refuse")]
IDS = [f"{'async' if a else 'sync'}-{'stream' if s else 'plain'}-{b}" for a, s, b in MODES]
SETTINGS = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
# Safe for the scripted judge (it has no "bomb", "kill" or "burn a house" in it).
WORDS = st.lists(st.text("abcdefghij", min_size=1, max_size=5), min_size=1, max_size=3).map(
    " ".join
)


def text_completion(choices: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": "cmpl-main",
        "object": "text_completion",
        "created": 1_700_000_000,
        "model": MAIN,
        "choices": choices,
        "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8},
    }


def choice(index: int, text: str) -> dict[str, Any]:
    tokens = text.split(" ")
    return {
        "index": index,
        "text": text,
        "finish_reason": "stop",
        "logprobs": {
            "tokens": tokens,
            "token_logprobs": [-0.1] * len(tokens),
            "top_logprobs": [{t: -0.1, "maybe": -2.5} for t in tokens],
            "text_offset": list(range(len(tokens))),
        },
    }


@dataclass
class Rig:
    server: OpenAICompatServer
    guard: Guard
    sync: openai.OpenAI
    async_: openai.AsyncOpenAI
    runner: asyncio.Runner
    answer: dict[str, Any] | None = None
    bodies: list[dict[str, Any]] = field(default_factory=list)

    def main_model(self, body: dict[str, Any]) -> dict[str, Any]:
        self.bodies.append(body)
        return self.answer or text_completion([choice(0, "Sure, happy to help.")])

    def call(self, is_async: bool, kwargs: dict[str, Any], **options: Any) -> Received:
        """One ``completions.create``; what the caller got, also when it raised midway."""
        got = Received()
        client = guard_openai(self.async_ if is_async else self.sync, self.guard, **options)

        async def arun() -> None:
            result = await client.completions.create(**kwargs)
            if isinstance(result, openai.AsyncStream):
                async for chunk in result:
                    got.items.append(chunk)
            else:
                got.items.append(result)

        def run() -> None:
            result = client.completions.create(**kwargs)
            got.items.extend(result if isinstance(result, openai.Stream) else [result])

        try:
            if is_async:
                self.runner.run(arun())
            else:
                run()
        except (GuardViolation, ContentError) as exc:
            got.raised = exc
        return got


@dataclass
class Received:
    items: list[Any] = field(default_factory=list)
    raised: Exception | None = None

    @property
    def json(self) -> str:
        return "\n".join(i.model_dump_json(warnings=False) for i in self.items)

    def choices(self) -> list[Any]:
        return [c for item in self.items for c in item.choices]


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    box: list[Rig] = []
    server = OpenAICompatServer(
        judge=ScriptedJudge(UNSAFE), models={MAIN: lambda body: box[0].main_model(body)}
    )
    with server, asyncio.Runner() as runner:
        guard = Guard(
            RemoteBackend.vllm(server.base_url, GUARD_MODEL, max_retries=0), POLICIES, cache=False
        )
        url = server.base_url
        sync = openai.OpenAI(base_url=url, api_key="sk-test", max_retries=0)
        async_ = openai.AsyncOpenAI(base_url=url, api_key="sk-test", max_retries=0)
        box.append(Rig(server, guard, sync, async_, runner))
        yield box[0]
        sync.close()
        runner.run(async_.close())
        runner.run(guard.aclose())
        guard.close()


@st.composite
def unsafe_requests(draw: st.DrawFn) -> tuple[dict[str, Any], int]:
    """A request whose prompt (a string, or one element of a list) or suffix holds the
    marker; and how many prompts it has."""
    prompts = draw(st.lists(WORDS, min_size=1, max_size=4))
    request: dict[str, Any] = {"prompt": prompts}
    if draw(st.booleans()):
        at = draw(st.integers(0, len(prompts) - 1))
        planted = [*prompts[:at], f"{prompts[at]} {MARKER}", *prompts[at + 1 :]]
        request["prompt"] = planted[0] if len(planted) == 1 and draw(st.booleans()) else planted
    else:
        request["suffix"] = f"{draw(WORDS)} {MARKER}"
    return request, len(prompts)


@st.composite
def unsafe_answers(draw: st.DrawFn) -> tuple[list[str], int, list[dict[str, Any]]]:
    """(prompts, n, the choices answering them), one choice holding the marker in its text,
    a logprobs token or a logprobs alternative."""
    prompts = draw(st.lists(WORDS, min_size=1, max_size=3))
    n = draw(st.integers(1, 2))
    choices = [choice(i, draw(WORDS)) for i in range(n * len(prompts))]
    bad = choices[draw(st.integers(0, len(choices) - 1))]
    place = draw(st.sampled_from(["text", "token", "alternative"]))
    if place == "text":
        bad.update(choice(bad["index"], f"{bad['text']} {MARKER}"))  # its tokens say it too
    elif place == "token":
        bad["logprobs"]["tokens"].append(MARKER)
    else:
        bad["logprobs"]["top_logprobs"][0][MARKER] = -3.0
    return prompts, n, choices


@pytest.mark.parametrize(("is_async", "stream", "on_block"), MODES, ids=IDS)
@SETTINGS
@given(case=unsafe_requests())
def test_an_unsafe_prompt_never_reaches_the_model(
    rig: Rig, is_async: bool, stream: bool, on_block: str, case: tuple[dict[str, Any], int]
) -> None:
    request, prompts = case
    sent = len(rig.bodies)
    got = rig.call(is_async, {"model": MAIN, **request, "stream": stream}, on_block=on_block)
    assert len(rig.bodies) == sent  # nothing was sent
    assert MARKER not in json.dumps(rig.bodies)
    if on_block == "raise":
        assert isinstance(got.raised, GuardViolation) and got.raised.verdict.surface == "input"
    else:
        assert got.raised is None and len(got.choices()) == prompts
        assert {c.finish_reason for c in got.choices()} == {"content_filter"}


@pytest.mark.parametrize(("is_async", "stream", "on_block"), MODES, ids=IDS)
@SETTINGS
@given(case=unsafe_answers())
def test_an_unsafe_choice_never_reaches_the_caller(
    rig: Rig,
    is_async: bool,
    stream: bool,
    on_block: str,
    case: tuple[list[str], int, list[dict[str, Any]]],
) -> None:
    prompts, n, choices = case
    rig.answer = text_completion(choices)
    kwargs = {"model": MAIN, "prompt": prompts, "n": n, "stream": stream, "logprobs": 2}
    got = rig.call(is_async, kwargs, on_block=on_block)
    assert MARKER not in got.json
    if on_block == "raise":
        assert isinstance(got.raised, GuardViolation) and got.raised.verdict.surface == "output"
    else:
        assert got.raised is None
        refused = got.choices()
        assert sorted(c.index for c in refused) == list(range(len(choices)))
        assert all(c.finish_reason == "content_filter" and c.logprobs is None for c in refused)
        assert all("blocked by policy" in c.text for c in refused)


@pytest.mark.parametrize(("is_async", "stream", "on_block"), MODES, ids=IDS)
def test_a_safe_exchange_passes_unchanged(
    rig: Rig, is_async: bool, stream: bool, on_block: str
) -> None:
    rig.answer = text_completion([choice(0, "Sure, here it is."), choice(1, "Happy to help.")])
    prompt = ["first question", "second question"]
    got = rig.call(is_async, {"model": MAIN, "prompt": prompt, "stream": stream, "logprobs": 2})
    assert got.raised is None and rig.bodies[-1]["prompt"] == prompt
    texts: dict[int, str] = {}
    for c in got.choices():
        texts[c.index] = texts.get(c.index, "") + c.text
    assert texts == {0: "Sure, here it is.", 1: "Happy to help."}
    assert [c.logprobs.tokens for c in got.choices() if c.logprobs] == [
        ["Sure,", "here", "it", "is."],
        ["Happy", "to", "help."],
    ]


@pytest.mark.parametrize("is_async", [False, True])
def test_an_incremental_stream_never_releases_the_unsafe_text(rig: Rig, is_async: bool) -> None:
    """One character per step: safe text may be released early, the marker never."""
    rig.answer = text_completion([{**choice(0, f"Well then. {MARKER}"), "logprobs": None}])
    kwargs = {"model": MAIN, "prompt": "hi", "stream": True}
    got = rig.call(is_async, kwargs, streaming="incremental", stream_chars=1)
    assert isinstance(got.raised, GuardViolation) and MARKER not in got.json
    assert got.items, "safe text before it was released in steps"
    refused = rig.call(is_async, kwargs, streaming="incremental", stream_chars=1, on_block="refuse")
    assert MARKER not in refused.json
    assert refused.choices()[-1].finish_reason == "content_filter"


@pytest.mark.parametrize("is_async", [False, True])
@pytest.mark.parametrize("prompt", [[1, 2, 3], [[1, 2], [3]], ["a question", 7]])
def test_token_prompts_are_refused_before_sending(
    rig: Rig, is_async: bool, prompt: list[Any]
) -> None:
    sent = len(rig.bodies)
    got = rig.call(is_async, {"model": MAIN, "prompt": prompt}, on_block="refuse")
    assert isinstance(got.raised, ContentError) and "token ids" in str(got.raised)
    assert "send the prompt as text" in str(got.raised) and "client.unwrapped" in str(got.raised)
    assert len(rig.bodies) == sent


@pytest.mark.parametrize("is_async", [False, True])
def test_realtime_is_refused(rig: Rig, is_async: bool) -> None:
    assert "realtime" not in PASSED_THROUGH and "completions" not in PASSED_THROUGH
    client = guard_openai(rig.async_ if is_async else rig.sync, rig.guard)
    with pytest.raises(ConfigurationError, match=r"client\.realtime\.connect is not screened"):
        client.realtime.connect(model=MAIN)
    with pytest.raises(ConfigurationError, match=r"client_secrets\.create is not screened"):
        client.realtime.client_secrets.create()
    with pytest.raises(ConfigurationError, match=r"client\.beta\.realtime"):
        client.beta.realtime.sessions.create()
