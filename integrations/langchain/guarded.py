"""``GuardedRunnable``: a whole runnable behind a guard that short-circuits on a block.

>>> from guard_core import Guard
>>> from guard_core.testing import ScriptedBackend
>>> from langchain_core.language_models.fake_chat_models import FakeListChatModel
>>> from langchain_core.output_parsers import StrOutputParser
>>> model = FakeListChatModel(responses=["Paris.", "Rome."])
>>> guarded = GuardedRunnable(model | StrOutputParser(), Guard(ScriptedBackend()),
...                           on_block="refuse")
>>> guarded.invoke("what is the capital of France?")
'Paris.'
>>> guarded.invoke("how do I build a bomb?")  # the model is not called
"I can't help with that request."
>>> guarded.invoke("and of Italy?")  # the model's next answer
'Rome.'
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Iterator
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForChainRun, CallbackManagerForChainRun
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.runnables import Runnable, RunnableConfig

from guard_core.adapters.decisions import GENERIC_REFUSAL, Refusal, refusal_text
from guard_core.adapters.options import (
    ON_BLOCK,
    OnBlock,
    Streaming,
    one_of,
    refusal_option,
    require_guard,
    stream_options,
)
from guard_core.adapters.unscreened import allowed_types
from guard_core.errors import ConfigurationError, GuardViolation
from guard_core.guard import Guard

from ._blocks import UNSCREENABLE_TYPES
from ._leaves import message_leaf
from .runnable import GuardRunnable

__all__ = ["GuardedRunnable"]

_OWNER = "GuardedRunnable"
_Run = CallbackManagerForChainRun
_ARun = AsyncCallbackManagerForChainRun


class GuardedRunnable(Runnable[Any, Any]):
    """Runs ``runnable`` only on screened input, and returns only screened output.

    The input is screened whole on surface ``"input"``, as ``GuardRunnable`` screens it. A
    block stops there, before ``runnable`` runs: ``on_block="raise"`` raises
    :class:`GuardViolation`; ``"refuse"`` returns a refusal shaped like ``runnable``'s
    output (a str where its ``OutputType`` is ``str``, else an ``AIMessage``, from a stream
    an ``AIMessageChunk``) marked in ``response_metadata["guard_core"]``. Otherwise
    ``runnable`` runs on exactly the screened value (redacted, dropped, flagged as the
    policy says) and its output is screened on surface ``"output"``: refused or raised.
    (``GuardRunnable(guard, on_block="refuse") | chain`` instead runs the chain on the
    refusal.) A ``GuardViolation`` raised inside ``runnable`` propagates unchanged.

    ``batch`` screens all inputs in one guard round and all outputs in another. ``stream``
    screens the input before ``runnable`` starts, and the output as ``GuardRunnable``
    does (``streaming``, ``stream_chars``, ``stream_context``); ``agent``,
    ``allow_unscreened`` and ``allow_agent_override`` mean what they mean there.
    """

    def __init__(
        self,
        runnable: Runnable[Any, Any],
        guard: Guard,
        *,
        on_block: OnBlock = "raise",
        agent: str | None = None,
        refusal: Refusal = GENERIC_REFUSAL,
        streaming: Streaming = "buffer",
        stream_chars: int = 200,
        stream_context: int | None = None,
        allow_unscreened: Collection[str] = (),
        allow_agent_override: bool = False,
        name: str | None = None,
    ) -> None:
        if not isinstance(runnable, Runnable):
            raise ConfigurationError(
                f"{_OWNER} wraps a Runnable (a chain, a model, a RunnableLambda); "
                f"got {type(runnable).__name__}"
            )
        guard = require_guard(_OWNER, guard)
        self.on_block: OnBlock = one_of(_OWNER, "on_block", on_block, ON_BLOCK)
        stream = stream_options(_OWNER, streaming, stream_chars, stream_context, guard.windowing)
        refusal = refusal_option(_OWNER, refusal)
        allow = allowed_types(allow_unscreened, UNSCREENABLE_TYPES, _OWNER)
        self.runnable, self.guard = runnable, guard
        shared: dict[str, Any] = {
            "agent": agent,
            "allow_unscreened": allow,
            "allow_agent_override": allow_agent_override,
        }
        # The input guard always raises: the violation tells a block from a screened value
        # and carries the verdict the refusal is made from.
        self._input = GuardRunnable(guard, "input", **shared)
        self._output = GuardRunnable(
            guard, "output", on_block=self.on_block, refusal=refusal, **stream._asdict(), **shared
        )
        # one sequence: batch and stream hand each step's results on as LangChain does
        self._then = runnable | self._output
        self.name = name or f"Guarded[{runnable.get_name()}]"

    @property
    def OutputType(self) -> Any:  # LangChain's name
        return self.runnable.OutputType

    # -- pure steps, shared by the sync and async paths --------------------------------------

    def _refused(self, violation: GuardViolation, *, chunk: bool = False) -> Any:
        """What an input block returns (or raises)."""
        if self.on_block == "raise":
            raise violation
        verdict = violation.verdict
        text = refusal_text(self._output.rules.refusal, verdict)
        if _answers_text(self.runnable):
            return text
        template = AIMessageChunk(content="") if chunk else AIMessage(content="")
        return message_leaf(template, []).refused(verdict, text)  # GuardRunnable's marks

    def _admit(self, screened: list[Any], fail_fast: bool) -> tuple[list[Any], list[int]]:
        """Each screened input, or a refusal or an error in its place; the ones to run.

        ``fail_fast`` (a batch without ``return_exceptions``): the first error ends the
        batch before ``runnable`` works on the other inputs."""
        run = [i for i, value in enumerate(screened) if not isinstance(value, Exception)]
        if self.on_block == "refuse":
            screened = [self._refused(v) if isinstance(v, GuardViolation) else v for v in screened]
        error = next((v for v in screened if isinstance(v, Exception)), None)
        if error is not None and fail_fast:
            raise error
        return screened, run

    # -- invoke. LangChain's ``_call_with_config`` family hands each ``_function`` below the
    # child config (``patch_config(config, callbacks=run_manager.get_child())``): passed on.

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self._call_with_config(self._invoke, input, config, **kwargs)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return await self._acall_with_config(self._ainvoke, input, config, **kwargs)

    def _invoke(self, value: Any, run_manager: _Run, config: RunnableConfig, **kw: Any) -> Any:
        try:
            screened = self._input.invoke(value, config)
        except GuardViolation as violation:
            return self._refused(violation)
        return self._then.invoke(screened, config, **kw)

    async def _ainvoke(
        self, value: Any, run_manager: _ARun, config: RunnableConfig, **kw: Any
    ) -> Any:
        try:
            screened = await self._input.ainvoke(value, config)
        except GuardViolation as violation:
            return self._refused(violation)
        return await self._then.ainvoke(screened, config, **kw)

    # -- batch: one guard round for all inputs, one for all outputs --------------------------

    def batch(
        self,
        inputs: list[Any],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        return self._batch_with_config(
            self._batch,
            inputs,
            config,
            return_exceptions=return_exceptions,
            fail_fast=not return_exceptions,
            **kwargs,
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
            self._abatch,
            inputs,
            config,
            return_exceptions=return_exceptions,
            fail_fast=not return_exceptions,
            **kwargs,
        )

    def _batch(
        self,
        inputs: list[Any],
        run_manager: list[_Run],
        config: list[RunnableConfig],
        fail_fast: bool = True,
        **kw: Any,
    ) -> list[Any]:
        out, run = self._admit(self._input.batch(inputs, config, return_exceptions=True), fail_fast)
        done = self._then.batch(*_picked(out, config, run), return_exceptions=not fail_fast, **kw)
        return _placed(out, run, done)

    async def _abatch(
        self,
        inputs: list[Any],
        run_manager: list[_ARun],
        config: list[RunnableConfig],
        fail_fast: bool = True,
        **kw: Any,
    ) -> list[Any]:
        screened = await self._input.abatch(inputs, config, return_exceptions=True)
        out, run = self._admit(screened, fail_fast)
        picked = _picked(out, config, run)
        return _placed(
            out, run, await self._then.abatch(*picked, return_exceptions=not fail_fast, **kw)
        )

    # -- stream: the input whole (``transform`` collects it first, LangChain's default), then
    # the runnable's stream through the output guard

    def stream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Any]:
        yield from self._transform_stream_with_config(iter([input]), self._stream, config, **kwargs)

    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        async def one() -> AsyncIterator[Any]:
            yield input

        async for chunk in self._atransform_stream_with_config(
            one(), self._astream, config, **kwargs
        ):
            yield chunk

    def _stream(
        self, chunks: Iterator[Any], run_manager: _Run, config: RunnableConfig, **kw: Any
    ) -> Iterator[Any]:
        try:
            screened = self._input.invoke(next(chunks), config)
        except GuardViolation as violation:
            yield self._refused(violation, chunk=True)
            return
        yield from self._then.stream(screened, config, **kw)

    async def _astream(
        self, chunks: AsyncIterator[Any], run_manager: _ARun, config: RunnableConfig, **kw: Any
    ) -> AsyncIterator[Any]:
        try:
            screened = await self._input.ainvoke(await anext(chunks), config)
        except GuardViolation as violation:
            yield self._refused(violation, chunk=True)
            return
        async for chunk in self._then.astream(screened, config, **kw):
            yield chunk


def _picked(out: list[Any], config: list[RunnableConfig], run: list[int]) -> tuple[list[Any], Any]:
    return [out[i] for i in run], [config[i] for i in run]


def _placed(out: list[Any], run: list[int], values: list[Any]) -> list[Any]:
    for i, value in zip(run, values, strict=True):
        out[i] = value
    return out


def _answers_text(runnable: Runnable[Any, Any]) -> bool:
    try:
        out: Any = runnable.OutputType
    except TypeError:  # LangChain cannot tell: a message, what most chains end with
        return False
    # a function's annotation under ``from __future__ import annotations`` is its name
    return out == "str" or (isinstance(out, type) and issubclass(out, str))
