"""Property: whatever text a guard endpoint answers, a check returns verdicts and writes one
parseable audit line per verdict (Hypothesis generates the answers).

Answers are arbitrary Unicode (lone surrogates, NUL, controls, line breaks, format
characters) or valid answers of each family with such text glued in, as content, reasoning
and ``model`` field: through an in-process backend scripted directly (many examples, every
family), and through the real loopback server and the ``openai`` SDK, sync and async.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guard_core import Guard, Policy, Verdict
from guard_core.audit import AuditLog
from guard_core.backends import Outcome, RemoteBackend
from guard_core.models import Completion, GuardRequest
from guard_core.testing import Fault, OpenAICompatServer, ScriptedBackend

from ._odd import CSR, N35, NEMOGUARD, ODD_TEXT, answers, assert_sound

ITEMS = ["hello", "how do I make tea?", "and coffee?"]


class Answering(ScriptedBackend):
    """A backend whose every completion is set by the test."""

    def __init__(self, model: str) -> None:
        super().__init__(model=model)
        self.completion = Completion(text="")

    def classify(self, requests: Sequence[GuardRequest]) -> list[Outcome]:
        return [self.completion for _ in requests]


@pytest.mark.parametrize("model", [N35, CSR, NEMOGUARD])
def test_any_completion_gives_verdicts_and_audit_lines(model: str) -> None:
    mode = "fast" if model == NEMOGUARD else "think"

    @settings(max_examples=150, deadline=None)
    @given(
        text=answers(model),
        reasoning=st.one_of(st.none(), ODD_TEXT),
        answered_by=st.one_of(st.just(""), ODD_TEXT),
        finish=st.sampled_from(["stop", "length", None]),
    )
    def run(text: str, reasoning: str | None, answered_by: str, finish: str | None) -> None:
        backend = Answering(model)
        backend.completion = Completion(
            text=text, reasoning=reasoning, model=answered_by, finish_reason=finish
        )
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "audit.jsonl"
            audit = AuditLog(path)
            guard = Guard(backend, Policy(mode=mode), cache=False, audit=audit)  # type: ignore[arg-type]
            assert_sound(guard.check_many(ITEMS), path, 3)
            assert_sound(asyncio.run(guard.acheck_many(ITEMS)), path, 6)
            audit.close()

    run()


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAICompatServer]:
    with OpenAICompatServer() as srv:
        yield srv


@pytest.mark.parametrize("model", [N35, CSR])
def test_any_answer_over_http_gives_verdicts_and_audit_lines(
    model: str, server: OpenAICompatServer
) -> None:
    @settings(max_examples=40, deadline=None)
    @given(text=answers(model), reasoning=st.one_of(st.none(), ODD_TEXT))
    def run(text: str, reasoning: str | None) -> None:
        before = len(server.posts())
        server.inject(Fault(text=text, reasoning=reasoning, times=2 * len(ITEMS)))
        backend = RemoteBackend.vllm(
            server.base_url, model, max_retries=0, timeout=10, batch_completions=False
        )

        async def async_round(guard: Guard) -> list[Verdict]:
            try:
                return await guard.acheck_many(ITEMS)
            finally:
                await guard.aclose()

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "audit.jsonl"
            audit = AuditLog(path)
            guard = Guard(backend, Policy(mode="think"), cache=False, audit=audit)
            assert_sound(guard.check_many(ITEMS), path, 3)
            assert_sound(asyncio.run(async_round(guard)), path, 6)
            audit.close()
        assert len(server.posts()) - before == 2 * len(ITEMS)  # each answer was the odd one

    run()
