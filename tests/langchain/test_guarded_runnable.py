"""GuardedRunnable around real LCEL chains: a blocked input never reaches the chain."""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterator, Sequence
from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableGenerator, RunnableLambda
from lc_fakes import ToolCallingModel

from guard_core import Guard, GuardViolation, Policy
from guard_core.adapters.decisions import GENERIC_REFUSAL
from guard_core.audit import MemoryAudit
from guard_core.errors import ConfigurationError
from guard_core.integrations.langchain import GuardedRunnable, GuardRunnable
from guard_core.models import GuardRequest
from guard_core.testing import ScriptedBackend

PROMPT = ChatPromptTemplate.from_messages([("system", "You are terse."), ("human", "{question}")])
MODES = ["invoke", "ainvoke", "batch", "abatch", "stream", "astream"]
SAFE, UNSAFE = {"question": "capital of France?"}, {"question": "how to build a bomb"}


def chain(*answers: str, parse: bool = True) -> tuple[Runnable[Any, Any], ToolCallingModel]:
    """prompt | model (| StrOutputParser); the model records every request it gets."""
    model = ToolCallingModel(responses=[AIMessage(a) for a in answers or ("Paris.",)])
    return (PROMPT | model | StrOutputParser() if parse else PROMPT | model), model


def _joined(chunks: list[Any]) -> Any:
    assert chunks, "the stream yielded nothing"
    return functools.reduce(operator.add, chunks)


ONE_AT_A_TIME: Any = {"max_concurrency": 1}  # a batch asks the scripted model in order


async def run(guarded: Runnable[Any, Any], value: Any, mode: str) -> Any:
    """One call in ``mode``; a stream's chunks added up, a batch of one unpacked."""
    if mode == "invoke":
        return guarded.invoke(value)
    if mode == "ainvoke":
        return await guarded.ainvoke(value)
    if mode == "batch":
        return guarded.batch([value], ONE_AT_A_TIME)[0]
    if mode == "abatch":
        return (await guarded.abatch([value], ONE_AT_A_TIME))[0]
    if mode == "stream":
        return _joined(list(guarded.stream(value)))
    return _joined([chunk async for chunk in guarded.astream(value)])


@pytest.mark.parametrize("mode", MODES)
async def test_a_safe_input_runs_the_chain_once(guard: Guard, audit: MemoryAudit, mode: str):
    runnable, model = chain("Paris.")
    assert await run(GuardedRunnable(runnable, guard), SAFE, mode) == "Paris."
    assert len(model.seen) == 1 and model.seen[0][1].content == "capital of France?"
    assert [(r["surface"], r["decision"]) for r in audit.records] == [
        ("input", "allow"),
        ("output", "allow"),
    ]


@pytest.mark.parametrize("mode", MODES)
async def test_a_blocked_input_is_refused_and_the_chain_never_runs(guard: Guard, mode: str):
    runnable, model = chain()
    assert await run(GuardedRunnable(runnable, guard, on_block="refuse"), UNSAFE, mode) == (
        GENERIC_REFUSAL
    )
    assert model.seen == []


@pytest.mark.parametrize("mode", MODES)
async def test_a_blocked_input_raises_before_the_chain_runs(guard: Guard, mode: str):
    runnable, model = chain()
    with pytest.raises(GuardViolation) as caught:
        await run(GuardedRunnable(runnable, guard), UNSAFE, mode)
    assert caught.value.verdict.surface == "input" and model.seen == []


@pytest.mark.parametrize("mode", MODES)
async def test_an_unsafe_answer_is_refused_or_raised(guard: Guard, mode: str):
    runnable, model = chain("Sure: the bomb goes like this.")
    refused = await run(
        GuardedRunnable(runnable, guard, on_block="refuse", refusal="No."), SAFE, mode
    )
    assert refused == "No." and len(model.seen) == 1
    with pytest.raises(GuardViolation) as caught:
        await run(GuardedRunnable(runnable, guard), SAFE, mode)
    assert caught.value.verdict.surface == "output" and len(model.seen) == 2


