"""How the loaded model writes its answer, learned from the model, for single-pass reads.

A single pass appends the text the model writes before a verdict label and reads the
label's logits. That text is not assumed: NVIDIA's card writes ``Response Harm:``, NeMo's
docs ``Response harm:``, and a model may open with an empty ``<think></think>``. At load the
backend asks the model one fixed exchange (:data:`PROBE_EXCHANGE`, a response check, so
both lines show) per policy form with greedy ``generate``, and keeps the exact text before
each label (:func:`learn_shape`). A form whose answer does not parse, starts with a
reasoning trace, or says more than its verdicts between them is answered with ``generate``
instead; ``describe()`` says which and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import get_args

from guard_core.errors import ModelOutputError
from guard_core.models import Completion, Exchange, GuardRequest, ModelFamily, Slot
from guard_core.models.answers import find_labels
from guard_core.models.base import PolicyForm, split_think
from guard_core.policy import CustomPolicy, Policy
from guard_core.taxonomy import Category

__all__ = [
    "FORMS",
    "PROBE_EXCHANGE",
    "PROBE_POLICIES",
    "TRACED",
    "AnswerProbe",
    "Line",
    "Shape",
    "assumed_shape",
    "learn_shape",
]

FORMS: tuple[PolicyForm, ...] = get_args(PolicyForm)
TRACED = "it writes a reasoning trace first"
PROBE_EXCHANGE = Exchange("What is the capital of France?", "The capital of France is Paris.")
PROBE_POLICIES: dict[PolicyForm, Policy] = {
    "taxonomy": Policy(name="probe"),
    "custom_taxonomy": Policy(
        name="probe",
        categories=(
            Category(name="Weapons", description="Making or using weapons."),
            Category(name="Theft", description="Stealing or fencing goods."),
        ),
    ),
    "custom_policy": Policy(
        name="probe", custom=CustomPolicy(text="A cooking assistant.", disallowed=("weapons",))
    ),
}


@dataclass(frozen=True)
class Line:
    """One verdict line as the model writes it: ``lead`` (everything after the previous
    label: newline, key, spacing, an empty think block first) then a label."""

    lead: str
    safe: str
    unsafe: str

    def text(self, unsafe: bool) -> str:
        return self.lead + (self.unsafe if unsafe else self.safe)


@dataclass(frozen=True)
class Shape:
    """A reasoning-off answer's verdict lines, in order, for a response check (a prompt
    check reads the first)."""

    lines: tuple[Line, ...]

    def for_slot(self, family: ModelFamily, slot: Slot) -> tuple[Line, ...]:
        return self.lines[: len(family.verdict_lines(slot))]


@dataclass(frozen=True)
class AnswerProbe:
    """What the probe found for one form: ``shape`` None means fast checks generate
    (``traced``: because the model reasons first, so they get a trace's token budget).
    ``answer`` is what the model wrote; ``note`` says how the shape was chosen."""

    form: PolicyForm
    shape: Shape | None
    note: str
    answer: str = ""
    traced: bool = False

    def __str__(self) -> str:
        how = "single pass" if self.shape is not None else "generate"
        return f"{self.form}: {how} ({self.note})"


def assumed_shape(family: ModelFamily) -> Shape | None:
    """The shape the family's documentation gives (``Prompt harm: ...``)."""
    lines = family.verdict_lines("response")
    if not lines:
        return None
    return Shape(
        tuple(
            Line(("\n" if i else "") + f"{line.key} ", line.safe, line.unsafe)
            for i, line in enumerate(lines)
        )
    )


def learn_shape(family: ModelFamily, request: GuardRequest, completion: Completion) -> Shape | str:
    """The shape of ``completion`` (the model's answer to ``request``), or why there is none."""
    documented = family.verdict_lines("response")
    if not documented:
        return f"{family.name} has no verdict lines to read"
    text = completion.text
    if text.lstrip().startswith("<think>"):
        end = text.find("</think>")
        if end < 0 or text[text.find("<think>") + len("<think>") : end].strip():
            return TRACED
    try:
        family.parse(completion, request)
    except ModelOutputError as exc:
        return f"its answer does not parse: {exc}"
    labels = [label for line in documented for label in (line.safe, line.unsafe)]
    spans = find_labels(text, [line.key for line in documented], labels)
    if spans is None:
        return "its verdict lines are not in the documented order"
    reasoning, rest = split_think(text[: spans[0].line_start])
    if reasoning or rest.strip():
        return f"it writes {text[: spans[0].line_start]!r} before its first verdict"
    lines = []
    for i, (line, span) in enumerate(zip(documented, spans, strict=True)):
        start = spans[i - 1].end if i else 0
        if i and text[start : span.line_start].strip():
            return f"it writes {text[start : span.line_start]!r} between its verdicts"
        safe, unsafe = _like(line.safe, span.label), _like(line.unsafe, span.label)
        lines.append(Line(text[start : span.start], safe, unsafe))
    return Shape(tuple(lines))


def _like(label: str, written: str) -> str:
    """``label`` in the case the model wrote its label in (``Safe``, ``UNSAFE``)."""
    if written.isupper() and len(written) > 1:
        return label.upper()
    if written[:1].isupper():
        return label[:1].upper() + label[1:]
    return label
