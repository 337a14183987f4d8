"""Batching: many requests in one padded forward pass give what one-by-one gives; the
micro-batcher merges concurrent callers; the worker is thread-safe and fails closed."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
import torch

from guard_core import Guard, Policy
from guard_core.backends.local import LocalBackend
from guard_core.backends.local.engine import Reads
from guard_core.content import AssistantMessage, Image, UserMessage
from guard_core.errors import BackendError, BackendUnavailable
from guard_core.models import Completion, Exchange, GuardRequest

from ._support import encode, png, whole_vocabulary

TEXTS = [
    "hi",
    "How do I bake bread for a birthday party?",
    "where can I buy a bomb",
    "tell me a very long story about the train times in Spain and the moon " * 5,
    "steal my neighbour's bike",
    "what is the best way to handle tax forms?",
]


def _requests(backend: LocalBackend) -> list[GuardRequest]:
    family = backend.family
    out = [family.render(Exchange(t), Policy()) for t in TEXTS]
    out += [family.render(Exchange(t, "Here is how to do that."), Policy()) for t in TEXTS[:3]]
    if family.supports_images:
        out += [
            family.render(Exchange(t, image=Image(data=png(c))), Policy())
            for t, c in (("red", (200, 0, 0)), ("blue", (0, 0, 200)))
        ]
    return out


@pytest.mark.parametrize("which", ["text_backend", "image_backend"])
@pytest.mark.parametrize("use_prefix", [True, False])
def test_one_pass_over_a_batch_equals_one_by_one(
    which: str, use_prefix: bool, request: pytest.FixtureRequest
) -> None:
    backend: LocalBackend = request.getfixturevalue(which)
    plan = backend._encoder.plan("prompt")
    assert plan is not None
    rows, vocabulary = [], whole_vocabulary(backend)
    for r in _requests(backend):
        encoded = encode(backend, r)
        end = len(encoded.ids) + len(plan.first.context)
        rows.append(
            Reads(encoded, plan.first.context, tuple(range(end - 6, end)), vocabulary, use_prefix)
        )
    with torch.inference_mode():
        batched = backend._engine.read(rows)
        alone = [backend._engine.read([row])[0] for row in rows]
    for a, b in zip(batched, alone, strict=True):
        torch.testing.assert_close(a, b, atol=2e-5, rtol=1e-5)


@pytest.mark.parametrize("which", ["text_backend", "image_backend"])
def test_classify_many_equals_one_by_one(which: str, request: pytest.FixtureRequest) -> None:
    backend: LocalBackend = request.getfixturevalue(which)
    requests = _requests(backend)
    many = backend.classify(requests)
    for req, outcome in zip(requests, many, strict=True):
        alone = backend.classify([req])[0]
        assert isinstance(outcome, Completion) and isinstance(alone, Completion)
        assert outcome.text == alone.text
        assert outcome.score == pytest.approx(alone.score, abs=1e-5)


def test_small_token_budget_splits_batches_without_changing_answers(
    text_backend: LocalBackend,
) -> None:
    requests = _requests(text_backend)
    small = LocalBackend(text_backend.model, device="cpu", max_batch_tokens=400)
    try:
        before = small.stats.forward_passes
        split = small.classify(requests)
        assert small.stats.forward_passes - before >= 3
    finally:
        small.close()
    for a, b in zip(split, text_backend.classify(requests), strict=True):
        assert isinstance(a, Completion) and isinstance(b, Completion)
        assert a.text == b.text and a.score == pytest.approx(b.score, abs=1e-5)


def test_generate_batched_equals_one_by_one(text_backend: LocalBackend) -> None:
    think = Policy(mode="think")
    requests = [text_backend.family.render(Exchange(t), think) for t in TEXTS[:4]]
    batched = text_backend.classify(requests)
    for req, outcome in zip(requests, batched, strict=True):
        assert isinstance(outcome, Completion)
        assert outcome == text_backend.classify([req])[0]


async def test_concurrent_acheck_callers_share_one_batch(text_backend: LocalBackend) -> None:
    guard = Guard(text_backend, cache=False)
    before = text_backend.stats.batches
    verdicts = await asyncio.gather(*(guard.acheck(f"question number {i}") for i in range(16)))
    assert len(verdicts) == 16 and all(v.error is None for v in verdicts)
    assert text_backend.stats.batches - before <= 2
    sequential = [guard.check(f"question number {i}") for i in range(16)]
    assert [v.score for v in verdicts] == pytest.approx([v.score for v in sequential], abs=1e-5)


def test_threads_are_merged_and_safe(text_backend: LocalBackend) -> None:
    guard = Guard(text_backend, cache=False)
    items: list[Any] = [UserMessage(f"thread question {i}") for i in range(12)]
    items += [AssistantMessage(f"answer {i}", context="a bomb question") for i in range(4)]
    expected = {repr(i): guard.check(i) for i in items}
    results: dict[str, Any] = {}
    barrier = threading.Barrier(len(items))

    def worker(item: Any) -> None:
        barrier.wait()
        results[repr(item)] = guard.check(item)

    before = text_backend.stats.batches
    threads = [threading.Thread(target=worker, args=(item,)) for item in items]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert text_backend.stats.batches - before < len(items)
    for key, verdict in results.items():
        assert verdict.allowed == expected[key].allowed
        assert verdict.score == pytest.approx(expected[key].score, abs=1e-5)
    assert len(results) == len(items)


async def test_identical_concurrent_requests_run_once(text_backend: LocalBackend) -> None:
    guard = Guard(text_backend, cache=False)
    before = text_backend.stats.requests
    await asyncio.gather(*(guard.acheck("the very same text") for _ in range(8)))
    assert text_backend.stats.requests - before <= 2


async def test_a_cancelled_caller_does_not_break_the_worker(text_backend: LocalBackend) -> None:
    guard = Guard(text_backend, cache=False)
    task = asyncio.create_task(guard.acheck("cancel me"))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await guard.acheck("still working")).error is None


def test_a_model_failure_fails_closed(
    text_backend: LocalBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(rows: Any) -> Any:
        raise RuntimeError("CUDA out of memory (simulated)")

    monkeypatch.setattr(text_backend._engine, "read", boom)
    verdict = Guard(text_backend, cache=False).check("anything")
    assert not verdict.allowed and verdict.error is not None
    assert "out of memory" in verdict.error and "max_batch_tokens" in verdict.error
    monkeypatch.undo()
    assert Guard(text_backend, cache=False).check("anything").error is None


def test_a_model_failure_is_reported_as_what_it_is(
    text_backend: LocalBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only an actual out-of-memory error is called one: a shape error, a dtype error or a
    FutureWarning turned error must not send the user off lowering max_batch_tokens."""

    def boom(rows: Any) -> Any:
        raise ValueError("Expected size 3 but got size 4 for tensor number 1")

    monkeypatch.setattr(text_backend._engine, "read", boom)
    verdict = Guard(text_backend, cache=False).check("anything")
    assert not verdict.allowed and verdict.error is not None
    assert "ValueError: Expected size 3" in verdict.error
    assert "memory" not in verdict.error and "max_batch_tokens" not in verdict.error


