"""What each guardrail screens, and under whose policy. Pure except :func:`judge`.

The Agents SDK hands a guardrail the SDK's own objects; here they become guard-core items:

- input (a string or Responses API input items, as the model will receive them): read by
  the OpenAI adapter's request reader, the same rules as ``guard_openai`` (user text and
  images, tool results precisely; every other string as text; what cannot be read refused);
- the final output (text, or a structured ``output_type`` object: every string it carries);
- a tool call (the arguments JSON the tool will be invoked with);
- a tool result (every string it carries and its images; an object the walk cannot read is
  judged as ``str(output)``, which is what the SDK sends the model for it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from guard_core.adapters.boundary import AGENT_KEY, agent_choice, joined, strings_in
from guard_core.adapters.decisions import Refusal, default_refusal, strongest_decision
from guard_core.adapters.options import OnBlock
from guard_core.adapters.unscreened import refuse
from guard_core.content import AssistantMessage, Image, Item, ToolCall, ToolResult, UserMessage
from guard_core.errors import ContentError
from guard_core.guard import Guard
from guard_core.verdict import Decision, Verdict

# The OpenAI adapter's reader of Responses input (the SDK's input is exactly that). Relative:
# mypy reads integrations/ under that name, installed it is guard_core.integrations.
from ..openai._convert import Failed  # noqa: TID252
from ..openai._request import responses_request  # noqa: TID252

__all__ = [
    "OnVerdict",
    "Settings",
    "call_item",
    "context_of",
    "input_items",
    "judge",
    "output_item",
    "result_items",
]

OnVerdict = Callable[[Item, Verdict], None]


@dataclass(frozen=True, slots=True)
class Settings:
    """How the guardrails of one ``with_guardrails`` call (or one factory call) screen."""

    guard: Guard
    agent: str | None = None
    on_block: OnBlock = "raise"
    refusal: Refusal = default_refusal
    on_verdict: OnVerdict | None = None
    allow_agent_override: bool = False
    allow_unscreened: frozenset[str] = frozenset()
    owner: str = "with_guardrails"

    def agent_for(self, sdk_agent: Any, run_context: Any) -> str | None:
        """Whose policy judges: ``agent`` when given, else the running SDK agent's name
        (so a handoff target keeps its own policy); a ``guard_agent`` key in the run's
        context may name another only with ``allow_agent_override``."""
        developer = self.agent if self.agent is not None else getattr(sdk_agent, "name", None)
        context = getattr(run_context, "context", None)
        requested = context.get(AGENT_KEY) if isinstance(context, Mapping) else None
        return agent_choice(
            developer,
            requested if isinstance(requested, str) else None,
            allow_override=self.allow_agent_override,
            owner=self.owner,
        )


async def judge(
    settings: Settings, items: list[Item], agent: str | None
) -> tuple[Decision, Verdict | None]:
    """The strongest decision over ``items`` and the verdict that carries it."""
    if not items:
        return "allow", None
    verdicts = await settings.guard.acheck_many(items, agent=agent)
    if settings.on_verdict is not None:
        for item, verdict in zip(items, verdicts, strict=True):
            settings.on_verdict(item, verdict)
    return strongest_decision(verdicts)


def input_items(value: object, guard: Guard, agent: str | None) -> list[Item]:
    """The items of a run's input: what the model will read."""
    slots, _ = responses_request({"input": value}, screen_system=False)
    policy = guard.policy_for(agent)
    items: list[Item] = []
    for slot in slots:
        if isinstance(slot.entry, Failed):
            if policy.screens(slot.entry.surface):
                raise slot.entry.error  # fail closed: the run stops here, naming it
        else:
            items.append(slot.entry)
    return items


def context_of(turn_input: object) -> UserMessage | None:
    """The latest user text of a turn's input: the context an answer or a call is judged in."""
    items = list(turn_input) if isinstance(turn_input, list | tuple) else []
    try:
        _, last = responses_request({"input": items}, screen_system=False)
    except ContentError:
        return None
    return last


def output_item(output: object, context: UserMessage | None) -> AssistantMessage:
    """The final output as the caller receives it: its text, or every string it carries."""
    text = output if isinstance(output, str) else joined(strings_in(output, where="output"))
    return AssistantMessage(text, context=context)


def call_item(tool_context: Any, context: UserMessage | None) -> ToolCall:
    """The call as the tool receives it: its name and its arguments JSON (not an object:
    :class:`ContentError`)."""
    return ToolCall(
        str(tool_context.tool_name),
        str(tool_context.tool_arguments or ""),
        id=getattr(tool_context, "tool_call_id", None),
        context=context,
    )


def result_items(
    name: str, output: object, call_id: str | None, allow: frozenset[str]
) -> list[Item]:
    """A tool's result as the model will read it: text, and images as images. File parts
    (and images given by ``file_id``) cannot be judged: refused unless allowed."""
    if isinstance(output, str):
        return [ToolResult(name, output, call_id=call_id)]
    try:
        found = strings_in(output, where="output")
    except ContentError:  # an object of its own: the SDK sends the model str(output)
        return [ToolResult(name, str(output), call_id=call_id)]
    unread = _file_parts(name, output, allow)
    images: list[Item] = []
    texts = []
    for f in found:
        if any(f.path == at or f.path.startswith((at + ".", at + "[")) for at in unread):
            continue  # a file part let through unscreened (allow_unscreened={"file"})
        if f.path.rsplit(".", 1)[-1] == "image_url":
            images.append(Image(url=f.text))
        else:
            texts.append(f)
    text = joined(texts)
    return [*([ToolResult(name, text, call_id=call_id)] if text or not images else []), *images]


def _file_parts(name: str, output: object, allow: frozenset[str]) -> list[str]:
    """The paths of the SDK's file parts in ``output`` (refused unless ``file`` is allowed)."""
    many = isinstance(output, list | tuple)
    out = []
    for i, part in enumerate(output if isinstance(output, list | tuple) else [output]):
        kind = part.get("type") if isinstance(part, Mapping) else getattr(part, "type", None)
        url = (
            part.get("image_url") if isinstance(part, Mapping) else getattr(part, "image_url", None)
        )
        if kind in ("file", "input_file") or (kind in ("image", "input_image") and not url):
            what = "file" if kind in ("file", "input_file") else "image given by file_id"
            refuse("file", f"result of tool {name!r}", allow, what=what)
            out.append(f"output[{i}]" if many else "output")
    return out
