"""``guard_tools``: wrap LlamaIndex tools so each call is screened before it runs and after.

>>> from guard_core import Guard
>>> from guard_core.testing import ScriptedBackend
>>> def shell(command: str) -> str:
...     "Run a shell command."
...     return "ran " + command
>>> [tool] = guard_tools([shell], Guard(ScriptedBackend()))
>>> tool(command="ls").content
'ran ls'
>>> tool(command="build a bomb").is_error
True
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Sequence
from typing import Any

from llama_index.core.tools import BaseTool, FunctionTool, ToolMetadata, ToolOutput
from llama_index.core.tools.types import AsyncBaseTool

from guard_core.adapters.options import require_guard
from guard_core.adapters.unscreened import allowed_types
from guard_core.content import Item, ToolResult
from guard_core.errors import ConfigurationError, ContentError, GuardViolation
from guard_core.guard import Guard
from guard_core.verdict import Verdict, strongest

from ._blocks import UNSCREENABLE_TYPES
from ._convert import call_item, output_items, raw_item, tool_kwargs, withheld_text

__all__ = ["GuardedFunctionTool", "GuardedTool", "guard_tool", "guard_tools"]

logger = logging.getLogger("guard_core.integrations.llama_index")


class _Screen:
    """The screening both wrappers share; only the inner call differs."""

    def __init__(
        self,
        tool: BaseTool,
        guard: Guard,
        agent: str | None,
        screen_calls: bool,
        screen_outputs: bool,
        skip: str | None,
        allow: Collection[str],
    ) -> None:
        guard = require_guard("GuardedTool", guard)
        self.allow = allowed_types(allow, UNSCREENABLE_TYPES, "guard_tools")
        self.inner = tool
        self.guard = guard
        self.agent = agent
        self.screen_calls = screen_calls
        self.screen_outputs = screen_outputs
        self.name = tool.metadata.get_name()
        self.meta: ToolMetadata = tool.metadata
        self.skip = skip  # the Context parameter: injected by the workflow, not the model

    def arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        return tool_kwargs(self.meta, args, kwargs, skip=self.skip)

    def refusal(self, verdict: Verdict, arguments: dict[str, Any]) -> ToolOutput | None:
        """The error output for a blocked call, or None when it may run."""
        if verdict.allowed:
            return None
        if verdict.decision == "flag":  # never for a verdict with an error: that is "block"
            logger.warning("tool %s: call flagged, running it: %s", self.name, verdict.reason)
            return None
        return ToolOutput(
            content=f"Tool call blocked by guard-core: {verdict.reason}. The tool did not run; "
            "do not retry it with the same arguments.",
            tool_name=self.name,
            raw_input=arguments,
            raw_output=None,
            is_error=True,
            exception=GuardViolation(verdict),
        )

    def items(
        self, output: ToolOutput, arguments: dict[str, Any]
    ) -> tuple[list[Item], ToolOutput, bool]:
        """Items to screen and the output to pass if safe (``raw_output`` dropped when it
        cannot be read), or the withheld output (True) when a block cannot be read."""
        try:
            items = output_items(self.name, output, self.allow)
        except ContentError as exc:
            return (
                [],
                ToolOutput(
                    content=withheld_text(f"output of tool {self.name!r}", exc),
                    tool_name=self.name,
                    raw_input=arguments,
                    raw_output=None,
                    is_error=True,
                    exception=exc,
                ),
                True,
            )
        try:
            raw = raw_item(self.name, output, self.allow)
        except ContentError:  # an object the walk cannot read: the caller never gets it
            output, raw = output.model_copy(update={"raw_output": None}), None
        return [*items, *([raw] if raw is not None else [])], output, False

    def judged(
        self, output: ToolOutput, verdicts: Sequence[Verdict], arguments: dict[str, Any]
    ) -> ToolOutput:
        """The output the model may read: itself, or a marker if any part is unsafe."""
        bad = strongest(verdicts)  # a flagged part never hides a blocked one
        if bad is None or bad.allowed:
            return output
        if bad.decision == "flag":
            logger.warning("tool %s: output flagged, passing it on: %s", self.name, bad.reason)
            return output
        return ToolOutput(
            content=withheld_text(f"output of tool {self.name!r}", bad),
            tool_name=self.name,
            raw_input=arguments,
            raw_output=None,
            is_error=bad.decision != "redact",
            exception=GuardViolation(bad),
        )

    def error_item(self, exc: BaseException) -> ToolResult:
        """A tool's exception as its result: the agent turns ``str(exc)`` into the tool's
        output, which the model reads next and the event stream carries."""
        return ToolResult(self.name, str(exc) or type(exc).__name__)

    def screen_error(self, exc: BaseException, verdict: Verdict | None) -> None:
        """Raise a ``GuardViolation`` in place of ``exc`` when its text is not allowed."""
        if verdict is not None and not verdict.allowed and verdict.decision != "flag":
            raise GuardViolation(verdict) from None  # its text, not the tool's, goes on

    def run(
        self, call: Callable[[], ToolOutput], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> ToolOutput:
        arguments = self.arguments(args, kwargs)
        if self.screen_calls:
            refused = self.refusal(
                self.guard.check(call_item(self.name, arguments), agent=self.agent), arguments
            )
            if refused is not None:
                return refused
        try:
            output = call()
        except Exception as exc:
            self.screen_error(
                exc,
                self.guard.check(self.error_item(exc), agent=self.agent)
                if self.screen_outputs
                else None,
            )
            raise
        if not self.screen_outputs:
            return output
        items, output, withheld = self.items(output, arguments)
        if withheld:
            return output
        return self.judged(
            output, self.guard.check_many(items, agent=self.agent) if items else [], arguments
        )

    async def arun(
        self, call: Callable[[], Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> ToolOutput:
        arguments = self.arguments(args, kwargs)
        if self.screen_calls:
            verdict = await self.guard.acheck(call_item(self.name, arguments), agent=self.agent)
            refused = self.refusal(verdict, arguments)
            if refused is not None:
                return refused
        try:
            output: ToolOutput = await call()
        except Exception as exc:
            self.screen_error(
                exc,
                await self.guard.acheck(self.error_item(exc), agent=self.agent)
                if self.screen_outputs
                else None,
            )
            raise
        if not self.screen_outputs:
            return output
        items, output, withheld = self.items(output, arguments)
        if withheld:
            return output
        return self.judged(
            output,
            await self.guard.acheck_many(items, agent=self.agent) if items else [],
            arguments,
        )


class GuardedTool(AsyncBaseTool):
    """Any LlamaIndex tool behind the guard; same metadata, so the LLM sees the same tool."""

    def __init__(
        self,
        tool: BaseTool,
        guard: Guard,
        agent: str | None = None,
        *,
        screen_calls: bool = True,
        screen_outputs: bool = True,
        allow_unscreened: Collection[str] = (),
    ) -> None:
        self._screen = _Screen(
            tool, guard, agent, screen_calls, screen_outputs, None, allow_unscreened
        )

    @property
    def metadata(self) -> ToolMetadata:
        return self._screen.meta

    @property
    def inner(self) -> BaseTool:
        """The wrapped tool."""
        return self._screen.inner

    def call(self, *args: Any, **kwargs: Any) -> ToolOutput:
        return self._screen.run(lambda: self.inner(*args, **kwargs), args, kwargs)

    async def acall(self, *args: Any, **kwargs: Any) -> ToolOutput:
        inner = self.inner
        if isinstance(inner, AsyncBaseTool):
            return await self._screen.arun(lambda: inner.acall(*args, **kwargs), args, kwargs)
        # a sync-only tool runs in a thread, as LlamaIndex's own adapter does
        return await self._screen.arun(
            lambda: asyncio.to_thread(inner, *args, **kwargs), args, kwargs
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.metadata.name!r}, agent={self._screen.agent!r})"


class GuardedFunctionTool(FunctionTool):
    """A :class:`FunctionTool` behind the guard.

    Still a ``FunctionTool``, so agents inject a workflow ``Context`` parameter and pick the
    keyword calling convention exactly as for the original. ``fn`` / ``async_fn`` stay the
    raw functions: call the tool itself (``tool(...)``, ``call``, ``acall``) to be screened.
    """

    def __init__(
        self,
        tool: FunctionTool,
        guard: Guard,
        agent: str | None = None,
        *,
        screen_calls: bool = True,
        screen_outputs: bool = True,
        allow_unscreened: Collection[str] = (),
    ) -> None:
        super().__init__(fn=tool.fn, async_fn=tool.async_fn, metadata=tool.metadata)
        self.requires_context = tool.requires_context
        self.ctx_param_name = tool.ctx_param_name
        self._screen = _Screen(
            tool, guard, agent, screen_calls, screen_outputs, tool.ctx_param_name, allow_unscreened
        )
        self._inner_fn = tool

    @property
    def inner(self) -> FunctionTool:
        """The wrapped tool."""
        return self._inner_fn

    @property
    def real_fn(self) -> Callable[..., Any]:
        return self._inner_fn.real_fn

    def call(self, *args: Any, **kwargs: Any) -> ToolOutput:
        return self._screen.run(lambda: self._inner_fn.call(*args, **kwargs), args, kwargs)

    async def acall(self, *args: Any, **kwargs: Any) -> ToolOutput:
        return await self._screen.arun(lambda: self._inner_fn.acall(*args, **kwargs), args, kwargs)

    # FunctionTool's versions hand LangChain the raw function; these go through the guard
    to_langchain_tool = AsyncBaseTool.to_langchain_tool
    to_langchain_structured_tool = AsyncBaseTool.to_langchain_structured_tool

    __repr__ = GuardedTool.__repr__


def guard_tool(
    tool: BaseTool | Callable[..., Any],
    guard: Guard,
    agent: str | None = None,
    *,
    screen_calls: bool = True,
    screen_outputs: bool = True,
    allow_unscreened: Collection[str] = (),
) -> AsyncBaseTool:
    """Wrap one tool (a plain function becomes a ``FunctionTool`` first, as agents do)."""
    require_guard("guard_tool", guard)
    if isinstance(tool, GuardedTool | GuardedFunctionTool):
        tool = tool.inner  # re-wrapping replaces the guard settings, never stacks them
    if not isinstance(tool, BaseTool):
        if not callable(tool):
            raise ConfigurationError(
                f"guard_tool takes a LlamaIndex tool or a function, got {type(tool).__name__}"
            )
        tool = FunctionTool.from_defaults(tool)
    wrapper = GuardedFunctionTool if isinstance(tool, FunctionTool) else GuardedTool
    return wrapper(
        tool,  # type: ignore[arg-type]
        guard,
        agent,
        screen_calls=screen_calls,
        screen_outputs=screen_outputs,
        allow_unscreened=allow_unscreened,
    )


def guard_tools(
    tools: Sequence[BaseTool | Callable[..., Any]],
    guard: Guard,
    agent: str | None = None,
    *,
    screen_calls: bool = True,
    screen_outputs: bool = True,
    allow_unscreened: Collection[str] = (),
) -> list[AsyncBaseTool]:
    """Wrap LlamaIndex tools so every call is screened before it runs and its output after.

    Each call's arguments are judged as a ``tool_call`` under ``agent``'s policy; a block
    returns ``ToolOutput(is_error=True)`` with the reason (the tool never runs) so
    FunctionAgent / ReActAgent / AgentWorkflow read the error and go on. The output (text
    and image blocks, and ``raw_output`` where it says more; one the walk cannot read is
    dropped) is judged as a ``tool_result``; an unsafe one is replaced by a marker
    (``is_error=True``, or ``False`` under a ``redact`` action). A ``flag`` action lets the
    call or output through and logs a warning. Name, description and schema are unchanged.

    An output block the guard models cannot judge (``AudioBlock``, ``VideoBlock``, a
    ``DocumentBlock`` that is not text) withholds the whole output the same way
    (``is_error=True``, the reason says what to do) unless its type is named in
    ``allow_unscreened`` (e.g. ``{"audio"}``: such blocks then pass unjudged). Text
    documents and citation blocks are screened as text.

    Example::

        agent = FunctionAgent(tools=guard_tools([search, shell], guard, agent="devops"), llm=llm)
    """
    if isinstance(tools, BaseTool) or callable(tools):
        raise ConfigurationError("guard_tools takes a list of tools; use guard_tool() for one")
    require_guard("guard_tools", guard)
    return [
        guard_tool(
            t,
            guard,
            agent,
            screen_calls=screen_calls,
            screen_outputs=screen_outputs,
            allow_unscreened=allow_unscreened,
        )
        for t in tools
    ]
