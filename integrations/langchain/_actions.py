"""The steps every LangChain adapter shares: which agent is speaking, and what a verdict means.

Agent resolution (one rule for the runnable, the callback handler and the middleware):

1. the ``agent=`` the adapter was built with;
2. ``guard_agent`` in the run's ``configurable`` or ``metadata``
   (``chain.invoke(x, config={"configurable": {"guard_agent": "billing"}})``);
3. ``lc_agent_name`` in the run metadata: the ``name=`` given to ``create_agent``;
4. ``langgraph_node``, when it names an agent of the guard's :class:`PolicySet`
   (a plain LangGraph node called ``"billing"``);
5. otherwise ``None``: the policy set's default policy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from guard_core.guard import Guard
from guard_core.policy import Action
from guard_core.verdict import DECISION_RANK, Decision, Verdict

__all__ = [
    "AGENT_KEY",
    "DEFAULT_REFUSAL",
    "agent_from",
    "decision",
    "guard_metadata",
    "redaction",
    "worst",
]

AGENT_KEY = "guard_agent"
DEFAULT_REFUSAL = "I can't help with that request."


def agent_from(guard: Guard, explicit: str | None, metadata: Mapping[str, Any] | None,
               configurable: Mapping[str, Any] | None = None) -> str | None:
    """The agent whose policy judges this run (see the module docstring for the order)."""
    if explicit is not None:
        return explicit
    metadata = metadata or {}
    for source in (configurable or {}, metadata):
        value = source.get(AGENT_KEY)
        if isinstance(value, str) and value:
            return value
    name = metadata.get("lc_agent_name")
    if isinstance(name, str) and name:
        return name
    node = metadata.get("langgraph_node")
    if isinstance(node, str) and node in guard.policies.agents:
        return node
    return None


def decision(verdict: Verdict, override: Action | None = None) -> Decision:
    """``allow``, or what to do with a blocked item (``override`` beats the policy)."""
    if verdict.allowed:
        return "allow"
    chosen = override or verdict.action
    # flag keeps the content: never for content the guard could not judge (fail closed)
    return "block" if chosen == "flag" and verdict.error is not None else chosen


def worst(verdicts: Sequence[Verdict], override: Action | None = None
          ) -> tuple[Decision, Verdict | None]:
    """The strongest decision among ``verdicts`` (block > drop > redact > flag > allow)."""
    best: tuple[Decision, Verdict | None] = ("allow", None)
    for verdict in verdicts:
        d = decision(verdict, override)
        if DECISION_RANK[d] > DECISION_RANK[best[0]]:
            best = (d, verdict)
    return best


def redaction(verdict: Verdict) -> str:
    """The text that replaces redacted content."""
    return f"[redacted by guard-core: {verdict.reason}]"


def guard_metadata(verdict: Verdict, decided: Decision) -> dict[str, Any]:
    """What is attached to a flagged, redacted or refused message or document."""
    return {
        "decision": decided,
        "surface": verdict.surface,
        "agent": verdict.agent,
        "policy": verdict.policy.name,
        "categories": list(verdict.categories),
        "reason": verdict.reason,
        "error": verdict.error,
    }
