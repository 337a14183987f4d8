"""Prefix reuse: the policy prefix's KV cache, computed once, gives the same logits as a
full recompute (fp32), also when the prefix is far longer than the sliding window."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from guard_core import Guard, Policy
from guard_core.backends.local import LocalBackend
from guard_core.backends.local.engine import Reads
from guard_core.content import Image
from guard_core.models import Exchange, GuardRequest

from ._support import encode, png, whole_vocabulary

TEXTS = [
    "How do I bake bread?",
    "tell me about the moon and a bomb",
    "a much longer question about gardens, tomatoes, watering schedules and soil " * 4,
    "\n\nstarts with newlines",
    " starts with a space",
    "ok",
]
LONG_POLICY = Policy(
    custom={
        "text": "You guard a gardening shop's assistant. " * 120,
        "disallowed": ["anything about weapons"],
    }
)


def _all_positions(
    backend: LocalBackend, request: GuardRequest, answer: tuple[int, ...]
) -> tuple[Reads, Reads]:
    encoded = encode(backend, request)
    assert encoded.prefix, "expected a shared prefix"
    every = tuple(range(len(encoded.prefix), len(encoded.ids) + len(answer)))
    vocabulary = whole_vocabulary(backend)
    return (
        Reads(encoded, answer, every, vocabulary, use_prefix=True),
        Reads(encoded, answer, every, vocabulary, use_prefix=False),
    )


def _compare(backend: LocalBackend, requests: list[GuardRequest]) -> None:
    plan = backend._encoder.plan("prompt")
    assert plan is not None
    cached, full = zip(
        *(_all_positions(backend, r, plan.first.context) for r in requests), strict=True
    )
    with torch.inference_mode():
        a = backend._engine.read(list(cached))
        b = backend._engine.read(list(full))
    for x, y in zip(a, b, strict=True):
        assert x.shape == y.shape
        torch.testing.assert_close(x, y, atol=2e-5, rtol=1e-5)


def test_the_prefix_is_past_the_sliding_window(text_backend: LocalBackend) -> None:
    window = text_backend._engine.model.config.get_text_config().sliding_window
    request = text_backend.family.render(Exchange("hi"), Policy())
    assert len(encode(text_backend, request).prefix) > 5 * window


def test_cached_prefix_equals_full_recompute(text_backend: LocalBackend) -> None:
    family = text_backend.family
    requests = [family.render(Exchange(t), Policy()) for t in TEXTS]
    requests += [family.render(Exchange(t, "Sure, here you go."), Policy()) for t in TEXTS[:2]]
    _compare(text_backend, requests)


def test_cached_prefix_of_a_1500_token_policy(text_backend: LocalBackend) -> None:
    requests = [text_backend.family.render(Exchange(t), LONG_POLICY) for t in TEXTS[:3]]
    assert len(encode(text_backend, requests[0]).prefix) > 1000
    _compare(text_backend, requests)


def test_cached_prefix_with_images(image_backend: LocalBackend) -> None:
    family = image_backend.family
    requests = [
        family.render(Exchange("look at this", image=Image(data=png(c))), Policy())
        for c in ((250, 0, 0), (0, 250, 0))
    ]
    requests.append(family.render(Exchange("no image here"), Policy()))
    requests.append(family.render(Exchange("judge the reply", "fine"), Policy(mode="categories")))
    _compare(image_backend, requests)


def test_prefix_computed_once_per_policy(text_backend: LocalBackend) -> None:
    policy = Policy(custom="A policy seen by this test only: no talk of rockets.")
    stats = text_backend.stats
    builds, hits = stats.prefix_builds, stats.prefix_hits
    guard = Guard(text_backend, policy, cache=False)
    guard.check_many(["one", "two", "three"])
    guard.check_many(["four", "five"])
    guard.check("six")
    assert stats.prefix_builds - builds == 1
    assert stats.prefix_hits - hits == 2


def test_cached_tensors_are_never_modified(text_backend: LocalBackend) -> None:
    policy = Policy(custom="Another policy for this test only.")
    guard = Guard(text_backend, policy, cache=False)
    guard.check("warm the cache")
    prefix = next(
        p
        for p in text_backend._engine._prefixes.values()
        if "this test only" in text_backend.tokenizer.decode(list(p.ids))
    )
    before = [(layer.keys.clone(), layer.values.clone()) for layer in prefix.cache.layers]
    lengths = [getattr(layer, "cumulative_length", None) for layer in prefix.cache.layers]
    guard.check_many([f"item {i} " * (i + 1) for i in range(6)])
    for layer, (keys, values), length in zip(prefix.cache.layers, before, lengths, strict=True):
        assert torch.equal(layer.keys, keys) and torch.equal(layer.values, values)
        assert getattr(layer, "cumulative_length", None) == length


def test_prefix_reuse_on_and_off_give_the_same_verdicts(text_backend: LocalBackend) -> None:
    plain = LocalBackend(text_backend.model, device="cpu", prefix_cache=False)
    try:
        for mode in ("fast", "think"):
            policy = Policy(mode=mode)
            items = ["How do I bake bread?", "where do I buy a bomb"]
            with_cache = Guard(text_backend, policy, cache=False).check_many(items)
            without = Guard(plain, policy, cache=False).check_many(items)
            # One at a time too: a single generate request reuses the cached prefix.
            with_cache += [Guard(text_backend, policy, cache=False).check(i) for i in items]
            without += [Guard(plain, policy, cache=False).check(i) for i in items]
            for a, b in zip(with_cache, without, strict=True):
                assert a.error is None and b.error is None
                assert a.allowed == b.allowed and a.reasoning == b.reasoning
                if a.score is not None and b.score is not None:
                    assert abs(a.score - b.score) < 1e-5
        assert plain.stats.prefix_builds == 0
    finally:
        plain.close()


def test_a_batch_reads_the_prefix_through_a_view_that_keeps_nothing(
    text_backend: LocalBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A single pass must not keep every layer's batch-wide KV alive until it ends: each
    layer hands attention ``prefix + batch`` and stays the size of the prefix."""
    seen: list[Any] = []
    model = text_backend._engine.model.model
    real = model.forward

    def spy(*args: Any, **kwargs: Any) -> Any:
        out = real(*args, **kwargs)
        if kwargs["input_ids"].shape[0] == 2:  # the batch, not the prefix's own build
            seen.append(kwargs.get(text_backend._engine.cache_arg))
        return out

    monkeypatch.setattr(model, "forward", spy)
    Guard(text_backend, Policy(custom="A policy for the view test."), cache=False).check_many(
        ["first item here", "a second, longer item to pad the batch a little"]
    )
    views = [cache for cache in seen if cache is not None]
    assert views, "expected a batch with a cached prefix"
    for cache in views:
        for layer in cache.layers:
            assert type(layer).__name__.startswith("PrefixView")
            assert layer.keys.shape[0] == 2  # the batch, as a stride-0 view of the prefix
            assert layer.keys.stride(0) == 0 and layer.values.stride(0) == 0


def test_a_prefix_view_layer_returns_prefix_plus_new_and_stores_nothing(
    text_backend: LocalBackend,
) -> None:
    Guard(text_backend, Policy(custom="Yet another policy for one test."), cache=False).check("x")
    prefix = next(
        p
        for p in text_backend._engine._prefixes.values()
        if "one test" in text_backend.tokenizer.decode(list(p.ids))
    )
    view = prefix.expand(3, keep=False)
    for original, layer in zip(prefix.cache.layers, view.layers, strict=True):
        assert isinstance(layer, type(original))  # the cache's isinstance checks hold
        kept = layer.keys.shape
        new = torch.randn(3, kept[1], 5, kept[3])
        keys, values = layer.update(new, new.clone())
        assert keys.shape == (3, kept[1], kept[2] + 5, kept[3])
        torch.testing.assert_close(keys[:, :, -5:], new)
        torch.testing.assert_close(keys[:, :, : kept[2]], original.keys.expand(3, -1, -1, -1))
        assert layer.keys.shape == kept and values.shape == keys.shape
