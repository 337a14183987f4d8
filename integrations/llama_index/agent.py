"""``GuardedFunctionAgent``: a FunctionAgent that screens its input, answers and tool calls.

It overrides only ``take_step``, the public extension point every workflow agent implements
(standalone and inside ``AgentWorkflow``), and keeps the scratchpad in the same shape
``FunctionAgent`` does (``scratchpad_key``, one ``role="tool"`` message per tool call id).

There is no guarded ``ReActAgent``: its scratchpad holds ReAct reasoning-step objects whose
shape is not a public contract, so a blocked call could not be answered there without
depending on internals. Give a ReActAgent :func:`guard_tools` (every call and output is
still screened before it runs / before the model reads it).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any

from llama_index.core.agent.workflow import AgentOutput, FunctionAgent, ToolCallResult
from llama_index.core.agent.workflow.agent_context import AgentContext
from llama_index.core.base.llms.types import ChatMessage, MessageRole, TextBlock
from llama_index.core.bridge.pydantic import Field
from llama_index.core.llms.llm import ToolSelection
from llama_index.core.memory import BaseMemory
from llama_index.core.tools import AsyncBaseTool, BaseTool, ToolOutput

from guard_core._unscreened import allowed_types
from guard_core.content import AssistantMessage, Item, ToolCall, UserMessage
from guard_core.errors import GuardViolation
from guard_core.guard import Guard
from guard_core.verdict import Verdict, strongest

from ._blocks import UNSCREENABLE_TYPES
from ._convert import call_item, message_parts
from .tools import guard_tools

__all__ = ["GuardedFunctionAgent"]


def _blocks(verdict: Verdict) -> bool:
    return not verdict.allowed and (verdict.decision != "flag" or verdict.error is not None)


class GuardedFunctionAgent(FunctionAgent):
    """A ``FunctionAgent`` judged under its own policy (``guard_agent``, default its ``name``).

    Each step: the user's message is screened before the LLM sees it (``screen_input``);
    the LLM's tool calls are screened, with the user's request as context, before any is
    dispatched (a blocked call never runs: the LLM gets a tool message with the reason and
    the agent goes on; if every call was blocked it asks the LLM again, at most
    ``max_blocked_rounds`` times); its final answer is screened before it is returned or
    stored (a blocked answer is replaced by ``refusal``). Its tools are wrapped with
    :func:`guard_tools` (outputs screened; calls already screened here), so in an
    ``AgentWorkflow`` each agent's tools are judged under that agent's policy.

    The user's message is screened with its images; text documents and citation blocks
    count as text. A block the guard models cannot judge (``AudioBlock``, ``VideoBlock``, a
    ``DocumentBlock`` that is not text) in the user's message or the model's answer raises
    :class:`~guard_core.errors.ContentError`, and in a tool's output withholds that output,
    unless its type is named in ``allow_unscreened`` (e.g. ``{"audio"}``: then it passes
    unjudged).

    ``streaming`` defaults to False: with True, token deltas reach the event stream before
    the whole answer could be judged (the stored answer is still screened).
    Tools from a ``tool_retriever`` are screened on the call, not the output: wrap them
    with :func:`guard_tools` before indexing them.

    Example::

        agent = GuardedFunctionAgent(name="devops", guard=guard, tools=[shell], llm=llm)
    """

    guard: Any = Field(exclude=True, description="The guard_core.Guard that judges this agent.")
    guard_agent: str | None = Field(default=None, description="Policy agent name (default: name).")
    screen_input: bool = True
    allow_unscreened: tuple[str, ...] = Field(
        default=(),
        description="Block types the guard cannot judge that may pass unjudged: audio, "
                    "video, document.")
    max_blocked_rounds: int = Field(default=3, ge=0)
    refusal: str = Field(default="I can't help with that: {reason}.",
                         description="What a blocked answer becomes; {reason} is filled in.")

    def __init__(self, *, guard: Guard, streaming: bool = False,
                 allow_unscreened: Collection[str] = (), **kwargs: Any) -> None:
        if not isinstance(guard, Guard):
            raise TypeError(f"guard must be a guard_core.Guard, got {type(guard).__name__}")
        allow = tuple(sorted(allowed_types(allow_unscreened, UNSCREENABLE_TYPES,
                                           "GuardedFunctionAgent")))
        super().__init__(guard=guard, streaming=streaming, allow_unscreened=allow, **kwargs)
        if self.tools:
            wrapped: list[BaseTool | Callable[..., Any]] = [
                *guard_tools(self.tools, guard, self.policy_agent, screen_calls=False,
                             allow_unscreened=allow)]
            self.tools = wrapped

    @property
    def policy_agent(self) -> str:
        """The agent name whose policy judges this agent."""
        return self.guard_agent or self.name

    async def take_step(self, ctx: AgentContext, llm_input: list[ChatMessage],
                        tools: Sequence[AsyncBaseTool], memory: BaseMemory) -> AgentOutput:
        user = _last_user(llm_input)
        request = UserMessage(user.content or "") if user is not None else None  # as context
        scratchpad: list[ChatMessage] = await ctx.store.get(self.scratchpad_key, default=[])
        if self.screen_input and user is not None and not scratchpad \
                and llm_input[-1].role == MessageRole.USER:
            text, images = message_parts(user, "user message", self.allow_unscreened)
            verdict = await self.guard.acheck(UserMessage(text, images=tuple(images)),
                                              agent=self.policy_agent)
            if _blocks(verdict):
                return await self._refuse(ctx, verdict)
        for _ in range(self.max_blocked_rounds + 1):
            output = await super().take_step(ctx, llm_input, tools, memory)
            calls = list(output.tool_calls)
            text, images = message_parts(output.response, "the model's answer",
                                         self.allow_unscreened)
            # The answer (text, images) is judged too when it comes with tool calls: it
            # reaches the event stream and memory either way.
            answer: list[Item] = [*images]
            if text or not calls:
                answer.insert(0, AssistantMessage(text, context=request))
            verdicts = await self.guard.acheck_many([*(_call(c, request) for c in calls),
                                                     *answer], agent=self.policy_agent)
            said = strongest(verdicts[len(calls):])
            verdicts = verdicts[:len(calls)]
            if said is not None and _blocks(said):
                await self._withhold_text(ctx, output, said)
            if not calls:
                return output
            blocked = [(c, v) for c, v in zip(calls, verdicts, strict=True) if _blocks(v)]
            if not blocked:
                return output
            await self._answer_blocked(ctx, blocked)
            output.tool_calls = [c for c, v in zip(calls, verdicts, strict=True) if not _blocks(v)]
            if output.tool_calls:
                return output
            # every call was blocked: the model now reads why in the scratchpad; ask again
        return await self._refuse(ctx, None)

    async def _withhold_text(self, ctx: AgentContext, output: AgentOutput,
                             verdict: Verdict) -> None:
        """Replace a blocked answer everywhere it went: the output, its raw provider response
        (sent to the event stream), and the scratchpad (written back, so a store that copies
        state keeps the refusal, not the answer)."""
        output.response.blocks = [TextBlock(text=self._refusal_text(verdict))]
        output.raw = None
        scratchpad: list[ChatMessage] = await ctx.store.get(self.scratchpad_key, default=[])
        if scratchpad and scratchpad[-1].role == MessageRole.ASSISTANT:
            scratchpad[-1] = output.response
        await ctx.store.set(self.scratchpad_key, scratchpad)

    async def _answer_blocked(self, ctx: AgentContext,
                              blocked: list[tuple[ToolSelection, Verdict]]) -> None:
        scratchpad: list[ChatMessage] = await ctx.store.get(self.scratchpad_key, default=[])
        for call, verdict in blocked:
            text = (f"Tool call blocked by guard-core: {verdict.reason}. The tool did not run; "
                    "do not retry it with the same arguments.")
            scratchpad.append(ChatMessage(role="tool", content=text,
                                          additional_kwargs={"tool_call_id": call.tool_id}))
            ctx.write_event_to_stream(ToolCallResult(
                tool_name=call.tool_name, tool_kwargs=call.tool_kwargs, tool_id=call.tool_id,
                tool_output=ToolOutput(content=text, tool_name=call.tool_name,
                                       raw_input=call.tool_kwargs, is_error=True,
                                       exception=GuardViolation(verdict)),
                return_direct=False))
        await ctx.store.set(self.scratchpad_key, scratchpad)

    async def _refuse(self, ctx: AgentContext, verdict: Verdict | None) -> AgentOutput:
        message = ChatMessage(role="assistant", content=self._refusal_text(verdict))
        scratchpad: list[ChatMessage] = await ctx.store.get(self.scratchpad_key, default=[])
        scratchpad.append(message)
        await ctx.store.set(self.scratchpad_key, scratchpad)
        return AgentOutput(response=message, tool_calls=[], raw=None,
                           current_agent_name=self.name)

    def _refusal_text(self, verdict: Verdict | None) -> str:
        reason = verdict.reason if verdict is not None else (
            f"every tool call was blocked {self.max_blocked_rounds + 1} times in a row")
        return self.refusal.format(reason=reason)


def _call(selection: ToolSelection, request: UserMessage | None) -> ToolCall:
    item = call_item(selection.tool_name, selection.tool_kwargs or {})
    return ToolCall(item.name, item.arguments, id=selection.tool_id, context=request)


def _last_user(messages: Sequence[ChatMessage]) -> ChatMessage | None:
    for message in reversed(messages):
        if message.role == MessageRole.USER:
            return message
    return None
