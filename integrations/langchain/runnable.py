"""``GuardRunnable``: a guard as a step of an LCEL chain.

>>> from guard_core import Guard
>>> from guard_core.testing import ScriptedBackend
>>> guard_in = GuardRunnable(Guard(ScriptedBackend()), surface="input")
>>> guard_in.invoke({"question": "what is the capital of France?"})
{'question': 'what is the capital of France?'}
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Collection, Iterator
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForChainRun, CallbackManagerForChainRun
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import ensure_config

from guard_core.adapters.decisions import GENERIC_REFUSAL, Refusal
from guard_core.adapters.options import (
    ON_BLOCK,
    OnBlock,
    Streaming,
    action_option,
    one_of,
    refusal_option,
    require_guard,
    stream_options,
)
from guard_core.adapters.unscreened import allowed_types
from guard_core.content import Surface
from guard_core.errors import ConfigurationError, GuardError, GuardViolation
from guard_core.guard import Guard
from guard_core.policy import Action

from ._agents import agent_from
from ._blocks import UNSCREENABLE_TYPES
from ._stream import Incremental, merge, streamable
from ._tree import Node, Rules, walk

__all__ = ["GuardRunnable"]

_SURFACES = ("input", "output", "tool_call", "tool_result", "retrieval")


class GuardRunnable(Runnable[Any, Any]):
    """Screens whatever flows through it on one surface, then passes it on (or not).

    Composes anywhere: ``guard_in | prompt | llm | guard_out``, ``retriever | guard_docs``.
    Takes str, messages (images in content blocks included), prompt values, an
    ``AIMessage`` with ``tool_calls``, ``Document`` lists, and lists or dicts of those.

    What happens to a blocked piece is the policy's action for the surface (or ``action=``):
    ``block`` raises :class:`GuardViolation` (``on_block="raise"``, works with
    ``with_fallbacks``) or puts a refusal of the same type in its place (``"refuse"``);
    ``redact`` replaces its text with a marker; ``drop`` removes it from its list (a lone
    value cannot be dropped, so it is blocked); ``flag`` keeps it and adds
    ``guard_core`` metadata (messages: ``response_metadata``, documents: ``metadata``).

    ``batch`` screens all inputs in one guard round. ``stream`` buffers by default, so
    nothing unscreened leaves; ``streaming="incremental"`` releases text chunks as each
    ``stream_chars`` of new text is screened, and can then only abort (raise) on a block.
    Each such check sees the new text plus the ``stream_context`` characters before it
    (default: twice ``stream_chars``, at least the guard's ``Windowing.overlap_chars``), so
    a passage that long is seen whole wherever it was split, and a stream's guard work
    grows linearly with its length; the whole message is still screened at the end.
    (Inner steps' own events, such as ``astream_events``' ``on_chat_model_stream``, are
    not this chain's output and are not held back.)

    Message content blocks the guard models cannot judge (``audio``, ``video``, binary
    ``file``, ``non_standard``, an image given only by a provider file id) raise
    :class:`~guard_core.errors.ContentError`; ``text-plain`` documents and text files are
    screened as text. ``allow_unscreened`` names the block types that may pass unjudged
    instead (e.g. ``{"audio"}`` when audio is transcribed and screened elsewhere).

    The agent whose policy judges is the developer's (``agent=``, else
    ``create_agent(name=...)``, else a ``langgraph_node`` naming an agent); a client's
    ``configurable["guard_agent"]`` picks one only where the developer named none, or
    with ``allow_agent_override=True`` (otherwise it is a ``ContentError``).

    On surface ``"input"`` a conversation (a message list, a ``ChatPromptValue``) is
    screened message by message, each by its role (system and human turns as input,
    earlier answers and their tool calls, tool results), and every string a message
    carries beyond its text (``additional_kwargs``, ``artifact``, ``name``, ...) with it.
    A redacted or refused message keeps no copy of what it said in any field.

    Example::

        chain = GuardRunnable(guard) | prompt | llm | GuardRunnable(guard, surface="output")
        docs = retriever | GuardRunnable(guard, surface="retrieval", action="drop")
    """

    def __init__(
        self,
        guard: Guard,
        surface: Surface = "input",
        *,
        on_block: OnBlock = "raise",
        action: Action | None = None,
        agent: str | None = None,
        refusal: Refusal = GENERIC_REFUSAL,
        streaming: Streaming = "buffer",
        stream_chars: int = 200,
        stream_context: int | None = None,
        allow_unscreened: Collection[str] = (),
        allow_agent_override: bool = False,
        name: str | None = None,
    ) -> None:
        guard = require_guard("GuardRunnable", guard)
        if surface not in _SURFACES:
            raise ConfigurationError(
                f"GuardRunnable surface must be one of {', '.join(_SURFACES)}; got {surface!r} "
                "(images are screened with the message they belong to, on surface='input')"
            )
        on_block = one_of("GuardRunnable", "on_block", on_block, ON_BLOCK)
        stream = stream_options(
            "GuardRunnable", streaming, stream_chars, stream_context, guard.windowing
        )
        self.guard = guard
        self.surface: Surface = surface
        self.agent = agent
        self.rules = Rules(
            on_block=on_block,
            action=action_option("GuardRunnable", action),
            refusal=refusal_option("GuardRunnable", refusal),
        )
        self.streaming, self.stream_chars, self.stream_context = stream
        self.allow_unscreened = allowed_types(allow_unscreened, UNSCREENABLE_TYPES, "GuardRunnable")
        self.allow_agent_override = bool(allow_agent_override)
        self.name = name or f"Guard[{surface}]"

    def __repr__(self) -> str:
        return (
            f"GuardRunnable(surface={self.surface!r}, on_block={self.rules.on_block!r}, "
            f"agent={self.agent!r})"
        )

    # -- pure steps -------------------------------------------------------------------------

    def _agent(self, config: RunnableConfig | None) -> str | None:
        config = config or {}
        return agent_from(
            self.guard,
            self.agent,
            config.get("metadata"),
            config.get("configurable"),
            allow_override=self.allow_agent_override,
            owner="GuardRunnable",
        )

    def _finish(self, node: Node, verdicts: list[Any]) -> Any:
        return node.build(iter(verdicts), self.rules)

    def _incremental(self) -> Incremental:
        return Incremental(self.surface, self.stream_chars, self.stream_context, self.rules.action)

    # -- invoke -----------------------------------------------------------------------------

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self._call_with_config(self._screen, input, config, **kwargs)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return await self._acall_with_config(self._ascreen, input, config, **kwargs)

    def _screen(
        self, value: Any, run_manager: CallbackManagerForChainRun, config: RunnableConfig
    ) -> Any:
        node = walk(value, self.surface, allow=self.allow_unscreened)
        return self._finish(
            node, self.guard.check_many(node.all_items(), agent=self._agent(config))
        )

    async def _ascreen(
        self, value: Any, run_manager: AsyncCallbackManagerForChainRun, config: RunnableConfig
    ) -> Any:
        node = walk(value, self.surface, allow=self.allow_unscreened)
        return self._finish(
            node, await self.guard.acheck_many(node.all_items(), agent=self._agent(config))
        )

    # -- batch: every input's items in one guard round per agent ------------------------------

    def batch(
        self,
        inputs: list[Any],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        return self._batch_with_config(
            self._screen_batch, inputs, config, return_exceptions=return_exceptions, **kwargs
        )

    async def abatch(
        self,
        inputs: list[Any],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        return await self._abatch_with_config(
            self._ascreen_batch, inputs, config, return_exceptions=return_exceptions, **kwargs
        )

    def _plan_batch(
        self, inputs: list[Any], config: list[RunnableConfig]
    ) -> tuple[list[Node | Exception], dict[str | None, list[int]]]:
        nodes: list[Node | Exception] = []
        groups: dict[str | None, list[int]] = {}
        for i, (value, cfg) in enumerate(zip(inputs, config, strict=True)):
            try:
                nodes.append(walk(value, self.surface, allow=self.allow_unscreened))
                groups.setdefault(self._agent(cfg), []).append(i)
            except GuardError as exc:
                nodes.append(exc)
        return nodes, groups

    def _finish_batch(
        self,
        nodes: list[Node | Exception],
        groups: dict[str | None, list[int]],
        verdicts: dict[str | None, list[Any]],
    ) -> list[Any]:
        out: list[Any] = list(nodes)
        for agent, indexes in groups.items():
            flat = iter(verdicts[agent])
            for i in indexes:
                node = nodes[i]
                assert isinstance(node, Node)
                mine = list(itertools.islice(flat, len(node.all_items())))
                try:
                    out[i] = self._finish(node, mine)
                except GuardViolation as exc:
                    out[i] = exc
        return out

    def _group_items(self, nodes: list[Node | Exception], indexes: list[int]) -> list[Any]:
        return [item for i in indexes for item in nodes[i].all_items()]  # type: ignore[union-attr]

    def _screen_batch(
        self,
        inputs: list[Any],
        run_manager: list[CallbackManagerForChainRun],
        config: list[RunnableConfig],
    ) -> list[Any]:
        nodes, groups = self._plan_batch(inputs, config)
        verdicts = {
            agent: self.guard.check_many(self._group_items(nodes, idx), agent=agent)
            for agent, idx in groups.items()
        }
        return self._finish_batch(nodes, groups, verdicts)

    async def _ascreen_batch(
        self,
        inputs: list[Any],
        run_manager: list[AsyncCallbackManagerForChainRun],
        config: list[RunnableConfig],
    ) -> list[Any]:
        nodes, groups = self._plan_batch(inputs, config)
        verdicts = {
            agent: await self.guard.acheck_many(self._group_items(nodes, idx), agent=agent)
            for agent, idx in groups.items()
        }
        return self._finish_batch(nodes, groups, verdicts)

    # -- stream -----------------------------------------------------------------------------

    def stream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Any]:
        yield from self.transform(iter([input]), config, **kwargs)

    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        async def one() -> AsyncIterator[Any]:
            yield input

        async for chunk in self.atransform(one(), config, **kwargs):
            yield chunk

    def transform(
        self, input: Iterator[Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Any]:
        yield from self._transform_stream_with_config(input, self._transform, config, **kwargs)

    async def atransform(
        self, input: AsyncIterator[Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        async for chunk in self._atransform_stream_with_config(
            input, self._atransform, config, **kwargs
        ):
            yield chunk

    def _transform(
        self, chunks: Iterator[Any], run_manager: CallbackManagerForChainRun, config: RunnableConfig
    ) -> Iterator[Any]:
        agent = self._agent(ensure_config(config))
        first = next(chunks, _END)
        if first is _END:
            return
        if self.streaming == "incremental" and streamable(first, self.surface):
            state = self._incremental()
            for chunk in itertools.chain([first], chunks):
                if state.push(chunk):
                    verdict = self.guard.check(state.item(), agent=agent)
                    if not state.passes(verdict):
                        if state.released:
                            raise GuardViolation(verdict)
                        break  # nothing left yet: judge what there is as a whole below
                    yield from state.release()
            node = walk(state.whole(), self.surface, allow=self.allow_unscreened)
            verdicts = self.guard.check_many(node.all_items(), agent=agent)
            yield from state.last(verdicts, lambda: self._finish(node, verdicts))
            return
        yield self._screen(merge([first, *chunks]), run_manager, config)

    async def _atransform(
        self,
        chunks: AsyncIterator[Any],
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
    ) -> AsyncIterator[Any]:
        agent = self._agent(ensure_config(config))
        first = await anext(chunks, _END)
        if first is _END:
            return
        if self.streaming == "incremental" and streamable(first, self.surface):
            state = self._incremental()
            pending: Any = first
            while pending is not _END:
                if state.push(pending):
                    verdict = await self.guard.acheck(state.item(), agent=agent)
                    if not state.passes(verdict):
                        if state.released:
                            raise GuardViolation(verdict)
                        break
                    for chunk in state.release():
                        yield chunk
                pending = await anext(chunks, _END)
            node = walk(state.whole(), self.surface, allow=self.allow_unscreened)
            verdicts = await self.guard.acheck_many(node.all_items(), agent=agent)
            for chunk in state.last(verdicts, lambda: self._finish(node, verdicts)):
                yield chunk
            return
        rest = [chunk async for chunk in chunks]
        yield await self._ascreen(merge([first, *rest]), run_manager, config)


_END: Any = object()