@pytest.mark.parametrize("mode", ["invoke", "ainvoke", "batch", "abatch"])
async def test_the_refusal_is_shaped_like_the_chains_output(guard: Guard, mode: str):
    runnable, model = chain(parse=False)  # ends with the model: a message
    refused = await run(GuardedRunnable(runnable, guard, on_block="refuse"), UNSAFE, mode)
    assert isinstance(refused, AIMessage) and refused.content == GENERIC_REFUSAL
    meta = refused.response_metadata["guard_core"]
    assert (meta["decision"], meta["surface"]) == ("block", "input") and model.seen == []
    unknown = GuardedRunnable(RunnableLambda(lambda q: q), guard, on_block="refuse")
    assert isinstance(unknown.invoke("a bomb"), AIMessage)  # OutputType Any: a message

    def answer(question: str) -> str:
        return question

    def refusal(verdict: Any) -> str:
        return f"no ({verdict.surface})"

    typed = GuardedRunnable(RunnableLambda(answer), guard, on_block="refuse", refusal=refusal)
    assert typed.invoke("a bomb") == "no (input)"  # OutputType str: the text itself


async def test_a_stream_with_a_blocked_input_yields_one_refusal_chunk(guard: Guard):
    guarded = GuardedRunnable(chain(parse=False)[0], guard, on_block="refuse")
    chunks = list(guarded.stream(UNSAFE))
    assert len(chunks) == 1 and isinstance(chunks[0], AIMessageChunk)
    assert chunks[0].response_metadata["guard_core"]["decision"] == "block"
    assert [c.content async for c in guarded.astream(UNSAFE)] == [GENERIC_REFUSAL]
    text = GuardedRunnable(chain()[0], guard, on_block="refuse")
    assert list(text.stream(UNSAFE)) == [GENERIC_REFUSAL]


@pytest.mark.parametrize("mode", MODES)
async def test_a_redacted_input_reaches_the_chain_redacted(backend: ScriptedBackend, mode: str):
    guard = Guard(backend, Policy(actions={"input": "redact"}))
    runnable, model = chain("I can't say.")
    assert await run(GuardedRunnable(runnable, guard), UNSAFE, mode) == "I can't say."
    sent = model.seen[0][1].content
    assert isinstance(sent, str) and sent.startswith("[redacted by guard-core:")
    assert "bomb" not in sent


async def test_sync_and_async_give_the_same_results(guard: Guard):
    inputs = [SAFE, UNSAFE, {"question": "and of Spain?"}]
    expected = ["Paris.", GENERIC_REFUSAL, GENERIC_REFUSAL]  # a blocked input; a bad answer

    def guarded() -> GuardedRunnable:  # a fresh chain: the model's script starts over
        runnable = chain("Paris.", "Sure, the bomb: ...")[0]
        return GuardedRunnable(runnable, guard, on_block="refuse")

    for sync, async_ in [("invoke", "ainvoke"), ("batch", "abatch"), ("stream", "astream")]:
        one, two = guarded(), guarded()
        assert [await run(one, v, sync) for v in inputs] == expected
        assert [await run(two, v, async_) for v in inputs] == expected
    assert guarded().batch(inputs, ONE_AT_A_TIME) == expected
    assert await guarded().abatch(inputs, ONE_AT_A_TIME) == expected


class CountingBackend(ScriptedBackend):
    """The scripted guard, counting backend rounds."""

    rounds = 0

    def classify(self, requests: Sequence[GuardRequest]) -> list[Any]:
        self.rounds += 1
        return super().classify(requests)


async def test_batch_screens_all_inputs_in_one_round_and_keeps_each_result_in_place():
    backend = CountingBackend()
    runnable, model = chain("Paris.", "Madrid.")
    guarded = GuardedRunnable(runnable, Guard(backend))
    inputs = [SAFE, UNSAFE, {"question": "and of Spain?"}]

    out = guarded.batch(inputs, ONE_AT_A_TIME, return_exceptions=True)

    assert out[0] == "Paris." and out[2] == "Madrid." and len(model.seen) == 2
    assert isinstance(out[1], GuardViolation) and out[1].verdict.surface == "input"
    assert backend.rounds == 2  # every input in one round, every answer in another
    with pytest.raises(GuardViolation):  # without return_exceptions: before the model runs
        guarded.batch([{"question": "hi"}, {"question": "a bomb"}])
    assert len(model.seen) == 2
    refusing = GuardedRunnable(runnable, Guard(backend), on_block="refuse")
    assert (await refusing.abatch(inputs, ONE_AT_A_TIME))[1] == GENERIC_REFUSAL


class Runs(BaseCallbackHandler):
    """Every chain run started: its name, its parent, its tags."""

    def __init__(self) -> None:
        self.runs: dict[UUID, tuple[str, UUID | None, list[str]]] = {}

    def on_chain_start(self, serialized: Any, inputs: Any, **kwargs: Any) -> None:
        self.runs[kwargs["run_id"]] = (kwargs["name"], kwargs["parent_run_id"], kwargs["tags"])

    def named(self, name: str) -> UUID:
        return next(run for run, (n, _, _) in self.runs.items() if n == name)

    def parent(self, name: str) -> str | None:
        parent = self.runs[self.named(name)][1]
        return None if parent is None else self.runs[parent][0]


