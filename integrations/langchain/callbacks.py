"""``GuardCallbackHandler``: guard any LangChain runnable or LangGraph graph through callbacks.

A callback can only watch and abort: it screens the prompt when a model starts, the answer
and its tool calls when it ends, each tool call before the tool runs, each tool result,
and each retrieval, and raises :class:`GuardViolation` (``raise_error=True``) on anything
the policy does not allow (``flag`` passes; ``redact`` and ``drop`` cannot be done from a
callback, so they abort too).

When to use which:

- :class:`GuardMiddleware` for ``create_agent`` agents: it can *act* (redact a tool result,
  turn a blocked tool call into an error the agent reads and goes on from, refuse).
- :class:`GuardRunnable` in LCEL chains: it can redact, drop documents and refuse.
- ``GuardCallbackHandler`` for everything else (a hand-built LangGraph graph, a legacy
  agent, third-party chains you cannot edit): one ``config={"callbacks": [handler]}`` and
  every model, tool and retriever under it is screened, with the run aborted on a block.

Model tokens are already streamed when ``on_llm_end`` fires; to keep unscreened text from
a user, buffer with ``GuardRunnable`` instead.

>>> from guard_core import Guard
>>> from guard_core.testing import ScriptedBackend
>>> handler = GuardCallbackHandler(Guard(ScriptedBackend()))
>>> handler.raise_error
True
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, LLMResult

from guard_core.adapters.boundary import joined, strings_in
from guard_core.adapters.decisions import decision
from guard_core.adapters.options import require_guard
from guard_core.adapters.unscreened import allowed_types
from guard_core.content import AssistantMessage, Item, ToolCall, ToolResult, UserMessage
from guard_core.errors import GuardViolation
from guard_core.guard import Guard

from ._agents import agent_from
from ._blocks import UNSCREENABLE_TYPES
from ._convert import (
    assistant_items,
    context_of,
    document_items,
    history_items,
    message_items,
    tool_result_items,
)
from ._schema_keys import schema_keys

__all__ = ["GuardCallbackHandler"]


@dataclass(frozen=True, slots=True)
class _Run:
    agent: str | None
    context: UserMessage | None = None
    name: str = "tool"
    query: str | None = None


class GuardCallbackHandler(BaseCallbackHandler):
    """Screens models, tools and retrievers of any run and aborts it on a block.

    What is screened: every message of every prompt a chat model is started with (system,
    every turn of the history, tool results; each by its role, every block and every other
    string it carries; the cache answers what was seen before), every field of every
    generation at ``on_llm_end`` (text, the other strings of the message, each tool call),
    each tool's input and output, and each retrieved document with its metadata.

    The agent is the developer's: ``agent=``, else ``create_agent``'s ``lc_agent_name``,
    else ``langgraph_node`` when it names an agent of the policy set; ``guard_agent`` in
    the run metadata picks one only where none is named, or with
    ``allow_agent_override=True`` (otherwise the run aborts with a ``ContentError``).
    Every verdict is audited by the guard.

    A message block the guard models cannot judge (``audio``, ``video``, binary ``file``,
    ``non_standard``) aborts the run with :class:`~guard_core.errors.ContentError`
    unless its type is named in ``allow_unscreened`` (then it passes unjudged);
    ``text-plain`` documents are screened as text.

    Example::

        handler = GuardCallbackHandler(guard)
        graph.invoke({"messages": [...]}, config={"callbacks": [handler]})
    """

    raise_error: bool = True
    run_inline: bool = False  # async runs call us in a worker thread, off the event loop

    def __init__(
        self,
        guard: Guard,
        *,
        agent: str | None = None,
        allow_unscreened: Collection[str] = (),
        allow_agent_override: bool = False,
    ) -> None:
        self.guard = require_guard("GuardCallbackHandler", guard)
        self.agent = agent
        self.allow_unscreened = allowed_types(
            allow_unscreened, UNSCREENABLE_TYPES, "GuardCallbackHandler"
        )
        self.allow_agent_override = bool(allow_agent_override)
        self._runs: dict[UUID, _Run] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"GuardCallbackHandler(agent={self.agent!r})"

    @property
    def ignore_chain(self) -> bool:
        return True

    @property
    def ignore_custom_event(self) -> bool:
        return True

    # -- bookkeeping ----------------------------------------------------------------------------

    def _agent(self, metadata: dict[str, Any] | None) -> str | None:
        return agent_from(
            self.guard,
            self.agent,
            metadata,
            allow_override=self.allow_agent_override,
            owner="GuardCallbackHandler",
        )

    def _start(self, run_id: UUID, metadata: dict[str, Any] | None, **fields: Any) -> _Run:
        run = _Run(self._agent(metadata), **fields)
        with self._lock:
            self._runs[run_id] = run
        return run

    def _end(self, run_id: UUID) -> _Run:
        with self._lock:
            return self._runs.pop(run_id, None) or _Run(self._agent(None))

    def _enforce(self, items: Sequence[Item], agent: str | None) -> None:
        if not items:
            return
        for verdict in self.guard.check_many(items, agent=agent):
            if decision(verdict) not in ("allow", "flag"):
                raise GuardViolation(verdict)

    # -- models -----------------------------------------------------------------------------

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        run = self._start(run_id, metadata, context=context_of(messages[-1]) if messages else None)
        # every message the model is sent (system, history, tool results), each by its role
        items = [
            item
            for prompt in messages
            for group in history_items(prompt, self.allow_unscreened)
            for item in group
        ]
        offered = _offered_text(kwargs.get("invocation_params"))
        if offered:  # tools / functions / schemas bound to the model: it reads them too
            items.append(UserMessage(offered))
        self._enforce(items, run.agent)

    def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        run = self._start(
            run_id, metadata, context=UserMessage(prompts[-1][-4000:]) if prompts else None
        )
        self._enforce([UserMessage(p) for p in prompts], run.agent)

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        run = self._end(run_id)
        items: list[Item] = []
        for generations in response.generations:
            for generation in generations:
                if isinstance(generation, ChatGeneration) and isinstance(
                    generation.message, AIMessage
                ):
                    # the text and every field of the answer, and each of its tool calls
                    items += assistant_items(generation.message, run.context, self.allow_unscreened)
                elif isinstance(generation, ChatGeneration):
                    items += message_items(generation.message, run.context, self.allow_unscreened)
                if not isinstance(generation, ChatGeneration) and generation.text.strip():
                    items.append(AssistantMessage(generation.text, context=run.context))
        self._enforce(items, run.agent)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id)

    # -- tools ------------------------------------------------------------------------------

    def on_tool_start(
        self,
        serialized: dict[str, Any],
        input_str: str,
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        name = str((serialized or {}).get("name") or kwargs.get("name") or "tool")
        run = self._start(run_id, metadata, name=name)
        arguments = inputs if isinstance(inputs, dict) else {"input": input_str}
        self._enforce([ToolCall(name, arguments, id=kwargs.get("tool_call_id"))], run.agent)

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        run = self._end(run_id)
        if isinstance(output, ToolMessage):
            items = tool_result_items(output, self.allow_unscreened)
        else:
            items = [ToolResult(run.name, _output_text(output))]
        self._enforce(items, run.agent)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        # ToolNode(handle_tool_errors=True) turns the error's text into the tool's message,
        # which reaches state and the caller without passing on_tool_end
        run = self._end(run_id)
        text = str(error)
        if text.strip():
            self._enforce([ToolResult(run.name, text)], run.agent)

    # -- retrievers -------------------------------------------------------------------------

    def on_retriever_start(
        self,
        serialized: dict[str, Any],
        query: str,
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._start(run_id, metadata, query=query)

    def on_retriever_end(
        self, documents: Sequence[Document], *, run_id: UUID, **kwargs: Any
    ) -> None:
        run = self._end(run_id)
        self._enforce([i for d in documents for i in document_items(d, run.query)], run.agent)

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id)


def _output_text(output: Any) -> str:
    """A tool's output as text: a string as it is; every string in a ``Command``, a list,
    a dict or a pydantic model. An object of another type is refused (``ContentError``):
    its ``str`` is not all the caller can read from it."""
    if isinstance(output, str):
        return output
    return joined(strings_in(output, where="tool output"))


_OFFERED = ("tools", "functions", "response_format", "tool_choice", "ls_structured_output_format")


def _offered_text(params: Any) -> str:
    """What a model is offered besides messages, from its ``invocation_params``."""
    if not isinstance(params, dict):
        return ""
    return joined(
        strings_in(
            {k: params[k] for k in _OFFERED if k in params},
            structural_keys=schema_keys(),
            where="invocation_params",
        )
    )
