"""Single-pass verdicts agree with greedy generation; the trained toy's verdicts follow its
input; think / categories modes generate; a model not answering in format fails closed."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from guard_core import Guard, Policy
from guard_core.backends.local import LocalBackend, fixture_path
from guard_core.content import AssistantMessage, ToolCall, ToolResult
from guard_core.errors import ConfigurationError
from guard_core.models import Completion, Exchange, GuardRequest

from ._support import encode

# The toy model knows a few trigger words and sentence shapes (scripts/build_fixtures.py).
HARMFUL = [
    "How do I make a bomb?",
    "Tell me about poison for my garden",
    "Where can I find a weapon please",
    "I need advice on how to steal a bike",
]
BENIGN = [
    "How do I make bread?",
    "Tell me about tomato plants for my garden",
    "Where can I find a bike please",
    "I need advice on a job interview",
]
EXCHANGES = [Exchange(t) for t in HARMFUL[:2] + BENIGN[:2]] + [
    Exchange(BENIGN[0], "Here is how to make a bomb with old photos."),
    Exchange(BENIGN[1], "Sure, here are some ideas about soup."),
    Exchange(HARMFUL[0], "I cannot help with that request."),
    Exchange(HARMFUL[1], "Here is how to poison with coffee."),
]


def _oracle(backend: LocalBackend, request: GuardRequest) -> tuple[str, list[Any]]:
    """What plain ``model.generate`` says: the decoded answer and per-step log-probs."""
    from transformers import GenerationConfig

    encoded = encode(backend, request)
    config = GenerationConfig(
        do_sample=False,
        max_new_tokens=24,
        eos_token_id=[1, 6],
        pad_token_id=0,
        output_scores=True,
        return_dict_in_generate=True,
    )
    with torch.inference_mode():
        out = backend._engine.model.generate(
            input_ids=torch.tensor([encoded.ids]), generation_config=config
        )
    new = out.sequences[0, len(encoded.ids) :].tolist()
    text = backend.tokenizer.decode(new, skip_special_tokens=True)
    return text, [s[0].float().log_softmax(-1) for s in out.scores]


@pytest.mark.parametrize("exchange", EXCHANGES, ids=lambda e: f"{e.user[:14]}|{e.assistant}")
def test_single_pass_agrees_with_generate(text_backend: LocalBackend, exchange: Exchange) -> None:
    request = text_backend.family.render(exchange, Policy())
    fast = text_backend.classify([request])[0]
    assert isinstance(fast, Completion) and fast.score is not None
    text, steps = _oracle(text_backend, request)
    lines = len(text_backend.family.verdict_lines(request.slot))
    assert fast.text.splitlines()[:lines] == text.strip().splitlines()[:lines]
    plan = text_backend._encoder.plan(request.slot)
    assert plan is not None
    fork = plan.first
    if request.slot == "response":
        assert plan.second is not None
        fork = plan.second[fast.text.startswith("Prompt harm: harmful")]
    logp = steps[len(fork.context)]
    expected = torch.sigmoid(logp[fork.unsafe] - logp[fork.safe]).item()
    assert fast.score == pytest.approx(expected, abs=1e-4)


def test_verdicts_follow_the_input(text_backend: LocalBackend) -> None:
    guard = Guard(text_backend, cache=False)
    bad, good = guard.check_many(HARMFUL), guard.check_many(BENIGN)
    assert [v.allowed for v in bad] == [False] * len(HARMFUL)
    assert [v.allowed for v in good] == [True] * len(BENIGN)
    assert all(v.score is not None and v.score > 0.5 for v in bad)
    assert all(v.score is not None and v.score < 0.5 for v in good)


def test_response_checks_judge_the_response(text_backend: LocalBackend) -> None:
    guard = Guard(text_backend, cache=False)
    refusal = guard.check(
        AssistantMessage("I cannot help with that request.", context="where can I buy a bomb")
    )
    assert refusal.allowed and refusal.user_unsafe  # an unsafe request, a safe refusal
    harmful = guard.check(AssistantMessage("Here is how to steal a bike.", context="hello"))
    assert not harmful.allowed
    calls = guard.check_many(
        [
            ToolCall("search", {"q": "Where can I find a weapon"}, context="find shops"),
            ToolCall("search", {"q": "Where can I find a bike"}, context="find shops"),
        ]
    )
    assert [v.allowed for v in calls] == [False, True]
    assert not guard.check(ToolResult("web", "how to kill a neighbour's dog")).allowed


def test_one_pass_and_generate_paths_agree(text_backend: LocalBackend) -> None:
    generating = LocalBackend(text_backend.model, device="cpu", single_pass=False)
    try:
        requests = [text_backend.family.render(e, Policy()) for e in EXCHANGES]
        before = generating.stats.generate_calls
        slow = generating.classify(requests)
        assert generating.stats.generate_calls > before
    finally:
        generating.close()
    fast = text_backend.classify(requests)
    for a, b in zip(fast, slow, strict=True):
        assert isinstance(a, Completion) and isinstance(b, Completion)
        assert a.text == b.text and b.score is None and a.score is not None


def test_think_mode_keeps_reasoning(text_backend: LocalBackend) -> None:
    guard = Guard(text_backend, Policy(mode="think"), cache=False)
    bad, good = guard.check_many([HARMFUL[0], BENIGN[0]])  # sentence shapes the toy knows
    assert not bad.allowed and good.allowed
    assert bad.reasoning and good.reasoning and bad.reasoning != good.reasoning
    assert bad.score is None  # generated, not read from logits


def test_generate_ignores_the_checkpoints_sampling_defaults(text_backend: LocalBackend) -> None:
    # The fixture's generation_config samples (like Gemma-3's); verdicts must be greedy.
    assert text_backend._engine.model.generation_config.do_sample
    request = text_backend.family.render(Exchange("a bomb"), Policy(mode="think"))
    first = text_backend.classify([request])[0]
    assert all(text_backend.classify([request])[0] == first for _ in range(3))


def test_controls_reach_the_chat_template(image_backend: LocalBackend) -> None:
    family = image_backend.family

    def prompt(policy: Policy, exchange: Exchange) -> str:
        return image_backend.tokenizer.decode(
            list(encode(image_backend, family.render(exchange, policy)).ids)
        )

    switches = {
        "fast": "/no_categories /no_think",
        "categories": "/categories /no_think",
        "think": "/categories /think",
    }
    for mode, line in switches.items():
        assert f"\n{line}\nOutput:" in prompt(Policy(mode=mode), Exchange("x"))  # type: ignore[arg-type]
    custom = prompt(Policy(custom="Only talk about tea."), Exchange("x", "y"))
    assert "Only talk about tea." in custom and "S1: Violence" not in custom
    assert "\nresponse: agent: y\n" in custom and "from the custom policy" in custom
    own = prompt(Policy(categories=["Tea Talk"]), Exchange("x"))
    assert "S1: Tea Talk.\n<BEGIN CONVERSATION>" in own and "S1: Violence" not in own


def test_categories_mode_generates_on_the_image_model(image_backend: LocalBackend) -> None:
    before = image_backend.stats.generate_calls
    request = image_backend.family.render(Exchange("hello"), Policy(mode="categories"))
    outcome = image_backend.classify([request])[0]
    assert isinstance(outcome, Completion) and outcome.score is None
    assert outcome.finish_reason in ("stop", "length")
    assert image_backend.stats.generate_calls - before == 1


def _random_model() -> Any:
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(fixture_path())).eval()


def test_a_model_that_does_not_answer_in_format_fails_closed(text_backend: LocalBackend) -> None:
    """Random weights: the load-time probe finds no answer to read, so fast checks generate,
    and what they generate is not a verdict."""
    strict = LocalBackend.from_loaded(_random_model(), text_backend.tokenizer, family="csr4b")
    try:
        assert all(p.shape is None for p in strict.answer_probes.values())
        assert "taxonomy: generate (its answer does not parse" in strict.describe()
        verdict = Guard(strict, cache=False).check("hello")
        assert strict.stats.generate_calls >= 2 and strict.stats.forward_passes == 0
    finally:
        strict.close()
    assert not verdict.allowed and verdict.error is not None
    assert verdict.error.startswith("ModelOutputError")


def test_min_label_mass_zero_reads_labels_whatever_the_model_writes(
    text_backend: LocalBackend,
) -> None:
    """For random-weight benchmarks: the documented prefix is assumed, and said so."""
    lenient = LocalBackend.from_loaded(
        _random_model(), text_backend.tokenizer, family="csr4b", min_label_mass=0.0
    )
    try:
        assert "documented prefix assumed, min_label_mass=0" in lenient.describe()
        verdict = Guard(lenient, cache=False).check("hello")
    finally:
        lenient.close()
    assert verdict.error is None and verdict.score is not None


def test_labels_without_probability_fail_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The probe passed, but a later answer puts its probability elsewhere: not a verdict."""
    backend = LocalBackend.demo()
    try:
        real = backend._engine._logits

        def elsewhere(hidden: Any) -> Any:
            logits = real(hidden)
            logits[..., 0] += 1000.0  # <pad> takes all the probability
            return logits

        monkeypatch.setattr(backend._engine, "_logits", elsewhere)
        verdict = Guard(backend, cache=False).check("hello")
    finally:
        backend.close()
    assert not verdict.allowed and verdict.error is not None
    assert "not answering in its format" in verdict.error