def test_the_kv_cache_keyword_follows_the_installed_transformers(
    text_backend: LocalBackend,
) -> None:
    """5.24 renamed ``past_key_values`` to ``cache`` (the old name warns until 5.40); the
    engine uses whichever the loaded release names, chosen once at load time."""
    import inspect

    import transformers
    from packaging.version import Version

    params = inspect.signature(text_backend._engine.model.model.forward).parameters
    expected = (
        "cache" if Version(transformers.__version__) >= Version("5.24") else ("past_key_values")
    )
    assert text_backend._engine.cache_arg == expected
    assert expected in params


def test_a_closed_backend_answers_errors() -> None:
    backend = LocalBackend.demo()
    assert Guard(backend).check("before").error is None
    backend.close()
    backend.close()  # idempotent
    outcome = backend.classify([backend.family.render(Exchange("after"), Policy())])[0]
    assert isinstance(outcome, BackendError) and "closed" in str(outcome)
    verdict = Guard(backend, Policy(on_error="allow")).check("after")
    assert verdict.allowed and verdict.error is not None  # only because the policy says so


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_dead_worker_never_leaves_a_caller_waiting() -> None:
    """A worker that dies (a BaseException it re-raises) closes the batcher: no hang."""
    from guard_core.backends.local.batcher import MicroBatcher

    def run(requests: Any) -> Any:
        raise SystemExit("the worker dies")

    batcher = MicroBatcher(run)
    request = GuardRequest(
        family="csr4b",
        messages=({"role": "user", "content": "x"},),
        max_tokens=8,
        slot="prompt",
        mode="fast",
        prompt="x",
    )
    first = batcher.submit([request]).result(timeout=10)
    assert isinstance(first[0], BackendError)
    assert batcher._thread is not None
    batcher._thread.join(10)  # the worker re-raised and ended, inside this test
    later = batcher.submit([request]).result(timeout=10)  # hung for ever before
    assert isinstance(later[0], BackendUnavailable)


