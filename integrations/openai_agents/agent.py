"""``with_guardrails``: every guardrail on an agent, the agents it hands off to, and their tools.

The SDK's guardrail lists are set in place (new lists, so clones made before keep theirs):
there is no unguarded twin of the agent to run by mistake. What the SDK's guardrails cannot
reach is refused when the agent is guarded, naming it, unless ``allow_unscreened`` lets it
through: tools that are not function tools (hosted tools run on the provider's side; their
results reach the model without passing a tool guardrail), ``mcp_servers`` (their tools
are made at run time, without guardrails) and a ``Handoff`` whose agent cannot be reached.
"""

from __future__ import annotations

import typing
from collections.abc import Collection
from typing import Any, TypeVar

from agents import Agent, FunctionTool, Handoff  # type: ignore[import-not-found, unused-ignore]
from agents.tool import Tool  # type: ignore[import-not-found, unused-ignore]

from guard_core.adapters.decisions import Refusal, default_refusal
from guard_core.adapters.options import OnBlock
from guard_core.errors import ConfigurationError
from guard_core.guard import Guard

from ._screen import OnVerdict, Settings
from .guardrails import (
    RESULT_KINDS,
    _Screening,
    input_guardrail,
    output_guardrail,
    settings,
    tool_input_guardrail,
    tool_output_guardrail,
)

__all__ = ["UNSCREENED_KINDS", "with_guardrails"]

_A = TypeVar("_A")


def _tool_kinds() -> frozenset[str]:
    kinds = set()
    for kind in typing.get_args(Tool):
        cls = typing.get_origin(kind) or kind
        name = getattr(cls, "__name__", None)
        if isinstance(name, str) and cls is not FunctionTool:
            kinds.add(name)
    return frozenset(kinds)


UNSCREENED_KINDS = frozenset({*RESULT_KINDS, "mcp_servers", "handoff", *_tool_kinds()})
"""What ``allow_unscreened`` may name: ``file`` (tool-result file parts), ``mcp_servers``,
``handoff`` (a ``Handoff`` whose agent cannot be reached) and the installed SDK's
non-function tool classes (``WebSearchTool``, ``FileSearchTool``, ``HostedMCPTool``, ...)."""


def with_guardrails(
    sdk_agent: _A,
    guard: Guard,
    agent: str | None = None,
    on_block: OnBlock = "raise",
    *,
    run_in_parallel: bool = False,
    refusal: Refusal = default_refusal,
    on_verdict: OnVerdict | None = None,
    allow_agent_override: bool = False,
    allow_unscreened: Collection[str] = (),
) -> _A:
    """Guard ``sdk_agent`` (an ``agents.Agent``), every agent it can hand off to (and agents
    used as its tools), and every function tool of theirs; returns ``sdk_agent``.

    Args:
        sdk_agent: the Agents SDK agent; guarded in place.
        guard: the :class:`~guard_core.Guard` that judges.
        agent: one policy for all of them; by default each agent is judged under the policy
            named like it (``Agent(name="billing")`` -> policy ``billing``), also after a
            handoff. Checked now: an agent name with no policy and no default fails here.
        on_block: what a blocked tool call or tool result does: ``"raise"`` the SDK's
            tripwire exception, or ``"refuse"``: the model reads ``refusal`` instead and the
            run goes on. Input and output guardrails can only trip (the SDK's rule).
        run_in_parallel: the input guardrail's SDK setting. False (default): it runs before
            the model call, so blocked input never reaches the model; True: at the same time,
            and it can only abort the run.
        refusal: what the model reads in place of a refused call or result.
        on_verdict: called with ``(item, verdict)`` for every screening.
        allow_agent_override: let ``context={"guard_agent": ...}`` of a run pick the policy.
        allow_unscreened: what may run unscreened: ``file`` (tool-result file parts),
            ``mcp_servers``, ``handoff`` (a ``Handoff`` whose agent cannot be reached) and
            the SDK's non-function tool classes by name (``WebSearchTool``, ...).
    """
    s = settings(
        "with_guardrails",
        guard,
        agent,
        on_block,
        refusal,
        on_verdict,
        allow_agent_override,
        allow_unscreened,
        known=UNSCREENED_KINDS,
    )
    parallel = input_guardrail(s, run_in_parallel).run_in_parallel  # checked once, up front
    seen: set[int] = set()
    todo: list[Any] = [sdk_agent]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if not isinstance(current, Agent):
            raise ConfigurationError(
                f"with_guardrails guards an agents.Agent, got {type(current).__name__}"
            )
        todo += _guard_one(current, s, parallel)
    return sdk_agent


def _guard_one(current: Any, s: Settings, parallel: bool) -> list[Any]:
    """Set one agent's guardrails and its tools'; return the agents it reaches."""
    where = f"agent {current.name!r}"
    s.guard.policy_for(s.agent if s.agent is not None else current.name)
    current.input_guardrails = _with(current.input_guardrails, s, where, input_guardrail, parallel)
    current.output_guardrails = _with(current.output_guardrails, s, where, output_guardrail)
    reached: list[Any] = []
    for tool in current.tools:
        if isinstance(tool, FunctionTool):
            at = f"tool {tool.name!r} of {where}"
            tool.tool_input_guardrails = _with(
                tool.tool_input_guardrails, s, at, tool_input_guardrail
            )
            tool.tool_output_guardrails = _with(
                tool.tool_output_guardrails, s, at, tool_output_guardrail
            )
            inner = getattr(tool, "_agent_instance", None)  # Agent.as_tool(): its agent too
            if inner is not None:
                reached.append(inner)
        else:
            _unscreened(
                s,
                type(tool).__name__,
                f"{where} has a {type(tool).__name__}",
                "its calls and results reach the model without a tool guardrail",
            )
    if current.mcp_servers:
        _unscreened(
            s,
            "mcp_servers",
            f"{where} has mcp_servers",
            "their tools are made at run time, without guardrails",
        )
    for target in current.handoffs:
        if isinstance(target, Handoff):
            ref = getattr(target, "_agent_ref", None)
            target = ref() if callable(ref) else None
            if target is None:
                _unscreened(
                    s,
                    "handoff",
                    f"{where} hands off through a Handoff whose agent with_guardrails cannot reach",
                    "that agent would run unguarded",
                )
                continue
        reached.append(target)
    return reached


def _with(
    guardrails: list[Any] | None, s: Settings, where: str, make: Any, *args: Any
) -> list[Any]:
    """``guardrails`` with ours first; an agent guarded before keeps its own (the same
    settings) or is refused (other settings: two guards would disagree silently)."""
    ours = [g for g in guardrails or () if isinstance(g.guardrail_function, _Screening)]
    if ours:
        if all(g.guardrail_function.settings == s for g in ours):
            return list(guardrails or ())
        raise ConfigurationError(
            f"{where} is already guarded with other settings; build it again to guard it "
            "differently"
        )
    return [make(s, *args), *(guardrails or ())]


def _unscreened(s: Settings, kind: str, what: str, why: str) -> None:
    if kind not in s.allow_unscreened:
        raise ConfigurationError(
            f"with_guardrails: {what}: {why}. Put guard_openai under the agent's model (it "
            f"screens every call and result the model sees), then pass "
            f"allow_unscreened={{{kind!r}}}"
        )
