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
from typing import Any

from langchain_core.documents import Document
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.prompt_values import ChatPromptValue, StringPromptValue

from guard_core.content import Item, Surface, UserMessage
from guard_core.errors import ContentError
from guard_core.verdict import Verdict

from ._convert import (
    assistant_items,
    document_items,
    message_items,
    text_item,
    tool_call,
    tool_result_items,
    user_items,
)
from ._leaves import DROP, Node, Rules, document_leaf, message_leaf, text_leaf

__all__ = ["DROP", "Node", "Rules", "documents", "walk"]

_SCALARS = (int, float, bool, type(None))


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
    hint = {
        "HumanMessage": "input",
        "AIMessage": "output or tool_call",
        "AIMessageChunk": "output or tool_call",
        "ToolMessage": "tool_result",
        "Document": "retrieval",
    }.get(type(value).__name__)
    tip = f"; use surface={hint!r}" if hint else ""
    return ContentError(
        f"a guard on surface {surface!r} cannot screen a {type(value).__name__}{tip}"
    )


def _message(
    message: BaseMessage,
    surface: Surface,
    context: UserMessage | None,
    allow: Collection[str],
    top: bool,
) -> Node | None:
    if surface == "input" and isinstance(message, HumanMessage):
        return message_leaf(message, user_items(message, allow))
    if surface == "input" and not top:
        # a conversation on its way into a model: every message is screened by its role
        return message_leaf(message, message_items(message, context, allow))
    if surface in ("output", "tool_call") and isinstance(message, AIMessage):
        if surface == "tool_call":
            return message_leaf(message, [tool_call(c, context) for c in message.tool_calls])
        return message_leaf(message, assistant_items(message, context, allow))
    if surface == "tool_result" and isinstance(message, ToolMessage):
        return message_leaf(message, tool_result_items(message, allow))
    return None


def walk(
    value: Any,
    surface: Surface,
    *,
    top: bool = True,
    context: UserMessage | None = None,
    allow: Collection[str] = (),
) -> Node:
    """The tree of ``value`` on ``surface``; ``top`` values of another surface are an error.

    A message block the guard cannot read raises :class:`ContentError` unless its type is
    in ``allow``."""
    if isinstance(value, str):
        return text_leaf(value, [text_item(value, surface)])
    if isinstance(value, StringPromptValue):
        return text_leaf(
            value, [text_item(value.text, surface)], lambda text: StringPromptValue(text=text)
        )
    if isinstance(value, BaseMessage):
        node = _message(value, surface, context, allow, top)
        if node is None and top:
            raise _mismatch(value, surface)
        return node or Node(value)
    if isinstance(value, Document):
        if surface == "retrieval":
            return document_leaf(value, document_items(value))
        if top:
            raise _mismatch(value, surface)
        return Node(value)
    if isinstance(value, ChatPromptValue):
        return _many(
            value.messages,
            surface,
            context,
            lambda messages: ChatPromptValue(messages=messages),
            allow,
        )
    if isinstance(value, Mapping):
        if surface == "tool_call" and "name" in value and "args" in value:
            return Node(value, [tool_call(value, context)])
        return _Dict(
            value,
            children={
                k: walk(v, surface, top=False, context=context, allow=allow)
                for k, v in value.items()
            },
        )
    if isinstance(value, list | tuple):
        return _many(
            value, surface, context, type(value) if type(value) in (list, tuple) else list, allow
        )
    if isinstance(value, _SCALARS) and not top:
        return Node(value)
    raise ContentError(
        f"cannot screen a {type(value).__name__}; a guard runnable takes str, messages, prompt "
        "values, Documents, tool-call dicts, and lists or dicts of those"
    )


def _many(
    values: Sequence[Any],
    surface: Surface,
    context: UserMessage | None,
    rebuild: Callable[[list[Any]], Any],
    allow: Collection[str],
) -> _Many:
    children = []
    for value in values:
        if isinstance(value, HumanMessage):
            context = UserMessage(value.text)  # the request later answers and calls respond to
        children.append(walk(value, surface, top=False, context=context, allow=allow))
    return _Many(values, children=children, rebuild=rebuild)


def documents(docs: Sequence[Document], query: str | None = None) -> Node:
    """Retrieved documents, each judged with the query that found it."""
    return _Many(
        docs, children=[document_leaf(d, document_items(d, query)) for d in docs], rebuild=list
    )