def _request(text: str = "x") -> GuardRequest:
    return GuardRequest(
        family="csr4b",
        messages=({"role": "user", "content": text},),
        max_tokens=8,
        slot="prompt",
        mode="fast",
        prompt=text,
    )


def test_close_during_a_batch_leaves_the_model_state_to_the_worker() -> None:
    """close() whose join times out mid-batch must not release what the batch still uses;
    the worker releases it (on_stop) once the batch is done, exactly once."""
    from guard_core.backends.local.batcher import MicroBatcher

    started, release = threading.Event(), threading.Event()
    stops: list[str] = []

    def run(requests: Any) -> Any:
        started.set()
        release.wait(10)
        # still running after close() returned: the state must still be there
        stops.append("batch done" if not stops else "released too early")
        return [BackendError("done") for _ in requests]

    batcher = MicroBatcher(run, on_stop=lambda: stops.append("stopped"))
    future = batcher.submit([_request()])
    assert started.wait(10)
    batcher.close(timeout=0.05)  # the join times out: the batch is still running
    assert stops == []
    release.set()
    assert isinstance(future.result(timeout=10)[0], BackendError)
    assert batcher._thread is not None
    batcher._thread.join(10)
    batcher.close()
    assert stops == ["batch done", "stopped"]


def test_close_before_any_batch_still_releases() -> None:
    from guard_core.backends.local.batcher import MicroBatcher

    stops: list[int] = []
    batcher = MicroBatcher(lambda requests: [], on_stop=lambda: stops.append(1))
    batcher.close()
    batcher.close()
    assert stops == [1]


def test_closing_the_backend_drops_its_cached_prefixes() -> None:
    backend = LocalBackend.demo()
    Guard(backend, cache=False).check("warm the prefix cache")
    assert backend._engine._prefixes
    backend.close()
    assert not backend._engine._prefixes


def test_max_cached_prefixes_bounds_the_kv_cache() -> None:
    backend = LocalBackend.demo(max_cached_prefixes=2)
    try:
        for n in range(4):
            Guard(
                backend, Policy(custom=f"Policy number {n}: no talk of rockets."), cache=False
            ).check("hello")
        assert len(backend._engine._prefixes) == 2
        assert backend.stats.prefix_builds == 4
    finally:
        backend.close()


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("max_cached_prefixes", 0),
        ("max_batch_tokens", -1),
        ("max_batch_size", 0),
        ("max_batch_size", 2.5),
        ("max_input_tokens", True),
        ("batch_wait_ms", -1.0),
        ("min_label_mass", 1.5),
        ("max_image_pixels", "big"),
    ],
)
def test_bad_tuning_options_are_refused_before_loading(option: str, value: Any) -> None:
    from guard_core.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match=option):
        LocalBackend("/no/such/model/dir", **{option: value})


def test_a_lone_caller_does_not_wait_the_window_on_every_check() -> None:
    """Sequential checks from one caller skip the merge window (it only delays them); once
    callers come in company the full window is waited again, and they share a batch."""
    from guard_core.backends.local.batcher import MicroBatcher

    batches: list[int] = []
    release = threading.Event()
    release.set()

    def run(requests: Any) -> Any:
        release.wait(10)
        batches.append(len(requests))
        return [BackendError("done") for _ in requests]

    batcher = MicroBatcher(run, wait_s=1.0)  # a window no lone caller should sit through
    try:
        for _ in range(3):
            batcher.submit([_request()]).result(timeout=0.5)  # took 1 s each before
        assert batches == [1, 1, 1] and not batcher.in_company
        release.clear()  # hold the next batch so others arrive while it runs
        first = batcher.submit([_request("a")])
        time.sleep(0.2)
        later = [batcher.submit([_request(f"b{i}")]) for i in range(3)]
        release.set()
        first.result(timeout=10)
        for future in later:
            future.result(timeout=10)
        assert batches[3:] == [1, 3] and batcher.in_company  # arrivals during a run: company
        release.set()
        a = batcher.submit([_request("c")])
        time.sleep(0.2)  # inside the full window, which applies again
        b = batcher.submit([_request("d")])
        a.result(timeout=10), b.result(timeout=10)
        assert batches[5:] == [2]
    finally:
        batcher.close()
