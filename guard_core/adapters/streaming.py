"""What each intermediate check of an incrementally screened stream sees.

Pure bookkeeping shared by the streaming adapters (LangChain ``GuardRunnable`` with
``streaming="incremental"``, the OpenAI wrapper with ``stream_mode="incremental"``), sync
and async alike: no I/O, no framework.

A streamed text is kept as a list of pieces (appending is O(1), where ``str +=`` on a string
held in a dict or an attribute copies it every time) and joined only when the whole is
needed. A check is due once ``every`` characters arrived since the last one; it sees those
new characters plus the ``context`` characters before them. Hence:

- every character is screened by an intermediate check before its chunk is released (the
  new text is always in the window);
- a passage of up to ``context`` characters is seen whole by one check wherever the check
  boundaries fall: take the first check that ends after the passage; the one before it
  ended inside or before the passage, and its end minus ``context`` is at or before the
  passage's start. A harmful sentence split across chunks or checks is still caught early;
- each check screens about ``every + context`` characters (plus the overshoot of the chunk
  that made it due), so a stream of ``L`` characters costs about
  ``L * (1 + context / every)`` characters of guard work: linear, where screening all the
  text so far at every check cost ``L**2 / (2 * every)``.

Intermediate checks only let the stream abort early. The adapters still screen the whole
message (all of its text, blocks and tool calls) once the stream ends, as in buffered mode.
"""

from __future__ import annotations

from guard_core.errors import ConfigurationError
from guard_core.screening import Windowing

__all__ = ["StreamText", "default_context"]


def default_context(every: int, windowing: Windowing) -> int:
    """The trailing context of a check when the caller gives none: twice ``every`` (each
    check sees at least twice as much earlier text as new text), and at least the guard's
    window overlap (the length it already trusts to be seen whole across a split)."""
    return max(2 * every, windowing.overlap_chars)


class StreamText:
    """One streamed text: its pieces, and how far intermediate checks have screened it.

    >>> text = StreamText(every=5, context=3)
    >>> for piece in ("burn ", "a ho", "use now"):
    ...     text.append(piece)
    ...     if text.due:
    ...         print(repr(text.window()))
    'burn '
    'rn a house now'
    >>> text.text()
    'burn a house now'
    """

    __slots__ = ("_checked", "_length", "_pieces", "context", "every")

    def __init__(self, every: int, context: int) -> None:
        if every < 1 or context < 0:
            raise ConfigurationError(
                f"StreamText needs every >= 1 and context >= 0 (got every={every!r}, "
                f"context={context!r})"
            )
        self.every = every
        self.context = context
        self._pieces: list[str] = []
        self._length = 0
        self._checked = 0

    def __len__(self) -> int:
        return self._length

    def append(self, piece: str) -> None:
        if piece:
            self._pieces.append(piece)
            self._length += len(piece)

    @property
    def due(self) -> bool:
        """Whether ``every`` characters arrived since the last window."""
        return self._length - self._checked >= self.every

    @property
    def fresh(self) -> bool:
        """Whether any character arrived since the last window."""
        return self._length > self._checked

    def window(self) -> str:
        """The text since the last window plus ``context`` characters before it; from now
        on that text counts as checked."""
        size = self._length - max(0, self._checked - self.context)
        self._checked = self._length
        tail: list[str] = []
        for piece in reversed(self._pieces):  # only the pieces the window reaches
            if size <= 0:
                break
            tail.append(piece if len(piece) <= size else piece[-size:])
            size -= len(piece)
        return "".join(reversed(tail))

    def text(self) -> str:
        """The whole text. Joined on demand, and kept joined: meant for the end of a
        stream, not for every chunk."""
        if len(self._pieces) > 1:
            self._pieces = ["".join(self._pieces)]
        return self._pieces[0] if self._pieces else ""
