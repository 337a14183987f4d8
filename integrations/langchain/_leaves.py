"""The leaves of a screened value's tree (``_tree``): a string, a message, a document, and
what each becomes once judged (unchanged, refused, redacted, flagged, dropped).

A refused or redacted leaf keeps no copy of what it said: a message is rebuilt saying only
the refusal or the redaction marker (``_fields.stripped``: no ``additional_kwargs``,
``artifact``, invalid calls or chunks, fresh ``response_metadata``); a refused tool call is
removed from every field a parser reads; a document keeps only metadata that carries no
text, unless its metadata was judged on its own and allowed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from langchain_core.documents import Document
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage

from guard_core.adapters.boundary import strings_in
from guard_core.adapters.decisions import (
    GENERIC_REFUSAL,
    Refusal,
    redaction,
    refusal_text,
    strongest_decision,
    verdict_metadata,
)
from guard_core.content import Item, ToolCall
from guard_core.errors import GuardViolation
from guard_core.policy import Action
from guard_core.verdict import Decision, Verdict

from ._fields import stripped

__all__ = ["DROP", "Node", "Rules", "document_leaf", "message_leaf", "text_leaf"]

DROP: Final = object()  # a list element the policy dropped


@dataclass(frozen=True, slots=True)
class Rules:
    """How a blocked leaf is handled."""

    on_block: Literal["raise", "refuse"] = "raise"
    action: Action | None = None
    refusal: Refusal = GENERIC_REFUSAL
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
        decided, verdict = strongest_decision(mine, rules.action)
        if verdict is None:
            return self.value
        if decided == "block" and droppable and rules.drop_blocked:
            decided = "drop"
        if decided == "drop" and not droppable:
            decided = "block"
        if decided == "block":
            if rules.on_block == "raise":
                raise GuardViolation(verdict)
            return self.refused(verdict, refusal_text(rules.refusal, verdict))
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


def _with_meta(message: BaseMessage, verdict: Verdict, decided: Decision, **update: Any) -> Any:
    meta = {**message.response_metadata, "guard_core": verdict_metadata(verdict, decided)}
    return message.model_copy(update={"response_metadata": meta, **update})


def _replaced(
    message: BaseMessage, verdict: Verdict, decided: Decision, content: str, **update: Any
) -> Any:
    """``message`` saying only ``content``: no field keeps a copy of what it said."""
    meta = {"guard_core": verdict_metadata(verdict, decided)}
    out = stripped(message, content, meta, keep_name=False)
    return out.model_copy(update=update) if update else out


def _without_calls(message: AIMessage, removed: set[str | None] | None = None) -> dict[str, Any]:
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
    update: dict[str, Any] = {
        "tool_calls": [c for c in message.tool_calls if keep(c)],
        "additional_kwargs": raw,
    }
    if removed is None:
        update["invalid_tool_calls"] = []
    if isinstance(message, AIMessageChunk):
        update["tool_call_chunks"] = [c for c in message.tool_call_chunks if keep(c)]
    return update


@dataclass
class _Message(Node):
    def refused(self, verdict: Verdict, refusal: str) -> Any:
        calls: dict[str, Any] = {"tool_calls": []} if isinstance(self.value, AIMessage) else {}
        return _replaced(self.value, verdict, "block", refusal, **calls)

    def redacted(self, verdict: Verdict, mine: list[Verdict], rules: Rules) -> Any:
        message: BaseMessage = self.value
        if not isinstance(message, AIMessage):
            return _replaced(message, verdict, "redact", redaction(verdict))
        bad_calls: set[str | None] = set()
        bad_text: Verdict | None = None
        for item, v in zip(self.items, mine, strict=True):
            if v.allowed:
                continue
            if isinstance(item, ToolCall):
                bad_calls.add(item.id)
            else:
                bad_text = v
        # A tool call cannot be half-redacted: it is removed so it never runs.
        calls = _without_calls(message, bad_calls) if bad_calls else {}
        if bad_text is not None:
            kept = {"tool_calls": calls.get("tool_calls", message.tool_calls)}
            return _replaced(message, verdict, "redact", redaction(bad_text), **kept)
        return _with_meta(message, verdict, "redact", **calls)

    def flagged(self, verdict: Verdict) -> Any:
        return _with_meta(self.value, verdict, "flag")


@dataclass
class _Document(Node):
    def _meta(
        self, verdict: Verdict, decided: Decision, mine: list[Verdict] | None = None
    ) -> dict[str, Any]:
        metadata = self.value.metadata
        if mine is not None:
            # what the guard refused leaves every copy: metadata that carries text stays
            # only when the metadata itself was judged and allowed
            keep_text = len(mine) > 1 and mine[1].allowed
            metadata = {k: v for k, v in metadata.items() if keep_text or not strings_in(v)}
        return {**metadata, "guard_core": verdict_metadata(verdict, decided)}

    def refused(self, verdict: Verdict, refusal: str) -> Any:
        return Document(page_content=refusal, metadata=self._meta(verdict, "block", []))

    def redacted(self, verdict: Verdict, mine: list[Verdict], rules: Rules) -> Any:
        return Document(
            page_content=redaction(verdict),
            metadata=self._meta(verdict, "redact", mine),
            id=self.value.id,
        )

    def flagged(self, verdict: Verdict) -> Any:
        return self.value.model_copy(update={"metadata": self._meta(verdict, "flag")})


def text_leaf(value: Any, items: list[Item], wrap: Callable[[str], Any] = str) -> Node:
    return _Text(value, items, wrap=wrap)


def message_leaf(message: BaseMessage, items: list[Item]) -> Node:
    return _Message(message, items)


def document_leaf(document: Document, items: list[Item]) -> Node:
    return _Document(document, items)
