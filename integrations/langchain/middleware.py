"""``GuardMiddleware``: guard-core inside a LangChain v1 ``create_agent`` loop.

>>> from guard_core import Guard
>>> from guard_core.testing import ScriptedBackend
>>> GuardMiddleware(Guard(ScriptedBackend()), agent="support").name
'GuardMiddleware'
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Annotated, Any, NotRequired, cast

from guard_core.backends.base import Backend
from guard_core.errors import ConfigurationError, MissingDependencyError
from guard_core.guard import Guard
from guard_core.policy import Policy, PolicySet

try:
    from langchain.agents.middleware import AgentMiddleware, AgentState, hook_config
    from langchain.agents.middleware.types import PrivateStateAttr
    from langchain_core.messages import ToolMessage
    from langgraph.prebuilt.tool_node import ToolCallRequest
    from langgraph.runtime import Runtime
    from langgraph.types import Command
except ImportError:  # the middleware needs `langchain` itself, not only langchain-core
    raise MissingDependencyError("langchain", "langchain") from None

from guard_core._unscreened import allowed_types

from ._actions import DEFAULT_REFUSAL
from ._agent_steps import (
    input_items,
    input_update,
    normalize_result,
    output_items,
    output_update,
    refuse_call,
    resolve_agent,
    result_items,
    screen_results,
    tool_context,
)
from ._blocks import UNSCREENABLE_TYPES

__all__ = ["AgentResolver", "GuardMiddleware", "GuardState"]

AgentResolver = Callable[[Any, Any], str | None]
"""``resolver(state, runtime) -> agent name or None`` (None: fall back to the usual order)."""


class GuardState(AgentState[Any]):
    """The agent state plus the id of the last user message already screened (private)."""

    guard_input_id: NotRequired[Annotated[str | None, PrivateStateAttr]]


class GuardMiddleware(AgentMiddleware[GuardState, Any, Any]):
    """Screens every step of a ``create_agent`` loop under the agent's own policy.

    - ``before_model``: the user turn (text and images), once per new user message.
      A block ends the run with a refusal ``AIMessage``; ``redact`` rewrites the message.
    - ``after_model``: the model's answer and its tool calls, in one guard round. A block
      replaces the answer with a refusal and ends the run; ``redact`` rewrites its text.
    - ``wrap_tool_call`` / ``awrap_tool_call``: each tool call's arguments before it runs
      (a block returns an error ``ToolMessage``: the tool never runs and the agent goes on)
      and each tool result before the model reads it (``redact`` or block).

    Actions come from the agent's policy, per surface. ``drop`` acts as ``block`` on a
    message (there is no list to drop it from); ``flag`` lets it through with
    ``response_metadata["guard_core"]``. Every verdict is audited with agent and surface.

    The policy is picked per agent, first of: ``agent=`` (a name, or a callable
    ``(state, runtime) -> name | None``); the ``context_key`` field (default
    ``"guard_agent"``) of ``runtime.context`` (a dict or any object with that attribute);
    the agent's ``create_agent(name=...)``; ``langgraph_node`` when it names a known agent;
    else the policy set's default. So one middleware serves every agent in a graph.

    Message content blocks the guard models cannot judge (``audio``, ``video``, binary
    ``file``, ``non_standard``): in the user turn or the model's answer they raise
    :class:`~guard_core.errors.ContentError` (the model never sees the turn); in a tool
    result the message is withheld as an error ``ToolMessage`` and the agent goes on.
    ``text-plain`` documents are screened as text. ``allow_unscreened`` names the block
    types that may pass unjudged instead (e.g. ``{"audio"}``).

    Model tokens streamed with ``stream_mode="messages"`` leave before ``after_model``
    runs; stream ``values``/``updates`` (or put a buffered ``GuardRunnable`` after the
    model) when nothing unscreened may reach the user.

    Example::

        guard = Guard(RemoteBackend.nim(), PolicySet.from_yaml("policies.yaml"))
        agent = create_agent(model, tools, middleware=[GuardMiddleware(guard)], name="billing")
    """

    state_schema = GuardState

    def __init__(self, guard: Guard | Policy | PolicySet, *, backend: Backend | None = None,
                 agent: str | AgentResolver | None = None, context_key: str = "guard_agent",
                 refusal: str = DEFAULT_REFUSAL, allow_unscreened: Collection[str] = (),
                 name: str | None = None) -> None:
        super().__init__()
        if isinstance(guard, Policy | PolicySet):
            if backend is None:
                raise ConfigurationError(
                    "GuardMiddleware got a policy but no backend; pass backend=RemoteBackend(...) "
                    "or a ready Guard")
            guard = Guard(backend, guard)
        if not isinstance(guard, Guard):
            raise ConfigurationError(
                f"GuardMiddleware needs a Guard, Policy or PolicySet, got {type(guard).__name__}")
        self.guard = guard
        self.agent = agent
        self.context_key = context_key
        self.refusal = refusal
        self.allow_unscreened = allowed_types(allow_unscreened, UNSCREENABLE_TYPES,
                                              "GuardMiddleware")
        self.tools = []
        self._name = name

    @property
    def name(self) -> str:
        return self._name or type(self).__name__

    def _agent(self, state: Any, runtime: Any, config: Mapping[str, Any] | None = None
               ) -> str | None:
        return resolve_agent(self.guard, self.agent, self.context_key, state, runtime, config)

    # -- before_model: the user turn ----------------------------------------------------------

    @hook_config(can_jump_to=["end"])
    def before_model(self, state: GuardState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        turn, key = input_items(state, self.allow_unscreened)
        if not turn:
            return None
        verdicts = self.guard.check_many([i for _, i in turn], agent=self._agent(state, runtime))
        return input_update(turn, verdicts, key, self.refusal)

    @hook_config(can_jump_to=["end"])
    async def abefore_model(self, state: GuardState, runtime: Runtime[Any]
                            ) -> dict[str, Any] | None:
        turn, key = input_items(state, self.allow_unscreened)
        if not turn:
            return None
        verdicts = await self.guard.acheck_many([i for _, i in turn],
                                                agent=self._agent(state, runtime))
        return input_update(turn, verdicts, key, self.refusal)

    # -- after_model: the answer and its tool calls -------------------------------------------

    @hook_config(can_jump_to=["end"])
    def after_model(self, state: GuardState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        message, items = output_items(state, self.allow_unscreened)
        if message is None or not items:
            return None
        verdicts = self.guard.check_many(items, agent=self._agent(state, runtime))
        return output_update(message, items, verdicts, self.refusal)

    @hook_config(can_jump_to=["end"])
    async def aafter_model(self, state: GuardState, runtime: Runtime[Any]
                           ) -> dict[str, Any] | None:
        message, items = output_items(state, self.allow_unscreened)
        if message is None or not items:
            return None
        verdicts = await self.guard.acheck_many(items, agent=self._agent(state, runtime))
        return output_update(message, items, verdicts, self.refusal)

    # -- tools: arguments before, result after -------------------------------------------------

    def wrap_tool_call(self, request: ToolCallRequest,
                       handler: Callable[[ToolCallRequest], ToolMessage | Command[Any]]
                       ) -> ToolMessage | Command[Any]:
        agent = self._agent(request.state, request.runtime, request.runtime.config)
        call = tool_context(request)
        refusal = refuse_call(request.tool_call, self.guard.check(call, agent=agent))
        if refusal is not None:
            return refusal
        result = normalize_result(handler(request), request.tool_call, self.allow_unscreened)
        groups = result_items(result, self.allow_unscreened)
        verdicts = self.guard.check_many([i for _, items in groups for i in items], agent=agent)
        # a list result (accepted by this LangGraph's ToolNode) comes back as a list
        return cast("ToolMessage | Command[Any]", screen_results(result, groups, verdicts))

    async def awrap_tool_call(
        self, request: ToolCallRequest,
        handler: Callable[[ToolCallRequest], Awaitable[ToolMessage | Command[Any]]],
    ) -> ToolMessage | Command[Any]:
        agent = self._agent(request.state, request.runtime, request.runtime.config)
        call = tool_context(request)
        refusal = refuse_call(request.tool_call, await self.guard.acheck(call, agent=agent))
        if refusal is not None:
            return refusal
        result = normalize_result(await handler(request), request.tool_call,
                                  self.allow_unscreened)
        groups = result_items(result, self.allow_unscreened)
        verdicts = await self.guard.acheck_many([i for _, items in groups for i in items],
                                                agent=agent)
        # a list result (accepted by this LangGraph's ToolNode) comes back as a list
        return cast("ToolMessage | Command[Any]", screen_results(result, groups, verdicts))
