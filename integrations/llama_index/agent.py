"""``GuardedFunctionAgent``: a FunctionAgent that screens its input, answers and tool calls.

It overrides ``take_step``, the public extension point every workflow agent implements
(standalone and inside ``AgentWorkflow``), and ``_get_llm_response``, the one other place
a standalone agent calls its LLM (a test fails if LlamaIndex renames it). It keeps the
scratchpad in the shape ``FunctionAgent`` does (``scratchpad_key``, one ``role="tool"``
message per tool call id).

There is no guarded ``ReActAgent``: its scratchpad holds ReAct reasoning-step objects whose
shape is not a public contract, so a blocked call could not be answered there without
depending on internals. Give a ReActAgent :func:`guard_tools` (every call and output is
still screened before it runs / before the model reads it).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Collection, Sequence
from typing import Any

from llama_index.core.agent.workflow import AgentOutput, FunctionAgent, ToolCallResult
from llama_index.core.agent.workflow.agent_context import AgentContext
from llama_index.core.base.llms.types import ChatMessage, ChatResponse, MessageRole
from llama_index.core.bridge.pydantic import Field
from llama_index.core.llms.llm import LLM
from llama_index.core.memory import BaseMemory
from llama_index.core.tools import AsyncBaseTool, BaseTool, ToolOutput
from llama_index.core.workflow import Context

from guard_core.adapters.decisions import (
    Refusal,
    blocks,
    default_refusal,
    refusal_because,
    refusal_text,
)
from guard_core.adapters.options import refusal_option, require_guard
from guard_core.adapters.unscreened import allowed_types
from guard_core.content import UserMessage
from guard_core.errors import ConfigurationError, GuardViolation
from guard_core.guard import Guard
from guard_core.verdict import Verdict, strongest

from ._blocks import UNSCREENABLE_TYPES
from ._convert import history_items, request_of, tools_text
from ._turns import Judged, judge, placeholder, reply_of
from .tools import guard_tools

__all__ = ["GuardedFunctionAgent"]


class GuardedFunctionAgent(FunctionAgent):
    """A ``FunctionAgent`` judged under its own policy (``guard_agent``, default its ``name``).

    Before each LLM call the whole chat history it sends is screened (``screen_input``):
    every message (caller-supplied history, memory, the system prompt, the scratchpad),
    every block, every string of ``additional_kwargs``; the verdict cache makes messages
    judged in an earlier step free. A blocked message refuses the step (``refusal``).

    The LLM's whole reply is screened before it is acted on (see ``_turns``): text,
    thinking, images, each tool call (with the user's request as context), every string of
    ``additional_kwargs`` and the raw provider response. A blocked call never runs: its
    arguments are replaced by a placeholder in the reply the memory keeps, the LLM gets a
    tool message with the reason and the agent goes on (if every call was blocked it asks
    the LLM again, at most ``max_blocked_rounds`` times); a blocked answer is replaced by
    ``refusal`` in the output, the event stream and the memory. Its tools are wrapped with
    :func:`guard_tools` (outputs screened; calls already screened here), so in an
    ``AgentWorkflow`` each agent's tools are judged under that agent's policy.

    Default deny: a block type with no rule, or a value the guard cannot read, raises
    :class:`~guard_core.errors.ContentError` naming it; an ``AudioBlock``, ``VideoBlock``
    or ``DocumentBlock`` that is not text does too (in a tool's output it withholds that
    output) unless its type is named in ``allow_unscreened`` (e.g. ``{"audio"}``: then it
    passes unjudged). ``output_cls`` is refused: LlamaIndex asks the LLM for it outside the
    agent's steps, unscreened (use ``structured_output_fn`` over the screened messages).

    The policy is the developer's: ``guard_agent`` / ``name``; nothing a client sends
    (run arguments, context state) selects another. ``streaming`` defaults to False: with
    True, token deltas reach the event stream before the whole answer could be judged
    (the stored answer is still screened). Tools from a ``tool_retriever`` are screened on
    the call and, as history, before the LLM reads their output, but their output reaches
    the event stream unjudged: wrap them with :func:`guard_tools` before indexing them.

    Example::

        agent = GuardedFunctionAgent(name="devops", guard=guard, tools=[shell], llm=llm)
    """

    guard: Any = Field(exclude=True, description="The guard_core.Guard that judges this agent.")
    guard_agent: str | None = Field(default=None, description="Policy agent name (default: name).")
    screen_input: bool = Field(default=True, description="Screen the history sent to the LLM.")
    allow_unscreened: tuple[str, ...] = Field(
        default=(),
        description="Block types the guard cannot judge that may pass unjudged: audio, "
        "video, document.",
    )
    max_blocked_rounds: int = Field(default=3, ge=0)
    refusal: Refusal = Field(
        default=default_refusal,
        description="What a blocked answer becomes: a str, or a function of the blocking "
        "Verdict that returns one.",
    )

    def __init__(
        self,
        *,
        guard: Guard,
        streaming: bool = False,
        allow_unscreened: Collection[str] = (),
        **kwargs: Any,
    ) -> None:
        guard = require_guard("GuardedFunctionAgent", guard)
        if "refusal" in kwargs:
            kwargs["refusal"] = _refusal(kwargs["refusal"])
        if kwargs.get("output_cls") is not None:
            raise ConfigurationError(
                "GuardedFunctionAgent: output_cls is asked of the LLM outside the agent's "
                "steps, so guard-core cannot screen it; use structured_output_fn over the "
                "screened messages instead"
            )
        allow = tuple(
            sorted(allowed_types(allow_unscreened, UNSCREENABLE_TYPES, "GuardedFunctionAgent"))
        )
        super().__init__(guard=guard, streaming=streaming, allow_unscreened=allow, **kwargs)
        if self.tools:
            wrapped: list[BaseTool | Callable[..., Any]] = [
                *guard_tools(
                    self.tools, guard, self.policy_agent, screen_calls=False, allow_unscreened=allow
                )
            ]
            self.tools = wrapped

    @property
    def policy_agent(self) -> str:
        """The agent name whose policy judges this agent (the developer's; never a client's)."""
        return self.guard_agent or self.name

    async def take_step(
        self,
        ctx: AgentContext,
        llm_input: list[ChatMessage],
        tools: Sequence[AsyncBaseTool],
        memory: BaseMemory,
    ) -> AgentOutput:
        request = request_of(_last_user(llm_input))  # the context calls and answers are judged in
        for _ in range(self.max_blocked_rounds + 1):
            scratchpad: list[ChatMessage] = await ctx.store.get(self.scratchpad_key, default=[])
            stop = await self._judge_history([*llm_input, *scratchpad], tools)
            if stop is not None:
                return await self._refuse(ctx, stop)
            output = await super().take_step(ctx, llm_input, tools, memory)
            reply = reply_of(
                output.response, output.tool_calls, output.raw, request, self.allow_unscreened
            )
            judged = judge(
                reply,
                await self.guard.acheck_many(reply.items, agent=self.policy_agent),
                self._refusal_text,
            )
            output.response, output.tool_calls = judged.message, judged.allowed
            output.raw = output.raw if judged.keep_raw else None
            await self._store(ctx, judged)
            if judged.allowed or not judged.blocked:
                return output
            last = judged.blocked[-1][1]
            # every call was blocked: the model now reads why in the scratchpad; ask again
        return await self._refuse(ctx, last, rounds=True)

    async def _get_llm_response(
        self, ctx: Context, llm_input: list[ChatMessage], llm: LLM | None = None
    ) -> ChatResponse:
        """The one other place the agent calls its LLM (``early_stopping_method="generate"``
        of a standalone agent): the same screening, before and after."""
        stop = await self._judge_history(llm_input)
        if stop is not None:
            return ChatResponse(
                message=ChatMessage(role="assistant", content=self._refusal_text(stop))
            )
        response = await super()._get_llm_response(ctx, llm_input, llm)
        reply = reply_of(
            response.message,
            [],
            response.raw,
            request_of(_last_user(llm_input)),
            self.allow_unscreened,
        )
        judged = judge(
            reply,
            await self.guard.acheck_many(reply.items, agent=self.policy_agent),
            self._refusal_text,
        )
        return ChatResponse(message=judged.message, raw=response.raw if judged.keep_raw else None)

    async def _judge_history(
        self, history: Sequence[ChatMessage], tools: Sequence[Any] = ()
    ) -> Verdict | None:
        """The strongest blocking verdict over every item of ``history`` and the tools the
        LLM is offered (names, descriptions, argument schemas), or None."""
        if not self.screen_input:
            return None
        items = history_items(history, self.allow_unscreened)
        offered = tools_text(tools)
        if offered:
            items.append(UserMessage(offered))
        verdicts = await self.guard.acheck_many(items, agent=self.policy_agent) if items else []
        return strongest([v for v in verdicts if blocks(v)])

    async def _store(self, ctx: AgentContext, judged: Judged) -> None:
        """Write the judged reply over the one the scratchpad holds (a store that copies
        state keeps the judged one), answer each blocked call, and tell the event stream."""
        scratchpad: list[ChatMessage] = await ctx.store.get(self.scratchpad_key, default=[])
        if scratchpad and scratchpad[-1].role == MessageRole.ASSISTANT:
            scratchpad[-1] = judged.message
        for call, verdict in judged.blocked:
            text = (
                f"Tool call blocked by guard-core: {verdict.reason}. The tool did not run; "
                "do not retry it with the same arguments."
            )
            scratchpad.append(
                ChatMessage(
                    role="tool", content=text, additional_kwargs={"tool_call_id": call.tool_id}
                )
            )
            ctx.write_event_to_stream(
                ToolCallResult(
                    tool_name=call.tool_name,
                    tool_kwargs=placeholder(verdict),
                    tool_id=call.tool_id,
                    tool_output=ToolOutput(
                        content=text,
                        tool_name=call.tool_name,
                        raw_input=placeholder(verdict),
                        is_error=True,
                        exception=GuardViolation(verdict),
                    ),
                    return_direct=False,
                )
            )
        await ctx.store.set(self.scratchpad_key, scratchpad)

    async def _refuse(
        self, ctx: AgentContext, verdict: Verdict, *, rounds: bool = False
    ) -> AgentOutput:
        message = ChatMessage(role="assistant", content=self._refusal_text(verdict, rounds=rounds))
        scratchpad: list[ChatMessage] = await ctx.store.get(self.scratchpad_key, default=[])
        scratchpad.append(message)
        await ctx.store.set(self.scratchpad_key, scratchpad)
        return AgentOutput(response=message, tool_calls=[], raw=None, current_agent_name=self.name)

    def _refusal_text(self, verdict: Verdict, *, rounds: bool = False) -> str:
        if rounds and self.refusal is default_refusal:
            return refusal_because(
                f"every tool call was blocked {self.max_blocked_rounds + 1} times in a row"
            )
        return refusal_text(self.refusal, verdict)


def _refusal(refusal: object) -> Refusal:
    """The ``refusal`` setting; a string with ``{reason}`` is the old format-string form."""
    checked = refusal_option("GuardedFunctionAgent", refusal)
    if not isinstance(checked, str) or "{reason}" not in checked:
        return checked
    warnings.warn(
        "GuardedFunctionAgent: a refusal string with {reason} is deprecated; pass a function "
        "of the Verdict (lambda verdict: f'... {verdict.reason}'), as every adapter takes",
        DeprecationWarning,
        stacklevel=4,
    )
    return lambda verdict: checked.replace("{reason}", verdict.reason)


def _last_user(messages: Sequence[ChatMessage]) -> ChatMessage | None:
    for message in reversed(messages):
        if message.role == MessageRole.USER:
            return message
    return None
