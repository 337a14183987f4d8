"""Any value flowing through a chain -> the items to screen, and back once judged.

``walk(value, surface)`` builds a small tree mirroring the value (a dict of prompt
variables, a list of messages, a ``ChatPromptValue``, a list of ``Document`` ...). Its
leaves hold the items to screen; ``build`` takes the verdicts in the same order and
returns a value of the same shape: unchanged, redacted, flagged, with dropped list
elements removed, a refusal in place of a blocked leaf, or a raised ``GuardViolation``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from langchain_core.documents import Document
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    ToolMessage,
)
from langchain_core.prompt_values import ChatPromptValue, StringPromptValue

from guard_core.content import Item, Surface, ToolCall, UserMessage
from guard_core.errors import ContentError, GuardViolation
from guard_core.policy import Action
from guard_core.verdict import Verdict

from ._actions import DEFAULT_REFUSAL, guard_metadata, redaction, worst
from ._convert import assistant_items, chunk, text_item, tool_call, tool_result_items, user_message

__all__ = ["DROP", "Node", "Rules", "documents", "walk"]

DROP: Final = object()  # a list element the policy dropped
_SCALARS = (int, float, bool, type(None))


@dataclass(frozen=True, slots=True)
class Rules:
    """How a blocked leaf is handled."""

    on_block: Literal["raise", "refuse"] = "raise"
    action: Action | None = None
    refusal: str = DEFAULT_REFUSAL
    drop_blocked: bool = False  # a filter: blocked list elements are dropped, never raised


@dataclass
class Node:
    """A value with no content on this surface: passes through untouched."""

    value: Any
    items: list[Item] = field(default_factory=list)

    def all_items(self) -> list[Item]:
        return self.items

    def build(self, verdicts: Iterator[Verdict], rules: Rules, droppable: bool = False) -> Any:
        mine = [next(verdicts) for _ in self.items]
        decided, verdict = worst(mine, rules.action)
        if verdict is None:
            return self.value
        if decided == "block" and droppable and rules.drop_blocked:
            decided = "drop"
        if decided == "drop" and not droppable:
            decided = "block"
        if decided == "block":
            if rules.on_block == "raise":
                raise GuardViolation(verdict)
            return self.refused(verdict, rules.refusal)
        if decided == "drop":
            return DROP
        if decided == "redact":
            return self.redacted(verdict, mine, rules)
        return self.flagged(verdict)

    def refused(self, verdict: Verdict, refusal: str) -> Any:
        raise GuardViolation(verdict)

    def redacted(self, verdict: Verdict, mine: list[Verdict], rules: Rules) -> Any:
        raise GuardViolation(verdict)

    def flagged(self, verdict: Verdict) -> Any:
        return self.value


@dataclass
class _Text(Node):
    wrap: Callable[[str], Any] = str

    def refused(self, verdict: Verdict, refusal: str) -> Any:
        return self.wrap(refusal)

    def redacted(self, verdict: Verdict, mine: list[Verdict], rules: Rules) -> Any:
        return self.wrap(redaction(verdict))

    def flagged(self, verdict: Verdict) -> Any:
        return self.value


def _with_meta(message: BaseMessage, verdict: Verdict, decided: str, **update: Any) -> Any:
    meta = {**message.response_metadata, "guard_core": guard_metadata(verdict, decided)}  # type: ignore[arg-type]
    return message.model_copy(update={"response_metadata": meta, **update})


def _without_calls(message: AIMessage, removed: set[str | None] | None = None
                   ) -> dict[str, Any]:
    """The fields that drop the ``removed`` tool calls (all when None) from every place a
    parser reads them: ``tool_calls``, the chunks, and the provider's raw
    ``additional_kwargs`` (``JsonOutputToolsParser`` falls back to those)."""
    def keep(call: Any) -> bool:
        return removed is not None and call.get("id") not in removed

    raw = dict(message.additional_kwargs)
    if "tool_calls" in raw:
        raw["tool_calls"] = [c for c in raw["tool_calls"] or () if keep(c)]
    if removed is None:
        raw.pop("function_call", None)
    update: dict[str, Any] = {"tool_calls": [c for c in message.tool_calls if keep(c)],
                              "additional_kwargs": raw}
    if removed is None:
        update["invalid_tool_calls"] = []
    if isinstance(message, AIMessageChunk):
        update["tool_call_chunks"] = [c for c in message.tool_call_chunks if keep(c)]
    return update


def _no_calls(message: BaseMessage) -> dict[str, Any]:
    return _without_calls(message) if isinstance(message, AIMessage) else {}


@dataclass
class _Message(Node):
    def refused(self, verdict: Verdict, refusal: str) -> Any:
        return _with_meta(self.value, verdict, "block", content=refusal, **_no_calls(self.value))

    def redacted(self, verdict: Verdict, mine: list[Verdict], rules: Rules) -> Any:
        message: BaseMessage = self.value
        if not isinstance(message, AIMessage):
            return _with_meta(message, verdict, "redact", content=redaction(verdict))
        update: dict[str, Any] = {}
        bad_calls: set[str | None] = set()
        for item, v in zip(self.items, mine, strict=True):
            if v.allowed:
                continue
            if isinstance(item, ToolCall):
                bad_calls.add(item.id)
            else:
                update["content"] = redaction(v)
        if bad_calls:
            # A tool call cannot be half-redacted: it is removed so it never runs.
            update.update(_without_calls(message, bad_calls))
        return _with_meta(message, verdict, "redact", **update)

    def flagged(self, verdict: Verdict) -> Any:
        return _with_meta(self.value, verdict, "flag")


@dataclass
class _Document(Node):
    def _meta(self, verdict: Verdict, decided: str) -> dict[str, Any]:
        return {**self.value.metadata, "guard_core": guard_metadata(verdict, decided)}  # type: ignore[arg-type]

    def refused(self, verdict: Verdict, refusal: str) -> Any:
        return Document(page_content=refusal, metadata=self._meta(verdict, "block"))

    def redacted(self, verdict: Verdict, mine: list[Verdict], rules: Rules) -> Any:
        return Document(page_content=redaction(verdict), metadata=self._meta(verdict, "redact"),
                        id=self.value.id)

    def flagged(self, verdict: Verdict) -> Any:
        return self.value.model_copy(update={"metadata": self._meta(verdict, "flag")})


@dataclass
class _Many(Node):
    children: list[Node] = field(default_factory=list)
    rebuild: Callable[[list[Any]], Any] = list

    def all_items(self) -> list[Item]:
        return [item for child in self.children for item in child.all_items()]

    def build(self, verdicts: Iterator[Verdict], rules: Rules, droppable: bool = False) -> Any:
        out = [child.build(verdicts, rules, droppable=True) for child in self.children]
        return self.rebuild([value for value in out if value is not DROP])


@dataclass
class _Dict(Node):
    children: dict[Any, Node] = field(default_factory=dict)

    def all_items(self) -> list[Item]:
        return [item for child in self.children.values() for item in child.all_items()]

    def build(self, verdicts: Iterator[Verdict], rules: Rules, droppable: bool = False) -> Any:
        out = dict(self.value)
        for key, child in self.children.items():
            out[key] = child.build(verdicts, rules)
        return out


def _mismatch(value: object, surface: Surface) -> ContentError:
    hint = {"HumanMessage": "input", "AIMessage": "output or tool_call",
            "AIMessageChunk": "output or tool_call", "ToolMessage": "tool_result",
            "Document": "retrieval"}.get(type(value).__name__)
    tip = f"; use surface={hint!r}" if hint else ""
    return ContentError(f"a guard on surface {surface!r} cannot screen a {type(value).__name__}"
                        f"{tip}")


def _message(message: BaseMessage, surface: Surface, context: UserMessage | None,
             allow: Collection[str]) -> Node | None:
    if surface == "input" and isinstance(message, HumanMessage):
        return _Message(message, [user_message(message, allow)])
    if surface in ("output", "tool_call") and isinstance(message, AIMessage):
        if surface == "tool_call":
            return _Message(message, [tool_call(c, context) for c in message.tool_calls])
        return _Message(message, assistant_items(message, context, allow))
    if surface == "tool_result" and isinstance(message, ToolMessage):
        return _Message(message, tool_result_items(message, allow))
    return None


def walk(value: Any, surface: Surface, *, top: bool = True,
         context: UserMessage | None = None, allow: Collection[str] = ()) -> Node:
    """The tree of ``value`` on ``surface``; ``top`` values of another surface are an error.

    A message block the guard cannot read raises :class:`ContentError` unless its type is
    in ``allow``."""
    if isinstance(value, str):
        return _Text(value, [text_item(value, surface)])
    if isinstance(value, StringPromptValue):
        return _Text(value, [text_item(value.text, surface)],
                     wrap=lambda text: StringPromptValue(text=text))
    if isinstance(value, BaseMessage):
        node = _message(value, surface, context, allow)
        if node is None and top:
            raise _mismatch(value, surface)
        return node or Node(value)
    if isinstance(value, Document):
        if surface == "retrieval":
            return _Document(value, [chunk(value)])
        if top:
            raise _mismatch(value, surface)
        return Node(value)
    if isinstance(value, ChatPromptValue):
        return _many(value.messages, surface, context,
                     lambda messages: ChatPromptValue(messages=messages), allow)
    if isinstance(value, Mapping):
        if surface == "tool_call" and "name" in value and "args" in value:
            return Node(value, [tool_call(value, context)])
        return _Dict(value, children={k: walk(v, surface, top=False, context=context,
                                               allow=allow)
                                      for k, v in value.items()})
    if isinstance(value, list | tuple):
        return _many(value, surface, context,
                     type(value) if type(value) in (list, tuple) else list, allow)
    if isinstance(value, _SCALARS) and not top:
        return Node(value)
    raise ContentError(
        f"cannot screen a {type(value).__name__}; a guard runnable takes str, messages, prompt "
        "values, Documents, tool-call dicts, and lists or dicts of those"
    )


def _many(values: Sequence[Any], surface: Surface, context: UserMessage | None,
          rebuild: Callable[[list[Any]], Any], allow: Collection[str]) -> _Many:
    children = []
    for value in values:
        if isinstance(value, HumanMessage):
            context = UserMessage(value.text)  # the request later answers and calls respond to
        children.append(walk(value, surface, top=False, context=context, allow=allow))
    return _Many(values, children=children, rebuild=rebuild)


def documents(docs: Sequence[Document], query: str | None = None) -> Node:
    """Retrieved documents, each judged with the query that found it."""
    return _Many(docs, children=[_Document(d, [chunk(d, query)]) for d in docs], rebuild=list)
