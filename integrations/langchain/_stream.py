"""Incremental streaming: release chunks only once the text they carry has been screened.

The pure bookkeeping shared by the sync and async stream loops of ``GuardRunnable``; what
each check sees is :class:`guard_core.adapters.streaming.StreamText`'s rule: the text since the last
check plus ``stream_context`` characters before it, so a harmful sentence split across
chunks or checks is still seen whole, and a stream's guard work grows linearly with its
length. Once a chunk carrying tool-call fragments or a content block other than text (an
image, a document, audio) arrives, everything after it waits for the final check of the
whole message (half a tool call cannot be judged, and those blocks are screened, or
refused, only by that check). That final check always runs, on the whole message.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.messages import AIMessageChunk, BaseMessage, BaseMessageChunk

from guard_core.adapters.decisions import decision
from guard_core.adapters.streaming import StreamText
from guard_core.content import Item, Surface
from guard_core.errors import ContentError, GuardViolation
from guard_core.policy import Action
from guard_core.verdict import Verdict

from ._convert import text_item
from ._fields import carries_more

__all__ = ["Incremental", "merge", "streamable"]

_TEXT_SURFACES = ("input", "output", "tool_result", "retrieval")


def streamable(chunk: Any, surface: Surface) -> bool:
    """Whether chunks like this one can be screened as they come."""
    return surface in _TEXT_SURFACES and isinstance(chunk, str | BaseMessageChunk)


def _text(chunk: Any) -> str:
    if isinstance(chunk, str):
        return chunk
    if isinstance(chunk, BaseMessage):
        return str(chunk.text)
    raise ContentError(
        f"an incremental stream takes str or message chunks; a "
        f"{type(chunk).__name__} came after them (stream it buffered)"
    )


def _add(left: Any, right: Any, strict: bool) -> Any:
    try:
        return left + right
    except TypeError:
        if strict:
            raise ContentError(
                f"cannot screen a stream mixing {type(left).__name__} and "
                f"{type(right).__name__} chunks as one message: they do not add up"
            ) from None
        return right  # not addable: the last chunk is the whole value (LangChain's rule)


def merge(chunks: Sequence[Any], *, strict: bool = False) -> Any:
    """The chunks added up, as a left fold of ``+`` would, without its quadratic copying
    for the usual streams (strings, ``AIMessageChunk``s).

    Chunks that do not add up: the last one is the whole value (LangChain's rule: right for
    a buffered stream, which yields only that value), or with ``strict`` a
    :class:`ContentError` (an incremental stream releases the earlier chunks too, so the
    final check must cover them all)."""
    first, rest = chunks[0], list(chunks[1:])
    if not rest:
        return first
    if all(isinstance(c, str) for c in chunks):
        return "".join(chunks)
    if all(isinstance(c, AIMessageChunk) for c in chunks):
        return first + rest  # LangChain's n-ary merge: one pass
    for chunk in rest:
        first = _add(first, chunk, strict)
    return first


class Incremental:
    """Chunks held back until screened; ``every`` characters of new text trigger a check of
    them plus ``context`` characters before them."""

    def __init__(self, surface: Surface, every: int, context: int, action: Action | None) -> None:
        self.surface = surface
        self.action = action
        self.chunks: list[Any] = []  # every chunk taken, added up only for the final check
        self.pending: list[Any] = []
        self.text = StreamText(every, context)
        self.released = False
        self.holding = False

    def push(self, chunk: Any) -> bool:
        """Take one chunk; True when a screening is due."""
        self.chunks.append(chunk)
        self.pending.append(chunk)
        if (isinstance(chunk, AIMessageChunk) and chunk.tool_call_chunks) or (
            isinstance(chunk, BaseMessageChunk) and carries_more(chunk)
        ):
            self.holding = True  # judged only whole: half a call, an image, a document
        self.text.append(_text(chunk))
        return not self.holding and self.text.due

    def item(self) -> Item:
        """What the check due now screens: the new text and its trailing context."""
        return text_item(self.text.window(), self.surface)

    def whole(self) -> Any:
        """Everything taken so far as one value, for the final check (chunks that do not
        add up are a :class:`ContentError`: the last alone would leave the others
        unjudged)."""
        return merge(self.chunks, strict=True)

    def passes(self, verdict: Verdict) -> bool:
        return decision(verdict, self.action) in ("allow", "flag")

    def release(self) -> list[Any]:
        """The chunks screened so far, to yield now."""
        out, self.pending = self.pending, []
        self.released = self.released or bool(out)
        return out

    def last(self, verdicts: Sequence[Verdict], whole: Callable[[], Any]) -> list[Any]:
        """The end of the stream: the held chunks, or (nothing released yet) ``whole()``,
        the value judged as a whole (refused, redacted or raised)."""
        bad = next((v for v in verdicts if not self.passes(v)), None)
        if bad is None:
            return self.release()
        if self.released:
            raise GuardViolation(bad)  # part of the answer already left: abort
        return [whole()]