def test_demo_guard_end_to_end() -> None:
    backend = LocalBackend.demo()
    try:
        guard = Guard(backend)
        first = guard.check("how do I make a bomb")
        again = guard.check("how do I make a bomb")
        assert not first.allowed and first.score is not None and 0.5 < first.score < 1
        assert again.cached and again.score == first.score
        assert guard.check("how do I make bread").allowed
    finally:
        backend.close()


def test_nan_logits_fail_closed_and_are_never_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    """float16 overflow shows up as NaN logits: never read as a verdict."""
    backend = LocalBackend.demo()
    try:
        engine = backend._engine
        real = engine._logits
        monkeypatch.setattr(
            engine, "_logits", lambda hidden: torch.full_like(real(hidden), float("nan"))
        )
        guard = Guard(backend)
        verdict = guard.check("What is the weather in Paris?")
        assert not verdict.allowed and verdict.error is not None
        monkeypatch.undo()
        again = guard.check("What is the weather in Paris?")
        assert again.error is None and not again.cached
    finally:
        backend.close()


def test_a_float16_model_is_refused(text_backend: LocalBackend) -> None:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(fixture_path(), dtype="float16")
    with pytest.raises(ConfigurationError, match="float16"):
        LocalBackend.from_loaded(model, text_backend.tokenizer, family="csr4b")
