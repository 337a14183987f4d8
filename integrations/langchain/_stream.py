"""Incremental streaming: release chunks only once the text they carry has been screened.

The pure bookkeeping shared by the sync and async stream loops of ``GuardRunnable``.
Screening is cumulative (every check sees all text so far), so a harmful sentence split
across chunks is still seen whole. Once a chunk carrying tool-call fragments or a content
block other than text (an image, a document, audio) arrives, everything after it waits for
the final check of the whole message (half a tool call cannot be judged, and those blocks
are screened, or refused, only by that check).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.messages import AIMessageChunk, BaseMessageChunk

from guard_core.content import Item, Surface
from guard_core.errors import GuardViolation
from guard_core.policy import Action
from guard_core.verdict import Verdict

from ._actions import decision
from ._blocks import carries_blocks
from ._convert import text_item

__all__ = ["Incremental", "streamable"]

_TEXT_SURFACES = ("input", "output", "tool_result", "retrieval")


def streamable(chunk: Any, surface: Surface) -> bool:
    """Whether chunks like this one can be screened as they come."""
    return surface in _TEXT_SURFACES and isinstance(chunk, str | BaseMessageChunk)


def _text(chunk: Any) -> str:
    return chunk if isinstance(chunk, str) else str(chunk.text)


class Incremental:
    """Chunks held back until screened; ``every`` characters of new text trigger a check."""

    def __init__(self, surface: Surface, every: int, action: Action | None) -> None:
        self.surface = surface
        self.every = every
        self.action = action
        self.pending: list[Any] = []
        self.final: Any = None
        self.text = ""
        self.checked = 0
        self.released = False
        self.holding = False

    def push(self, chunk: Any) -> bool:
        """Take one chunk; True when a screening is due."""
        self.final = chunk if self.final is None else self.final + chunk
        self.pending.append(chunk)
        if (isinstance(chunk, AIMessageChunk) and chunk.tool_call_chunks) \
                or (isinstance(chunk, BaseMessageChunk) and carries_blocks(chunk)):
            self.holding = True  # judged only whole: half a call, an image, a document
        self.text += _text(chunk)
        return not self.holding and len(self.text) - self.checked >= self.every

    def item(self) -> Item:
        return text_item(self.text, self.surface)

    def passes(self, verdict: Verdict) -> bool:
        return decision(verdict, self.action) in ("allow", "flag")

    def release(self) -> list[Any]:
        """The chunks screened so far, to yield now."""
        out, self.pending = self.pending, []
        self.checked = len(self.text)
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
