"""Which agent is speaking, one rule for every LangChain adapter (what a verdict means is
the kit's :mod:`guard_core.adapters.decisions`).

Agent resolution (one rule for the runnable, the callback handler, the middleware and the
document filter), through the kit's :func:`guard_core.adapters.boundary.agent_choice`:

- the developer's choice: the ``agent=`` the adapter was built with; else ``lc_agent_name``
  in the run metadata (the ``name=`` given to ``create_agent``); else ``langgraph_node``
  when it names an agent of the guard's :class:`PolicySet` (a plain node ``"billing"``);
- a client's request: ``guard_agent`` in the run's ``configurable`` or ``metadata``
  (``chain.invoke(x, config={"configurable": {"guard_agent": "billing"}})``), or the
  middleware's ``runtime.context``;
- the developer's choice wins: a request naming another agent is refused with a
  :class:`~guard_core.errors.ContentError` unless the adapter was built with
  ``allow_agent_override=True``; with no developer choice the request picks the agent;
- otherwise ``None``: the policy set's default policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guard_core.adapters.boundary import AGENT_KEY, agent_choice
from guard_core.guard import Guard

__all__ = ["agent_from", "developer_agent", "requested_agent"]


def developer_agent(
    guard: Guard, explicit: str | None, metadata: Mapping[str, Any] | None
) -> str | None:
    """The agent the developer named: ``agent=``, ``create_agent(name=...)``, or a graph
    node named after an agent of the policy set."""
    if explicit is not None:
        return explicit
    metadata = metadata or {}
    name = metadata.get("lc_agent_name")
    if isinstance(name, str) and name:
        return name
    node = metadata.get("langgraph_node")
    if isinstance(node, str) and node in guard.policies.agents:
        return node
    return None


def requested_agent(*sources: Mapping[str, Any] | None, key: str = AGENT_KEY) -> str | None:
    """The agent a client asked for: ``key`` in the first source that has it."""
    for source in sources:
        value = (source or {}).get(key)
        if isinstance(value, str) and value:
            return value
    return None


def agent_from(
    guard: Guard,
    explicit: str | None,
    metadata: Mapping[str, Any] | None,
    configurable: Mapping[str, Any] | None = None,
    *,
    allow_override: bool = False,
    owner: str = "guard adapter",
) -> str | None:
    """The agent whose policy judges this run (see the module docstring for the rule)."""
    return agent_choice(
        developer_agent(guard, explicit, metadata),
        requested_agent(configurable, metadata),
        allow_override=allow_override,
        owner=owner,
    )
