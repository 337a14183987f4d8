"""The SDK's own guardrail types, judged by a :class:`~guard_core.Guard`.

Each factory returns the Agents SDK object (``InputGuardrail``, ``OutputGuardrail``,
``ToolInputGuardrail``, ``ToolOutputGuardrail``) to put on an ``Agent`` or a function tool;
:func:`~guard_core.integrations.openai_agents.with_guardrails` puts all four everywhere at once.
The policy is the running agent's (its ``name``), so one guardrail serves agents that hand
off to each other. A tripwire's ``output_info`` is the blocking :class:`Verdict`
(:func:`verdict_of` reads it from the SDK's exception).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from agents import (  # type: ignore[import-not-found, unused-ignore]
    GuardrailFunctionOutput,
    InputGuardrail,
    OutputGuardrail,
    ToolGuardrailFunctionOutput,
    ToolInputGuardrail,
    ToolOutputGuardrail,
)

from guard_core.adapters.decisions import Refusal, blocks, default_refusal, redaction, refusal_text
from guard_core.adapters.options import ON_BLOCK, OnBlock, one_of, refusal_option, require_guard
from guard_core.adapters.unscreened import allowed_types
from guard_core.errors import ConfigurationError, GuardViolation
from guard_core.guard import Guard
from guard_core.verdict import Verdict

from ._screen import (
    OnVerdict,
    Settings,
    call_item,
    context_of,
    input_items,
    judge,
    output_item,
    result_items,
)

__all__ = [
    "guard_input",
    "guard_output",
    "guard_tool_input",
    "guard_tool_output",
    "settings",
    "verdict_of",
]

RESULT_KINDS = frozenset({"file"})  # tool-result parts the guard cannot read


def settings(
    owner: str,
    guard: object,
    agent: str | None,
    on_block: object = "raise",
    refusal: object = default_refusal,
    on_verdict: object = None,
    allow_agent_override: object = False,
    allow_unscreened: Collection[str] = (),
    known: Collection[str] = RESULT_KINDS,
) -> Settings:
    """Checked settings (every mistake a ConfigurationError naming ``owner``)."""
    checked = require_guard(owner, guard)
    if agent is not None:
        checked.policy_for(agent)  # an unknown agent fails here, not on the first run
    if on_verdict is not None and not callable(on_verdict):
        raise ConfigurationError(f"{owner}: on_verdict must be a function of (item, verdict)")
    return Settings(
        guard=checked,
        agent=agent,
        on_block=one_of(owner, "on_block", on_block, ON_BLOCK),
        refusal=refusal_option(owner, refusal),
        on_verdict=on_verdict,
        allow_agent_override=one_of(
            owner, "allow_agent_override", allow_agent_override, (False, True)
        ),
        allow_unscreened=allowed_types(allow_unscreened, known, owner),
        owner=owner,
    )


class _Screening:
    """A guardrail function: holds its settings, so ``with_guardrails`` can tell its own."""

    surface = ""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.__name__ = f"guard_core_{self.surface}"


class _Input(_Screening):
    surface = "input"

    async def __call__(self, ctx: Any, agent: Any, value: Any) -> Any:
        s = self.settings
        name = s.agent_for(agent, ctx)
        _, verdict = await judge(s, input_items(value, s.guard, name), name)
        return GuardrailFunctionOutput(verdict, verdict is not None and blocks(verdict))


class _Output(_Screening):
    surface = "output"

    async def __call__(self, ctx: Any, agent: Any, output: Any) -> Any:
        s = self.settings
        name = s.agent_for(agent, ctx)
        item = output_item(output, context_of(getattr(ctx, "turn_input", None)))
        _, verdict = await judge(s, [item], name)
        return GuardrailFunctionOutput(verdict, verdict is not None and blocks(verdict))


def _blocked(s: Settings, verdict: Verdict) -> Any:
    if s.on_block == "raise":
        return ToolGuardrailFunctionOutput.raise_exception(verdict)
    return ToolGuardrailFunctionOutput.reject_content(refusal_text(s.refusal, verdict), verdict)


class _ToolInput(_Screening):
    surface = "tool_call"

    async def __call__(self, data: Any) -> Any:
        s, tool = self.settings, data.context
        name = s.agent_for(data.agent, tool)
        item = call_item(tool, context_of(getattr(tool, "turn_input", None)))
        _, verdict = await judge(s, [item], name)
        if verdict is None or not blocks(verdict):
            return ToolGuardrailFunctionOutput.allow(verdict)
        return _blocked(s, verdict)  # the tool does not run


class _ToolOutput(_Screening):
    surface = "tool_result"

    async def __call__(self, data: Any) -> Any:
        s, tool = self.settings, data.context
        name = s.agent_for(data.agent, tool)
        items = result_items(
            str(tool.tool_name), data.output, tool.tool_call_id, s.allow_unscreened
        )
        decided, verdict = await judge(s, items, name)
        if verdict is None or not blocks(verdict):
            return ToolGuardrailFunctionOutput.allow(verdict)
        if decided in ("redact", "drop"):  # the policy's action: the model reads a notice
            return ToolGuardrailFunctionOutput.reject_content(redaction(verdict), verdict)
        return _blocked(s, verdict)


def input_guardrail(s: Settings, run_in_parallel: object = False) -> InputGuardrail[Any]:
    parallel = one_of(s.owner, "run_in_parallel", run_in_parallel, (False, True))
    fn = _Input(s)
    return InputGuardrail(guardrail_function=fn, name=fn.__name__, run_in_parallel=parallel)


def output_guardrail(s: Settings) -> OutputGuardrail[Any]:
    fn = _Output(s)
    return OutputGuardrail(guardrail_function=fn, name=fn.__name__)


def tool_input_guardrail(s: Settings) -> ToolInputGuardrail[Any]:
    fn = _ToolInput(s)
    return ToolInputGuardrail(guardrail_function=fn, name=fn.__name__)


def tool_output_guardrail(s: Settings) -> ToolOutputGuardrail[Any]:
    fn = _ToolOutput(s)
    return ToolOutputGuardrail(guardrail_function=fn, name=fn.__name__)


def guard_input(
    guard: Guard,
    agent: str | None = None,
    *,
    run_in_parallel: bool = False,
    on_verdict: OnVerdict | None = None,
    allow_agent_override: bool = False,
) -> InputGuardrail[Any]:
    """An ``InputGuardrail`` screening the run's input (every item, as the model reads it).

    ``run_in_parallel=False`` (the default here; the SDK's is True) runs it before the model
    is called: blocked input never reaches the model. With ``True`` the model call starts at
    once and the tripwire can only abort the run: the model has read the input by then."""
    s = settings(
        "guard_input",
        guard,
        agent,
        on_verdict=on_verdict,
        allow_agent_override=allow_agent_override,
    )
    return input_guardrail(s, run_in_parallel)


def guard_output(
    guard: Guard,
    agent: str | None = None,
    *,
    on_verdict: OnVerdict | None = None,
    allow_agent_override: bool = False,
) -> OutputGuardrail[Any]:
    """An ``OutputGuardrail`` screening the agent's final output (text or structured)."""
    s = settings(
        "guard_output",
        guard,
        agent,
        on_verdict=on_verdict,
        allow_agent_override=allow_agent_override,
    )
    return output_guardrail(s)


def guard_tool_input(
    guard: Guard,
    agent: str | None = None,
    on_block: OnBlock = "raise",
    *,
    refusal: Refusal = default_refusal,
    on_verdict: OnVerdict | None = None,
    allow_agent_override: bool = False,
) -> ToolInputGuardrail[Any]:
    """A ``ToolInputGuardrail`` screening a call's arguments before the tool runs. A block
    raises ``ToolInputGuardrailTripwireTriggered`` (``on_block="raise"``) or tells the model
    ``refusal`` instead of running the tool (``"refuse"``: the run goes on)."""
    s = settings(
        "guard_tool_input", guard, agent, on_block, refusal, on_verdict, allow_agent_override
    )
    return tool_input_guardrail(s)


def guard_tool_output(
    guard: Guard,
    agent: str | None = None,
    on_block: OnBlock = "raise",
    *,
    refusal: Refusal = default_refusal,
    on_verdict: OnVerdict | None = None,
    allow_agent_override: bool = False,
    allow_unscreened: Collection[str] = (),
) -> ToolOutputGuardrail[Any]:
    """A ``ToolOutputGuardrail`` screening what a tool returned before the model reads it.
    ``redact`` / ``drop`` policies replace it with a notice; a block raises
    ``ToolOutputGuardrailTripwireTriggered`` or (``"refuse"``) hands the model ``refusal``.
    File parts are refused (``ContentError``) unless ``allow_unscreened={"file"}``."""
    s = settings(
        "guard_tool_output",
        guard,
        agent,
        on_block,
        refusal,
        on_verdict,
        allow_agent_override,
        allow_unscreened,
    )
    return tool_output_guardrail(s)


def verdict_of(error: BaseException) -> Verdict | None:
    """The :class:`Verdict` behind a guard-core tripwire (any of the SDK's four guardrail
    exceptions) or a :class:`GuardViolation`; None for anything else."""
    if isinstance(error, GuardViolation):
        return error.verdict
    result = getattr(error, "guardrail_result", None)
    output = getattr(result if result is not None else error, "output", None)
    info = getattr(output, "output_info", None)
    return info if isinstance(info, Verdict) else None
