"""The load-time answer probe: the single pass forces the text the model itself writes before
each label (its spelling, an empty think block), per policy form, and generates where the
model answers with a reasoning trace or not in its format.

The fixtures are trained to write each variant (guard_core/fixtures/README.md): the CSR-4B
toy writes ``Response Harm:`` under its template's instructions and ``Response harm:`` under
a custom policy; the 3.5 toy writes plain lines under its taxonomy, an empty
``<think>\\n\\n</think>`` first under a custom taxonomy, a trace first under a custom policy.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from guard_core import Guard
from guard_core.backends.local import LocalBackend
from guard_core.backends.local.answers import PROBE_POLICIES, assumed_shape
from guard_core.content import AssistantMessage, Item
from guard_core.models import Completion, Exchange

from .conftest import IMAGE_FIXTURE, TEXT_FIXTURE

HARMFUL, BENIGN = "How do I make a bomb?", "How do I make bread?"
REPLIES = ["Here is how to kill with coffee.", "Sure, here are some ideas about soup."]


@pytest.fixture(scope="module")
def text_generating() -> Iterator[LocalBackend]:
    backend = LocalBackend(TEXT_FIXTURE, device="cpu", single_pass=False)
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def image_generating() -> Iterator[LocalBackend]:
    backend = LocalBackend(IMAGE_FIXTURE, device="cpu", single_pass=False)
    yield backend
    backend.close()


def _leads(backend: LocalBackend, form: str) -> list[str] | None:
    shape = backend.answer_probes[form].shape  # type: ignore[index]
    return None if shape is None else [line.lead for line in shape.lines]


def test_the_csr_probe_learns_each_spelling_of_the_second_line(text_backend: LocalBackend) -> None:
    assert _leads(text_backend, "taxonomy") == ["Prompt harm: ", "\nResponse Harm: "]
    assert _leads(text_backend, "custom_taxonomy") == ["Prompt harm: ", "\nResponse Harm: "]
    assert _leads(text_backend, "custom_policy") == ["Prompt harm: ", "\nResponse harm: "]
    for probe in text_backend.answer_probes.values():
        assert probe.answer.startswith("Prompt harm: ") and "prefix learned" in probe.note
    described = text_backend.describe()
    assert "taxonomy: single pass (prefix learned from the model)" in described
    # what was assumed before this probe existed is not what the toy writes
    documented = assumed_shape(text_backend.family)
    assert documented is not None and documented.lines[1].lead == "\nResponse harm: "
    learned = text_backend._encoder.plan("response", "taxonomy")
    assert learned is not None and learned.second is not None
    ids = text_backend._encoder.answer_ids
    assert list(learned.second[0].context) == ids("Prompt harm: unharmful\nResponse Harm:")


@pytest.mark.parametrize("form", ["taxonomy", "custom_taxonomy", "custom_policy"])
def test_csr_single_pass_writes_and_reads_what_generate_does(
    text_backend: LocalBackend, text_generating: LocalBackend, form: str
) -> None:
    policy = PROBE_POLICIES[form]  # type: ignore[index]
    exchanges = [Exchange(HARMFUL), Exchange(BENIGN)]
    exchanges += [Exchange(user, reply) for user in (HARMFUL, BENIGN) for reply in REPLIES]
    requests = [text_backend.family.render(e, policy) for e in exchanges]
    before = text_backend.stats.generate_calls
    fast = text_backend.classify(requests)
    slow = text_generating.classify(requests)
    assert text_backend.stats.generate_calls == before  # all read in one pass
    for a, b in zip(fast, slow, strict=True):
        assert isinstance(a, Completion) and isinstance(b, Completion)
        assert a.text == b.text and a.score is not None and b.score is None


def test_the_n35_probe_learns_plain_lines_and_an_empty_think_block(
    image_backend: LocalBackend,
) -> None:
    assert _leads(image_backend, "taxonomy") == ["User Safety: ", "\nResponse Safety: "]
    empty = "<think>\n\n</think>\n\nUser Safety: "
    assert _leads(image_backend, "custom_taxonomy") == [empty, "\nResponse Safety: "]
    described = image_backend.describe()
    assert "custom_taxonomy: single pass (prefix learned from the model)" in described


def test_a_custom_policy_on_n35_generates_because_the_model_reasons_first(
    image_backend: LocalBackend,
) -> None:
    probe = image_backend.answer_probes["custom_policy"]
    assert probe.shape is None and probe.traced
    assert probe.answer.startswith("<think>\nThe conversation")
    assert "custom_policy: generate (it writes a reasoning trace first)" in image_backend.describe()
    guard = Guard(image_backend, PROBE_POLICIES["custom_policy"], cache=False)
    stats = image_backend.stats
    generated, passes = stats.generate_calls, stats.forward_passes
    bad, good = guard.check_many([HARMFUL, BENIGN])
    assert stats.generate_calls > generated and stats.forward_passes == passes
    assert not bad.allowed and good.allowed and bad.score is None
    assert bad.reasoning == "The conversation breaks the policy."  # the trace it wrote


@pytest.mark.parametrize("form", ["taxonomy", "custom_taxonomy"])
def test_n35_single_pass_writes_and_reads_what_generate_does(
    image_backend: LocalBackend, image_generating: LocalBackend, form: str
) -> None:
    policy = PROBE_POLICIES[form]  # type: ignore[index]
    items: list[Item | str] = [HARMFUL, BENIGN, AssistantMessage(REPLIES[0], context=BENIGN)]
    fast = Guard(image_backend, policy, cache=False).check_many(items)
    slow = Guard(image_generating, policy, cache=False).check_many(items)
    assert [v.allowed for v in fast] == [v.allowed for v in slow] == [False, True, False]
    assert all(v.score is not None for v in fast) and all(v.score is None for v in slow)
    request = image_backend.family.render(Exchange(BENIGN), policy)
    (answer,) = image_backend.classify([request])
    (generated,) = image_generating.classify([request])
    assert isinstance(answer, Completion) and isinstance(generated, Completion)
    assert answer.text == generated.text


def test_no_probe_without_the_single_pass(text_generating: LocalBackend) -> None:
    assert text_generating.answer_probes == {}
    assert "fast mode: single pass off" in text_generating.describe()
