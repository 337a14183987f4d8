"""``GuardMiddleware``: guard-core inside a LangChain v1 ``create_agent`` loop.

>>> from guard_core import Guard
>>> from guard_core.testing import ScriptedBackend
>>> GuardMiddleware(Guard(ScriptedBackend()), agent="support").name
'GuardMiddleware'
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any, cast

from guard_core.backends.base import Backend
from guard_core.errors import ConfigurationError, MissingDependencyError
from guard_core.guard import Guard
from guard_core.policy import Policy, PolicySet

try:
    from langchain.agents.middleware import AgentMiddleware, AgentState
    from langchain.agents.middleware.types import (
        ExtendedModelResponse,
        ModelCallResult,
        ModelRequest,
        ModelResponse,
    )
    from langchain_core.messages import ToolMessage
    from langgraph.prebuilt.tool_node import ToolCallRequest
    from langgraph.types import Command
except ImportError:  # the middleware needs `langchain` itself, not only langchain-core
    raise MissingDependencyError("langchain", "langchain") from None

from guard_core.adapters.boundary import AGENT_KEY
from guard_core.adapters.decisions import GENERIC_REFUSAL, Refusal
from guard_core.adapters.options import refusal_option, require_guard
from guard_core.adapters.unscreened import allowed_types

from ._agent_steps import (
    AgentResolver,
    normalize_result,
    refuse_call,
    resolve_agent,
    result_items,
    screen_results,
    tool_context,
)
from ._blocks import UNSCREENABLE_TYPES
from ._model_call import (
    Outcome,
    hidden_from_stream,
    judge_request,
    judge_response,
    request_screening,
    response_screening,
)
from ._tool_results import error_item, reraise_unless_allowed

__all__ = ["AgentResolver", "GuardMiddleware"]


def _finish(response: ModelResponse[Any], outcome: Outcome) -> ModelCallResult[Any]:
    if not outcome.state:
        return response
    # the blocked or redacted messages are replaced in state (same ids): never history again
    return ExtendedModelResponse(
        model_response=response, command=Command(update={"messages": outcome.state})
    )


def _refused(outcome: Outcome, agent: str | None) -> ModelResponse[Any]:
    """The refusal in place of the model's answer, named like the agent's answers."""
    assert outcome.refusal is not None
    return ModelResponse(result=[outcome.refusal.model_copy(update={"name": agent})])


class GuardMiddleware(AgentMiddleware[AgentState[Any], Any, Any]):
    """Screens every crossing of a ``create_agent`` loop under the agent's own policy.

    - ``wrap_model_call`` / ``awrap_model_call``: the whole request before the model runs
      (the system message and every message of the history, each by its role, every
      content block and every other string a message carries; the cache answers what was
      seen before) and the whole response before it leaves the model node (the answer's
      text and every field, every tool call, a structured-output tool call and the
      structured response). A block in the request returns a refusal ``AIMessage``
      instead of calling the model (the blocked messages are replaced in state); a
      blocked tool call keeps its id with its arguments replaced by a placeholder and an
      error ``ToolMessage`` in its place (the tool never runs; the agent goes on); any
      other block in the response returns a refusal with no tool calls. ``redact``
      rewrites the message (every copy of what it said). So no stream mode and no later
      node sees anything unscreened.
    - ``wrap_tool_call`` / ``awrap_tool_call``: each tool call's arguments before it runs
      (a block returns an error ``ToolMessage``) and the result in every shape a tool can
      return (``ToolMessage``, ``Command`` updates, lists) before it enters state.

    Actions come from the agent's policy, per surface; ``drop`` acts as ``block`` on a
    message; ``flag`` lets it through with ``response_metadata["guard_core"]``.

    The policy is the developer's choice: ``agent=`` (a name, or a callable
    ``(state, runtime) -> name | None``), else ``create_agent(name=...)``, else a
    ``langgraph_node`` naming an agent of the policy set. A client's choice (the
    ``context_key`` field of ``runtime.context``, ``configurable["guard_agent"]``) applies
    only where the developer named none, or with ``allow_agent_override=True``; otherwise
    it is a :class:`~guard_core.errors.ContentError`.

    Content the guard models cannot judge (``audio``, ``video``, binary ``file``,
    unknown or ``non_standard`` blocks, an object in a field that is not text) raises
    :class:`~guard_core.errors.ContentError` in a model request or response (the model
    never sees it), and is withheld as an error ``ToolMessage`` in a tool result.
    ``allow_unscreened`` names the block types that may pass unjudged (e.g. ``{"audio"}``).

    The model runs hidden from ``stream_mode="messages"`` (LangGraph's ``nostream`` tag):
    that mode streams the screened answer once the model node ends, not tokens. Put this
    middleware last in ``middleware=[...]``: it then screens what the model is sent after
    every other middleware changed the request.

    Example::

        guard = Guard(RemoteBackend.nim(), PolicySet.from_yaml("policies.yaml"))
        agent = create_agent(model, tools, middleware=[GuardMiddleware(guard)], name="billing")
    """

    def __init__(
        self,
        guard: Guard | Policy | PolicySet,
        *,
        backend: Backend | None = None,
        agent: str | AgentResolver | None = None,
        context_key: str = AGENT_KEY,
        refusal: Refusal = GENERIC_REFUSAL,
        allow_unscreened: Collection[str] = (),
        allow_agent_override: bool = False,
        name: str | None = None,
    ) -> None:
        super().__init__()
        if isinstance(guard, Policy | PolicySet):
            if backend is None:
                raise ConfigurationError(
                    "GuardMiddleware got a policy but no backend; pass backend=RemoteBackend(...) "
                    "or a ready Guard"
                )
            guard = Guard(backend, guard)
        self.guard = require_guard(
            "GuardMiddleware", guard, accepts="a Guard, or a Policy or PolicySet with backend="
        )
        self.agent = agent
        self.context_key = context_key
        self.refusal = refusal_option("GuardMiddleware", refusal)
        self.allow_unscreened = allowed_types(
            allow_unscreened, UNSCREENABLE_TYPES, "GuardMiddleware"
        )
        self.allow_agent_override = bool(allow_agent_override)
        self.tools = []
        self._name = name

    @property
    def name(self) -> str:
        return self._name or type(self).__name__

    def _agent(
        self, state: Any, runtime: Any, config: Mapping[str, Any] | None = None
    ) -> str | None:
        return resolve_agent(
            self.guard,
            self.agent,
            self.context_key,
            state,
            runtime,
            config,
            self.allow_agent_override,
        )

    # -- the model call: the whole request, then the whole response ---------------------------

    def wrap_model_call(
        self, request: ModelRequest[Any], handler: Callable[[ModelRequest[Any]], ModelResponse[Any]]
    ) -> ModelCallResult[Any]:
        agent = self._agent(request.state, request.runtime)
        asked = request_screening(request, self.allow_unscreened)
        outcome = judge_request(
            request, asked, self.guard.check_many(asked.items(), agent=agent), self.refusal
        )
        if outcome.request is None:
            return _finish(_refused(outcome, agent), outcome)
        with hidden_from_stream():
            response = handler(outcome.request)
        answer = response_screening(response, outcome.request, self.allow_unscreened)
        verdicts = self.guard.check_many(answer.items(), agent=agent)
        return _finish(judge_response(response, answer, verdicts, self.refusal), outcome)

    async def awrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]],
    ) -> ModelCallResult[Any]:
        agent = self._agent(request.state, request.runtime)
        asked = request_screening(request, self.allow_unscreened)
        verdicts = await self.guard.acheck_many(asked.items(), agent=agent)
        outcome = judge_request(request, asked, verdicts, self.refusal)
        if outcome.request is None:
            return _finish(_refused(outcome, agent), outcome)
        with hidden_from_stream():
            response = await handler(outcome.request)
        answer = response_screening(response, outcome.request, self.allow_unscreened)
        verdicts = await self.guard.acheck_many(answer.items(), agent=agent)
        return _finish(judge_response(response, answer, verdicts, self.refusal), outcome)

    # -- tools: arguments before, result after -------------------------------------------------

    def wrap_tool_call(
        self,
        request: ToolCallRequest,
        handler: Callable[[ToolCallRequest], ToolMessage | Command[Any]],
    ) -> ToolMessage | Command[Any]:
        agent = self._agent(request.state, request.runtime, request.runtime.config)
        call = tool_context(request)
        refusal = refuse_call(request.tool_call, self.guard.check(call, agent=agent))
        if refusal is not None:
            return refusal
        try:
            answer = handler(request)
        except Exception as exc:
            failed = error_item(request.tool_call, exc)
            if failed is not None:
                reraise_unless_allowed(exc, self.guard.check(failed, agent=agent))
            raise
        result = normalize_result(answer, request.tool_call, self.allow_unscreened)
        groups = result_items(result, self.allow_unscreened)
        verdicts = self.guard.check_many([i for _, items in groups for i in items], agent=agent)
        # a list result (accepted by this LangGraph's ToolNode) comes back as a list
        return cast("ToolMessage | Command[Any]", screen_results(result, groups, verdicts))

    async def awrap_tool_call(
        self,
        request: ToolCallRequest,
        handler: Callable[[ToolCallRequest], Awaitable[ToolMessage | Command[Any]]],
    ) -> ToolMessage | Command[Any]:
        agent = self._agent(request.state, request.runtime, request.runtime.config)
        call = tool_context(request)
        refusal = refuse_call(request.tool_call, await self.guard.acheck(call, agent=agent))
        if refusal is not None:
            return refusal
        try:
            answer = await handler(request)
        except Exception as exc:
            failed = error_item(request.tool_call, exc)
            if failed is not None:
                reraise_unless_allowed(exc, await self.guard.acheck(failed, agent=agent))
            raise
        result = normalize_result(answer, request.tool_call, self.allow_unscreened)
        groups = result_items(result, self.allow_unscreened)
        verdicts = await self.guard.acheck_many(
            [i for _, items in groups for i in items], agent=agent
        )
        # a list result (accepted by this LangGraph's ToolNode) comes back as a list
        return cast("ToolMessage | Command[Any]", screen_results(result, groups, verdicts))
