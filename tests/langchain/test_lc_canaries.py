"""Canaries: a marker in every field of every LangChain message type, one at a time and
combined (Hypothesis), through each adapter into a recording chat model, a tool and the
caller. The marker arrives only where the guard was asked about it and allowed it: an
unsafe marker ("bomb") never arrives; a safe one ("zebra") arrives only once judged."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage, ToolMessage
from lc_canary import RecordingModel, asked, canaries, read_by_model, scripted_guard
from lc_fakes import Ran, make_tools

from guard_core import GuardViolation
from guard_core.errors import ContentError
from guard_core.integrations.langchain import (
    GuardCallbackHandler,
    GuardMiddleware,
    GuardRunnable,
)
from guard_core.testing import ScriptedBackend

CANARIES = canaries()
ANSWERS = {k: v for k, v in CANARIES.items() if k.startswith("ai")}
MARKERS = ["zebra-7f3", "bomb-7f3"]


def check(marker: str, backend: ScriptedBackend, *arrived: str) -> None:
    """The property: where the marker arrived, the guard was asked and allowed it."""
    seen = "\n".join(arrived)
    if marker.startswith("bomb"):
        assert marker not in seen, "an unsafe marker got through"
    elif marker in seen:
        assert marker in asked(backend), "a marker arrived that the guard was never asked about"


def _runnable(
    history: list[BaseMessage], answer: BaseMessage | None
) -> tuple[ScriptedBackend, RecordingModel, Any]:
    guard, backend = scripted_guard()
    model = RecordingModel(answers=[answer or AIMessage("All fine.")])
    chain = GuardRunnable(guard) | model | GuardRunnable(guard, surface="output", on_block="refuse")
    return backend, model, chain.invoke(history)


def _middleware(
    history: list[BaseMessage], answer: BaseMessage | None
) -> tuple[ScriptedBackend, RecordingModel, Any]:
    guard, backend = scripted_guard()
    model = RecordingModel(answers=[answer or AIMessage("All fine."), AIMessage("Done.")])
    agent = create_agent(model, make_tools(Ran()), middleware=[GuardMiddleware(guard)])
    messages = cast(list[AnyMessage | dict[str, Any]], history)  # the agent's input type
    return backend, model, agent.invoke({"messages": messages})["messages"]


def _callbacks(
    history: list[BaseMessage], answer: BaseMessage | None
) -> tuple[ScriptedBackend, RecordingModel, Any]:
    guard, backend = scripted_guard()
    model = RecordingModel(answers=[answer or AIMessage("All fine.")])
    handler = GuardCallbackHandler(guard)
    out = None
    with contextlib.suppress(GuardViolation):
        out = model.invoke(history, config={"callbacks": [handler]})
    return backend, model, out


ADAPTERS: dict[str, Callable[..., tuple[ScriptedBackend, RecordingModel, Any]]] = {
    "runnable": _runnable,
    "middleware": _middleware,
    "callbacks": _callbacks,
}


def run(
    adapter: str, history: list[BaseMessage], answer: BaseMessage | None = None, marker: str = ""
) -> None:
    try:
        backend, model, out = ADAPTERS[adapter](history, answer)
    except (GuardViolation, ContentError):
        return  # refused before anything arrived (what the model saw is checked below)
    check(
        marker,
        backend,
        *(read_by_model(m) for m in model.seen),
        read_by_model(out if isinstance(out, list) else [out] if out is not None else []),
    )


# LangChain hands callbacks a copy formatted for tracing, in which an image block's
# ``extras`` are gone: a callback cannot see them (the middleware and runnables do). Strict:
# the day LangChain passes them on, these start passing and the list must shrink.
CALLBACK_BLIND = {"human.content[image-extras]", "tool.content[image-extras]"}


def _history_cases() -> list[Any]:
    return [
        pytest.param(
            adapter,
            field,
            marks=pytest.mark.xfail(
                strict=True, reason="callbacks get image extras stripped by LangChain"
            ),
        )
        if adapter == "callbacks" and field in CALLBACK_BLIND
        else (adapter, field)
        for adapter in sorted(ADAPTERS)
        for field in sorted(CANARIES)
    ]


@pytest.mark.parametrize("marker", MARKERS)
@pytest.mark.parametrize(("adapter", "field"), _history_cases())
def test_a_marker_in_any_field_of_the_history(adapter: str, field: str, marker: str) -> None:
    run(adapter, [HumanMessage("hello"), CANARIES[field](marker)], marker=marker)


@pytest.mark.parametrize("marker", MARKERS)
@pytest.mark.parametrize("field", sorted(ANSWERS))
@pytest.mark.parametrize("adapter", sorted(ADAPTERS))
def test_a_marker_in_any_field_of_the_answer(adapter: str, field: str, marker: str) -> None:
    run(adapter, [HumanMessage("hello")], ANSWERS[field](marker), marker=marker)


def test_the_unsafe_marker_is_actually_judged_unsafe_everywhere() -> None:
    """The suite cannot pass vacuously: each unsafe canary is refused, by a verdict or a
    ContentError, by each adapter, and each safe one reaches the model screened."""
    for field, make in CANARIES.items():
        backend, model, _ = _runnable([HumanMessage("hi"), make("zebra-7f3")], None)
        assert "zebra-7f3" in asked(backend), field
        assert "zebra-7f3" in read_by_model(model.seen[0]), field
        with pytest.raises((GuardViolation, ContentError)):
            _runnable([HumanMessage("hi"), make("bomb-7f3")], None)


# -- Hypothesis: shapes, nesting and combinations --------------------------------------------

_json = st.recursive(
    st.one_of(st.integers(), st.booleans(), st.text(alphabet="abc xyz", max_size=6)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["a", "b", "note", "x y"]), inner, max_size=3),
    ),
    max_leaves=8,
)


@st.composite
def nested(draw: st.DrawFn, marker: str) -> Any:
    """JSON-like data with the marker at a random depth and position."""
    value: Any = marker
    for _ in range(draw(st.integers(0, 4))):
        sibling = draw(_json)
        value = draw(
            st.sampled_from(
                [[sibling, value], [value], {"k": value, "s": sibling}, {"deep": {"er": value}}]
            )
        )
    return value


def _shaped(draw: st.DrawFn, marker: str) -> BaseMessage:
    value = draw(nested(marker))
    return draw(
        st.sampled_from(
            [
                HumanMessage("hi", additional_kwargs={"meta": value}),
                HumanMessage([{"type": "text", "text": "hi", "extras": {"v": value}}]),
                AIMessage("", tool_calls=[{"name": "lookup", "args": {"q": value}, "id": "c1"}]),
                AIMessage("ok", additional_kwargs={"provider": value}),
                ToolMessage("done", tool_call_id="c1", artifact=value),
                ToolMessage(
                    [
                        {
                            "type": "server_tool_result",
                            "tool_call_id": "s",
                            "status": "success",
                            "output": value,
                        }
                    ],
                    tool_call_id="c1",
                ),
            ]
        )
    )


@st.composite
def histories(draw: st.DrawFn, marker: str) -> list[BaseMessage]:
    """Several canaries (plain fields and nested shapes) in one conversation."""
    picked = draw(
        st.lists(st.sampled_from(sorted(set(CANARIES) - CALLBACK_BLIND)), min_size=1, max_size=3)
    )
    messages = [CANARIES[name](marker) for name in picked]
    messages += [_shaped(draw, marker) for _ in range(draw(st.integers(0, 2)))]
    return [HumanMessage("hello"), *draw(st.permutations(messages))]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    marker=st.sampled_from(MARKERS),
    adapter=st.sampled_from(["runnable", "callbacks"]),
)
def test_generated_histories_through_chains(data: st.DataObject, marker: str, adapter: str) -> None:
    run(adapter, data.draw(histories(marker)), marker=marker)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), marker=st.sampled_from(MARKERS))
def test_generated_histories_and_answers_through_an_agent(data: st.DataObject, marker: str) -> None:
    history = data.draw(histories(marker))
    answer = data.draw(st.sampled_from([None, *(make(marker) for make in ANSWERS.values())]))
    run("middleware", history, answer, marker=marker)


def test_the_tool_gets_only_screened_arguments() -> None:
    """A marker in a tool call's arguments reaches the tool only once judged safe."""
    for marker in MARKERS:
        guard, backend = scripted_guard()
        ran = Ran()
        call = {"name": "lookup", "args": {"query": f"notes on {marker}"}, "id": "c1"}
        model = RecordingModel(answers=[AIMessage("", tool_calls=[call]), AIMessage("ok")])
        create_agent(model, make_tools(ran), middleware=[GuardMiddleware(guard)]).invoke(
            {"messages": [HumanMessage("look it up")]}
        )
        check(marker, backend, json.dumps(ran.calls))
        assert bool(ran.calls) is marker.startswith("zebra")
