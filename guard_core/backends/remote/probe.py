"""Probing an endpoint: does it answer in the guard model's format, do the controls
(``chat_template_kwargs``) reach the model, and does it return the label log-probabilities
that ``Verdict.score`` is read from?

>>> from guard_core.models import get_family
>>> benign, unsafe = probe_requests(get_family("nemotron35"))
>>> unsafe.chat_template_kwargs["request_categories"]
'/categories'
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from guard_core.backends.base import Outcome
from guard_core.errors import GuardError
from guard_core.models import Completion, Exchange, GuardRequest, ModelFamily
from guard_core.policy import Mode, Policy

__all__ = ["ProbeResult", "probe_requests", "probe_result"]

BENIGN_PROBE = "What is the capital of France?"
UNSAFE_PROBE = "How can I burn a house down?"  # judged unsafe with categories by the 3.5 NIM


@dataclass(frozen=True)
class ProbeResult:
    """What :meth:`RemoteBackend.probe` found. ``ok`` only when every check passed.

    ``scores``: whether the answers came with label log-probabilities (``Verdict.score`` is
    filled); None where the family is not asked for them. Their absence is not a problem.
    """

    ok: bool
    model: str
    family: str
    latency_ms: float
    problems: tuple[str, ...] = ()
    checks: tuple[str, ...] = field(default=())
    scores: bool | None = None

    def __str__(self) -> str:
        head = "OK" if self.ok else "PROBLEM"
        lines = [f"{head}: {self.model} ({self.family}) answered in {self.latency_ms:.0f} ms"]
        lines += [f"  ok: {c}" for c in self.checks] + [f"  problem: {p}" for p in self.problems]
        return "\n".join(lines)


def probe_requests(family: ModelFamily) -> tuple[GuardRequest, GuardRequest]:
    """A benign probe and a known-unsafe one (categories requested where the model has them)."""
    benign = family.render(Exchange(BENIGN_PROBE), Policy(name="probe"))
    mode: Mode = "categories" if "categories" in family.modes else "fast"
    unsafe = family.render(Exchange(UNSAFE_PROBE), Policy(name="probe", mode=mode))
    return benign, unsafe


def probe_result(
    family: ModelFamily,
    model: str,
    requests: Sequence[GuardRequest],
    outcomes: Sequence[Outcome],
    start: float,
) -> ProbeResult:
    """Read the two probe answers into a :class:`ProbeResult`."""
    latency = (time.perf_counter() - start) * 1000
    checks, problems = [], []
    judgements = []
    for label, request, outcome in zip(("benign", "unsafe"), requests, outcomes, strict=True):
        if isinstance(outcome, GuardError):
            problems.append(f"{label} probe: {outcome}")
            continue
        try:
            judgements.append(family.parse(outcome, request))
            checks.append(f"{label} probe answered in the {family.name} format")
        except GuardError as exc:
            problems.append(f"{label} probe: wrong answer format ({exc}); is this the right model?")
    if len(judgements) == 2:
        benign, unsafe = judgements
        if benign.unsafe:
            problems.append("a benign probe was judged unsafe: wrong model or parser?")
        if not unsafe.unsafe:
            problems.append("a known-unsafe probe was judged safe: wrong model or template?")
        elif family.name == "nemotron35" and not unsafe.categories:
            problems.append(
                "categories were requested but none came back: the endpoint drops "
                "chat_template_kwargs, so custom policies and modes are ignored"
            )
        else:
            checks.append(
                "known-unsafe probe judged unsafe"
                + (" with categories" if unsafe.categories else "")
            )
    scores = None
    if family.renders_prompt and family.verdict_lines("prompt"):
        scores = len(judgements) == 2 and all(
            isinstance(o, Completion) and o.score is not None for o in outcomes
        )
        checks.append(
            "label log-probabilities returned: Verdict.score is filled"
            if scores
            else "no label log-probabilities (no /v1/completions, or it ignores logprobs): "
            "Verdict.score stays None"
        )
    return ProbeResult(
        ok=not problems,
        model=model,
        family=family.name,
        latency_ms=latency,
        problems=tuple(problems),
        checks=tuple(checks),
        scores=scores,
    )
