"""What a verdict means to an adapter: one copy of each rule every integration follows.

- :func:`decision`: what to do with one item (``allow``, or the action, with an adapter's
  override); a flag never passes content the guard could not judge (the rule itself lives on
  :meth:`Verdict.decision_under`, so ``Verdict.decision`` and adapters cannot drift).
- :func:`strongest_decision`: the decision for a thing judged in parts: a flag on one part
  never hides a block on another.
- :func:`blocks`: whether a verdict stops the content (anything but allow and a clean flag).
- :data:`Refusal` / :func:`refusal_text`: the text a refusal says, a string or a function of
  the blocking verdict, the same type in every adapter.
- :func:`redaction` / :func:`verdict_metadata`: what replaces redacted content and what is
  attached to a flagged, redacted or refused message.

>>> from guard_core.verdict import PolicyRef, Verdict
>>> ref = PolicyRef("p", "v")
>>> parts = [Verdict(False, "tool_result", ref, action="flag"),
...          Verdict(False, "image", ref, action="block")]
>>> strongest_decision(parts)[0]
'block'
>>> refusal_text(default_refusal, Verdict(False, "input", ref, categories=("Violence",)))
"I can't help with that: input blocked by policy 'p' (Violence)."
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from guard_core.policy import Action
from guard_core.verdict import DECISION_RANK, Decision, Verdict

__all__ = [
    "GENERIC_REFUSAL",
    "Refusal",
    "blocks",
    "decision",
    "default_refusal",
    "redaction",
    "refusal_because",
    "refusal_text",
    "stronger",
    "strongest_decision",
    "verdict_metadata",
]

Refusal = str | Callable[[Verdict], str]
"""A refusal's text: a fixed string, or a function of the blocking verdict."""

GENERIC_REFUSAL = "I can't help with that request."
"""A refusal that says nothing about why (the LangChain adapters' default)."""


def refusal_because(reason: str) -> str:
    """``I can't help with that: <reason>.``"""
    return f"I can't help with that: {reason}."


def default_refusal(verdict: Verdict) -> str:
    """:func:`refusal_because` the verdict's reason (the OpenAI and LlamaIndex adapters'
    default)."""
    return refusal_because(verdict.reason)


def refusal_text(refusal: Refusal, verdict: Verdict) -> str:
    """The text ``refusal`` says for ``verdict``."""
    return refusal if isinstance(refusal, str) else refusal(verdict)


def decision(verdict: Verdict, override: Action | None = None) -> Decision:
    """``allow``, or what to do with a blocked item (``override`` beats the policy)."""
    return verdict.decision_under(override)


def blocks(verdict: Verdict, override: Action | None = None) -> bool:
    """Whether ``verdict`` stops the content: a clean flag lets it pass, marked."""
    return decision(verdict, override) not in ("allow", "flag")


def stronger(decided: Decision, than: Decision) -> bool:
    """Whether ``decided`` outranks ``than`` (block > drop > redact > flag > allow)."""
    return DECISION_RANK[decided] > DECISION_RANK[than]


def strongest_decision(
    verdicts: Iterable[Verdict], override: Action | None = None
) -> tuple[Decision, Verdict | None]:
    """The strongest decision among ``verdicts`` (block > drop > redact > flag > allow) and
    the verdict that carries it (None when all allow)."""
    best: tuple[Decision, Verdict | None] = ("allow", None)
    for verdict in verdicts:
        decided = decision(verdict, override)
        if stronger(decided, best[0]):
            best = (decided, verdict)
    return best


def redaction(verdict: Verdict) -> str:
    """The text that replaces redacted content."""
    return f"[redacted by guard-core: {verdict.reason}]"


def verdict_metadata(verdict: Verdict, decided: Decision) -> dict[str, Any]:
    """What is attached to a flagged, redacted or refused message, node or document."""
    return {
        "decision": decided,
        "surface": verdict.surface,
        "agent": verdict.agent,
        "policy": verdict.policy.name,
        "categories": list(verdict.categories),
        "reason": verdict.reason,
        "error": verdict.error,
    }
