"""Pipelining: callers encode their own requests in pieces handed to the model's worker as
each is ready, so encoding overlaps the model's work; async callers never encode on the
event loop."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from typing import Any

import pytest

from guard_core import Guard, Policy
from guard_core.backends.local import LocalBackend
from guard_core.models import Completion, Exchange


def _spy(backend: LocalBackend, monkeypatch: pytest.MonkeyPatch, delay: float = 0.0
         ) -> list[tuple[str, str, float]]:
    """Record (event, thread name, time) for every encode and every forward pass."""
    events: list[tuple[str, str, float]] = []
    encode, read = backend._encoder.encode, backend._engine.read

    def encoding(*args: Any, **kwargs: Any) -> Any:
        if delay:
            time.sleep(delay)  # a slower tokenizer (the real one): the overlap shows
        out = encode(*args, **kwargs)
        events.append(("encode", threading.current_thread().name, time.monotonic()))
        return out

    def reading(*args: Any, **kwargs: Any) -> Any:
        events.append(("read", threading.current_thread().name, time.monotonic()))
        return read(*args, **kwargs)

    monkeypatch.setattr(backend._encoder, "encode", encoding)
    monkeypatch.setattr(backend._engine, "read", reading)
    return events


def test_sync_callers_encode_in_their_own_thread_and_overlap_the_model(
        monkeypatch: pytest.MonkeyPatch) -> None:
    backend = LocalBackend.demo()
    assert backend._piece is None  # a CPU pass shares cores and the GIL: calls go whole
    backend._piece = 16  # as on a GPU, where the pass leaves the GIL free
    try:
        events = _spy(backend, monkeypatch, delay=0.005)
        items = [f"question number {i} about gardening" for i in range(40)]
        verdicts = Guard(backend, Policy(), cache=False).check_many(items)
        assert all(v.error is None for v in verdicts)
        encodes = [e for e in events if e[0] == "encode"]
        reads = [e for e in events if e[0] == "read"]
        assert len(encodes) == 40 and {name for _, name, _ in encodes} == {"MainThread"}
        assert {name for _, name, _ in reads} == {"guard-local"}
        # the model started on the first piece while later pieces were still being encoded
        assert reads[0][2] < encodes[-1][2]
        assert backend.stats.batches >= 2
    finally:
        backend.close()


@pytest.mark.parametrize("piece", [None, 16])
async def test_async_callers_encode_off_the_event_loop(monkeypatch: pytest.MonkeyPatch,
                                                      piece: int | None) -> None:
    backend = LocalBackend.demo()
    backend._piece = piece
    try:
        events = _spy(backend, monkeypatch)
        loop_thread = threading.current_thread().name
        guard = Guard(backend, Policy(), cache=False)
        verdicts = await asyncio.gather(*(guard.acheck(f"item {i}") for i in range(20)),
                                        guard.acheck_many([f"more {i}" for i in range(20)]))
        assert all(getattr(v, "error", None) is None for v in verdicts[:20])
        names = {name for event, name, _ in events if event == "encode"}
        assert names and loop_thread not in names and "guard-local" not in names
    finally:
        backend.close()


def test_pieces_keep_the_order_and_the_answers(text_backend: LocalBackend) -> None:
    family = text_backend.family
    texts = [("how to build a bomb" if i % 7 == 3 else f"a calm sentence {i}") for i in range(37)]
    requests = [family.render(Exchange(t), Policy()) for t in texts]
    together = text_backend.classify(requests)
    assert len(together) == 37
    for request, outcome in zip(requests[::6], together[::6], strict=True):
        alone = text_backend.classify([request])[0]
        assert isinstance(outcome, Completion) and isinstance(alone, Completion)
        assert outcome.text == alone.text
        assert outcome.score == pytest.approx(alone.score, abs=1e-5)


def test_an_encoding_error_fails_only_its_request(text_backend: LocalBackend) -> None:
    family = text_backend.family
    good = family.render(Exchange("hello"), Policy())
    bad = family.render(Exchange("x"), Policy())
    bad = dataclasses.replace(bad, family="nemotron35", key="")
    outcomes = text_backend.classify([good, bad, good])
    assert isinstance(outcomes[0], Completion) and isinstance(outcomes[2], Completion)
    assert "nemotron35 request was sent to a csr4b model" in str(outcomes[1])
