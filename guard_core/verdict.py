"""Verdicts: the typed result of one screening. Raising on a block is the caller's choice.

>>> v = Verdict(allowed=False, surface="input", policy=PolicyRef("default", "abc"),
...             categories=("Violence",), action="block")
>>> v.decision
'block'
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, TypeAlias

from guard_core.content import Surface
from guard_core.errors import GuardViolation
from guard_core.policy import Action

__all__ = ["DECISION_RANK", "Decision", "PolicyRef", "Verdict", "strongest"]

Decision: TypeAlias = Literal["allow", "block", "redact", "drop", "flag"]
DECISION_RANK: dict[Decision, int] = {"allow": 0, "flag": 1, "redact": 2, "drop": 3, "block": 4}
"""How strong each decision is: when parts of one thing are judged, the strongest applies."""


def valid_text(text: object) -> str:
    """``text`` as a string that can always be encoded, printed and written as JSON.

    An endpoint's answer can hold anything JSON carries: a lone surrogate (``"\\ud800"``)
    becomes U+FFFD, a surrogate pair split in two is joined; anything not a str is ``str()``.

    >>> valid_text("ok \\ud800 \\ud83d\\ude00") == "ok \\ufffd \\U0001f600"
    True
    """
    if not isinstance(text, str):
        return str(text)
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


_TEXT_FIELDS = ("reasoning", "error", "model", "agent")


class PolicyRef(NamedTuple):
    """The policy that judged: its name and content version."""

    name: str
    version: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """One guard decision about one item.

    ``allowed`` is the whole answer; ``decision`` adds what the policy says to do with a
    blocked item on this surface. ``error`` is set when the verdict comes from
    ``on_error`` (the guard could not judge); ``score`` is the probability of unsafe when
    the backend can give one.
    """

    allowed: bool
    surface: Surface
    policy: PolicyRef
    categories: tuple[str, ...] = ()
    reasoning: str | None = None
    score: float | None = None
    model: str = ""
    latency_ms: float = 0.0
    cached: bool = False
    error: str | None = None
    action: Action = "block"
    agent: str | None = None
    screened: bool = True
    user_unsafe: bool | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        # The text fields come from an endpoint (reasoning, categories, model, an error
        # quoting the answer): keep only valid text, so that no answer can make a repr, the
        # CLI or the audit log fail. ASCII (the usual case) is checked in one pass.
        try:
            plain = (
                self.model.isascii()
                and (self.error is None or self.error.isascii())
                and (self.reasoning is None or self.reasoning.isascii())
                and (self.agent is None or self.agent.isascii())
                and (not self.categories or all(c.isascii() for c in self.categories))
            )
        except AttributeError:  # a value that is not text at all
            plain = False
        if not plain:
            for name in _TEXT_FIELDS:
                if (value := getattr(self, name)) is not None:
                    object.__setattr__(self, name, valid_text(value))
            object.__setattr__(self, "categories", tuple(valid_text(c) for c in self.categories))

    @property
    def decision(self) -> Decision:
        """``allow``, or the policy's action for this surface.

        ``flag`` keeps the content, so it never applies to content the guard could not
        judge (``error`` set): that is a ``block``.
        """
        return self.decision_under(None)

    def decision_under(self, action: Action | None) -> Decision:
        """:attr:`decision` when ``action`` (an adapter's override; None: the policy's)
        replaces the policy's action. The one copy of the rule that a flag never passes
        content the guard could not judge."""
        if self.allowed:
            return "allow"
        chosen = action or self.action
        return "block" if self.error is not None and chosen == "flag" else chosen

    @property
    def reason(self) -> str:
        """One line a person can read: why this verdict."""
        if self.error is not None:
            verb = "allowed despite" if self.allowed else "blocked because of"
            return f"{self.surface} {verb} a guard error: {self.error}"
        if self.allowed:
            return f"{self.surface} allowed by policy {self.policy.name!r}"
        cats = f" ({', '.join(self.categories)})" if self.categories else ""
        return f"{self.surface} blocked by policy {self.policy.name!r}{cats}"

    def raise_for_block(self) -> Verdict:
        """Raise :class:`GuardViolation` if blocked; return self otherwise."""
        if not self.allowed:
            raise GuardViolation(self)
        return self

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict (the audit record's verdict part)."""
        return {
            "allowed": self.allowed,
            "decision": self.decision,
            "surface": self.surface,
            "agent": self.agent,
            "policy": self.policy.name,
            "policy_version": self.policy.version,
            "categories": list(self.categories),
            "reasoning": self.reasoning,
            "score": self.score,
            "model": self.model,
            "latency_ms": round(self.latency_ms, 3),
            "cached": self.cached,
            "error": self.error,
        }

    def __repr__(self) -> str:
        parts = [
            f"allowed={self.allowed}",
            f"surface={self.surface!r}",
            f"policy={self.policy.name!r}",
        ]
        if self.categories:
            parts.append(f"categories={list(self.categories)!r}")
        if self.score is not None:
            parts.append(f"score={self.score:.3f}")
        if self.error:
            parts.append(f"error={self.error!r}")
        if self.cached:
            parts.append("cached=True")
        parts.append(f"latency_ms={self.latency_ms:.1f}")
        return f"Verdict({', '.join(parts)})"

    def _rows(self) -> list[tuple[str, str]]:
        rows = [
            ("surface", self.surface),
            ("policy", f"{self.policy.name} ({self.policy.version})"),
        ]
        if self.agent:
            rows.append(("agent", self.agent))
        if self.categories:
            rows.append(("categories", ", ".join(self.categories)))
        if self.score is not None:
            rows.append(("score", f"{self.score:.3f}"))
        if self.error:
            rows.append(("error", self.error))
        if self.reasoning:
            rows.append(("reasoning", self.reasoning))
        rows.append(("model", self.model or "-"))
        rows.append(("latency", f"{self.latency_ms:.1f} ms" + (" (cached)" if self.cached else "")))
        return rows

    def _repr_html_(self) -> str:
        color = "#1a7f37" if self.allowed else "#cf222e"
        head = "ALLOWED" if self.allowed else f"BLOCKED ({self.decision})"
        body = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
            f"<td style='white-space:pre-wrap'>{html.escape(v)}</td></tr>"
            for k, v in self._rows()
        )
        return f"<div><strong style='color:{color}'>{head}</strong><table>{body}</table></div>"

    def _repr_markdown_(self) -> str:
        head = "**ALLOWED**" if self.allowed else f"**BLOCKED** ({self.decision})"
        lines = [head, "", "| field | value |", "|---|---|"]
        lines += [f"| {k} | {_md_escape(v)} |" for k, v in self._rows()]
        return "\n".join(lines)


_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_{}[]()#+-.!|<>~"})


def _md_escape(text: str) -> str:
    return text.translate(_MD_SPECIAL).replace("\n", "<br>")


def strongest(verdicts: Iterable[Verdict]) -> Verdict | None:
    """The verdict whose decision is strongest (block > drop > redact > flag > allow).

    A flag on one part must never hide a block on another part of the same thing.

    >>> ref = PolicyRef("p", "v")
    >>> parts = [Verdict(False, "tool_result", ref, action="flag"),
    ...          Verdict(False, "image", ref, action="block")]
    >>> strongest(parts).surface
    'image'
    """
    return max(verdicts, key=lambda v: DECISION_RANK[v.decision], default=None)