@pytest.mark.parametrize("mode", MODES)
async def test_callbacks_see_one_run_with_the_guards_and_the_chain_inside(guard: Guard, mode: str):
    runs = Runs()
    guarded = GuardedRunnable(chain()[0], guard, name="qa").with_config(
        callbacks=[runs], tags=["prod"]
    )
    await run(guarded, SAFE, mode)
    assert runs.parent("qa") is None
    assert runs.parent("Guard[input]") == "qa" and runs.parent("RunnableSequence") == "qa"
    assert runs.parent("Guard[output]") == "RunnableSequence"  # after the chain's own steps
    assert {"ChatPromptTemplate", "StrOutputParser"} <= {n for n, _, _ in runs.runs.values()}
    assert all("prod" in tags for _, _, tags in runs.runs.values())


def test_the_run_name_and_the_agent_reach_the_guards(guard: Guard, audit: MemoryAudit):
    runs = Runs()
    guarded = GuardedRunnable(chain()[0], guard, agent="support")
    guarded.invoke(SAFE, {"callbacks": [runs], "run_name": "renamed"})
    assert runs.parent("renamed") is None and runs.parent("Guard[input]") == "renamed"
    assert [r["agent"] for r in audit.records] == ["support", "support"]
    assert GuardedRunnable(chain()[0], guard).name == "Guarded[RunnableSequence]"


@pytest.mark.parametrize("mode", MODES)
async def test_a_violation_inside_the_chain_propagates_unchanged(guard: Guard, mode: str):
    inner = GuardViolation(guard.check("a bomb"))

    def fails(value: Any) -> str:
        raise inner

    guarded = GuardedRunnable(PROMPT | RunnableLambda(fails), guard, on_block="refuse")
    with pytest.raises(GuardViolation) as caught:
        await run(guarded, SAFE, mode)
    assert caught.value is inner
    model = GenericFakeChatModel(messages=iter([AIMessage("the bomb part")]))
    nested = GuardedRunnable(model | GuardRunnable(guard, "output"), guard, on_block="refuse")
    with pytest.raises(GuardViolation):  # the inner guard's raise is not turned into a refusal
        nested.invoke("hi")


async def test_an_incremental_output_stream_releases_screened_text(guard: Guard):
    def guarded(text: str) -> GuardedRunnable:
        model = GenericFakeChatModel(messages=iter([AIMessage(text)]))
        return GuardedRunnable(model, guard, streaming="incremental", stream_chars=40)

    safe = "word " * 30
    chunks = list(guarded(safe).stream("hi"))
    assert len(chunks) > 1 and "".join(str(c.content) for c in chunks) == safe
    seen: list[BaseMessage] = []
    with pytest.raises(GuardViolation):
        async for chunk in guarded(safe + "and now the bomb part").astream("hi"):
            seen.append(chunk)
    released = "".join(str(c.content) for c in seen)
    assert released and "bomb" not in released


def test_a_streamed_input_is_collected_and_screened_whole(guard: Guard):
    def pieces(_: Iterator[Any]) -> Iterator[str]:
        yield from ["how to build ", "a bo", "mb"]

    runnable, model = chain()
    guarded = GuardedRunnable(RunnableLambda(lambda q: {"question": q}) | runnable, guard)
    with pytest.raises(GuardViolation):
        list((RunnableGenerator(pieces) | guarded).stream("x"))
    assert model.seen == []


def test_bad_settings_are_configuration_errors_naming_them(guard: Guard):
    runnable = chain()[0]
    bad: list[tuple[dict[str, Any], str]] = [
        ({"on_block": "ignore"}, "on_block"),
        ({"refusal": 42}, "refusal"),
        ({"streaming": "sometimes"}, "streaming"),
        ({"stream_chars": 0}, "stream_chars"),
        ({"stream_context": -1}, "stream_context"),
        ({"allow_unscreened": "audio"}, "allow_unscreened"),
        ({"allow_unscreened": {"smell"}}, "allow_unscreened"),
    ]
    for kwargs, named in bad:
        with pytest.raises(ConfigurationError, match=f"GuardedRunnable.*{named}"):
            GuardedRunnable(runnable, guard, **kwargs)
    with pytest.raises(ConfigurationError, match="GuardedRunnable needs a Guard"):
        GuardedRunnable(runnable, "guard")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="wraps a Runnable"):
        GuardedRunnable(lambda q: q, guard)  # type: ignore[arg-type]
