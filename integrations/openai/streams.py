"""Guarded streams: still an ``openai.Stream`` / ``openai.AsyncStream``, screened first.

``stream_mode="buffer"`` (default): every chunk is read and the whole answer (text and
each tool call) is screened before the first chunk is released. Nothing unsafe ever reaches
the caller; the price is that the caller sees no token before the model has finished.

``stream_mode="incremental"``: text is released in steps: every ``screen_every``
characters the text so far is screened, and the chunks it covers are released once it
passes. No text reaches the caller unscreened, and the first token waits only for one step
instead of the whole answer. The trade-off: a block can only abort. Text released after an
earlier step passed stays released when a later step (more context) is blocked. Tool-call
chunks, the finish chunk and everything after them are held for the final screening, so a
tool call is never released before it is screened, in either mode.

On a block the stream raises :class:`GuardViolation` (``on_block="raise"``) or ends with a
refusal (``finish_reason="content_filter"`` / ``response.incomplete``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterator
from typing import Any, TypeVar

import httpx2
from openai import AsyncStream, Stream

from guard_core.content import AssistantMessage
from guard_core.verdict import Verdict

from . import _convert, _refusal
from ._screen import Call, given

__all__ = ["AsyncGuardedStream", "GuardedStream", "gate_for"]

_T = TypeVar("_T")
_TEXT_EVENTS = frozenset({
    "response.created", "response.in_progress", "response.queued",
    "response.content_part.added", "response.content_part.done",
    "response.output_text.delta", "response.output_text.done",
    "response.refusal.delta", "response.refusal.done"})
_FINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


class _Gate(ABC):
    """Pure stream state: what was said so far, what may be released, when to screen."""

    def __init__(self, call: Call) -> None:
        self.call = call
        self.holding = call.options.stream_mode == "buffer"
        self.every = call.options.screen_every
        self.released = False
        self.texts: dict[int, str] = {}
        self._checked: dict[int, int] = {}

    def add(self, chunk: Any) -> bool:
        """Take a chunk; True for a text chunk released at the next passed step."""
        if not self._take(chunk):
            self.holding = True
        return not self.holding

    def due(self) -> list[_convert.Entry]:
        """The texts to screen now: every changed one, once any grew by ``screen_every``."""
        if self.holding or all(len(text) - self._checked.get(key, 0) < self.every
                               for key, text in self.texts.items()):
            return []
        out: list[_convert.Entry] = []
        for key, text in self.texts.items():
            if len(text) > self._checked.get(key, 0):
                self._checked[key] = len(text)
                out += self.call.keep(_convert.assistant_entries(text, (), self.call.context))
        return out

    @abstractmethod
    def _take(self, chunk: Any) -> bool:
        """Implemented by the chat and Responses gates."""

    @abstractmethod
    def final(self) -> list[_convert.Entry]:
        """Implemented by the chat and Responses gates."""

    @abstractmethod
    def refusal(self, verdict: Verdict) -> list[Any]:
        """Implemented by the chat and Responses gates."""


def _transcript(delta: Any) -> str:
    """An audio answer's transcript, screened like its text."""
    audio = getattr(delta, "audio", None)
    transcript = getattr(audio, "transcript", None)
    return transcript if isinstance(transcript, str) else ""


class _ChatGate(_Gate):
    def __init__(self, call: Call) -> None:
        super().__init__(call)
        self.first: Any = None
        self.calls: dict[tuple[int, int], list[str]] = {}

    def _take(self, chunk: Any) -> bool:
        self.first = self.first or chunk
        text_only = bool(chunk.choices)
        for choice in chunk.choices:
            delta = choice.delta
            text = (delta.content or "") + (delta.refusal or "") + _transcript(delta)
            if getattr(delta, "audio", None) is not None or delta.model_extra:
                # audio, reasoning, fields newer than this code: held until the final check
                text_only = False
            self.texts[choice.index] = self.texts.get(choice.index, "") + text
            for call in delta.tool_calls or ():
                slot = self.calls.setdefault((choice.index, call.index), ["", "", ""])
                slot[0] += call.id or ""
                if call.function is not None:
                    slot[1] += call.function.name or ""
                    slot[2] += call.function.arguments or ""
            if delta.function_call is not None:
                slot = self.calls.setdefault((choice.index, -1), ["", "", ""])
                slot[1] += delta.function_call.name or ""
                slot[2] += delta.function_call.arguments or ""
            if delta.tool_calls or delta.function_call or choice.finish_reason is not None:
                text_only = False
        return text_only

    def final(self) -> list[_convert.Entry]:
        entries: list[_convert.Entry] = []
        for index in sorted({*self.texts, *(c for c, _ in self.calls)}):
            calls = [(cid or None, name, args)
                     for (c, _), (cid, name, args) in sorted(self.calls.items()) if c == index]
            entries += _convert.assistant_entries(self.texts.get(index, ""), calls,
                                                  self.call.context)
        return self.call.keep(entries)

    def refusal(self, verdict: Verdict) -> list[Any]:
        text = self.call.refusal_text(verdict)
        n = given(self.call.kwargs, "n")
        choices = max(len(self.texts), n if isinstance(n, int) else 1)
        return _refusal.chat_chunks(("\n\n" if self.released else "") + text,
                                    model=self.call.model, like=self.first, choices=choices,
                                    finish_only=self.released)


class _ResponsesGate(_Gate):
    def __init__(self, call: Call) -> None:
        super().__init__(call)
        self.first: Any = None
        self.final_response: Any = None
        self.done: dict[int, Any] = {}

    def _take(self, event: Any) -> bool:
        kind = event.type
        if kind in ("response.created", "response.in_progress", "response.queued"):
            self.first = self.first or event.response
        if kind in ("response.output_text.delta", "response.refusal.delta"):
            index = event.output_index
            self.texts[index] = self.texts.get(index, "") + event.delta
        elif kind in _FINAL_EVENTS:
            self.final_response = event.response
        elif kind == "response.output_item.done":
            self.done[event.output_index] = event.item
        if kind == "response.output_item.added":
            return bool(event.item.type == "message")
        return kind in _TEXT_EVENTS

    def final(self) -> list[_convert.Entry]:
        context = self.call.context
        # the final response when there is one, else every item that finished ...
        source = self.final_response or _Output([self.done[i] for i in sorted(self.done)])
        entries = _convert.responses_response(source, context)
        # ... and always the delta text: that is what the caller receives, whatever the final
        # output says (a failed response can come with an empty output)
        judged = {e.text for e in entries if isinstance(e, AssistantMessage)}
        for _, text in sorted(self.texts.items()):
            if text and text not in judged:
                entries += _convert.assistant_entries(text, (), context)
        return self.call.keep(entries)

    def refusal(self, verdict: Verdict) -> list[Any]:
        text = self.call.refusal_text(verdict)
        events = _refusal.response_events(text, model=self.call.model, like=self.first)
        return events[-1:] if self.released else events


class _Output:
    def __init__(self, output: list[Any]) -> None:
        self.output = output


def gate_for(call: Call) -> _Gate:
    return _ChatGate(call) if call.api == "chat" else _ResponsesGate(call)


def _placeholder(url: str) -> httpx2.Response:
    """The ``response`` of a stream refused before any request was sent."""
    return httpx2.Response(200, headers={"content-type": "text/event-stream",
                                         "x-guard-core": "refused"},
                           content=b"", request=httpx2.Request("POST", url))


class GuardedStream(Stream[_T]):
    """A :class:`openai.Stream` whose chunks are released only after screening."""

    def __init__(self, inner: Stream[_T] | None, gate: _Gate, *,
                 refused: Verdict | None = None, url: str = "") -> None:
        # Stream.__init__ is not called: the inner stream decodes the SSE, this one gates it.
        self._inner, self._gate, self._refused = inner, gate, refused
        self.response = inner.response if inner is not None else _placeholder(url)
        self._iterator = self.__stream__()

    def __stream__(self) -> Iterator[_T]:
        gate, call = self._gate, self._gate.call
        if self._inner is None:
            assert self._refused is not None
            yield from gate.refusal(self._refused)
            return
        pending: list[_T] = []  # text chunks waiting for the next screening step
        held: list[_T] = []  # everything from the first non-text chunk on
        try:
            for chunk in self._inner:
                (pending if gate.add(chunk) else held).append(chunk)
                due = gate.due()
                if not due:
                    continue
                if (blocked := call.settle(due, call.check(due))) is not None:
                    yield from gate.refusal(blocked)
                    return
                gate.released = gate.released or bool(pending)
                yield from pending
                pending.clear()
            entries = gate.final()
            if (blocked := call.settle(entries, call.check(entries))) is not None:
                yield from gate.refusal(blocked)
                return
            yield from pending + held
        finally:
            self._inner.close()

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()
        self.response.close()


class AsyncGuardedStream(AsyncStream[_T]):
    """A :class:`openai.AsyncStream` whose chunks are released only after screening."""

    def __init__(self, inner: AsyncStream[_T] | None, gate: _Gate, *,
                 refused: Verdict | None = None, url: str = "") -> None:
        self._inner, self._gate, self._refused = inner, gate, refused
        self.response = inner.response if inner is not None else _placeholder(url)
        self._iterator = self.__stream__()

    async def __stream__(self) -> AsyncIterator[_T]:
        gate, call = self._gate, self._gate.call
        if self._inner is None:
            assert self._refused is not None
            for chunk in gate.refusal(self._refused):
                yield chunk
            return
        pending: list[_T] = []
        held: list[_T] = []
        try:
            async for chunk in self._inner:
                (pending if gate.add(chunk) else held).append(chunk)
                due = gate.due()
                if not due:
                    continue
                if (blocked := call.settle(due, await call.acheck(due))) is not None:
                    for refusal in gate.refusal(blocked):
                        yield refusal
                    return
                gate.released = gate.released or bool(pending)
                for chunk_ in pending:
                    yield chunk_
                pending.clear()
            entries = gate.final()
            if (blocked := call.settle(entries, await call.acheck(entries))) is not None:
                for refusal in gate.refusal(blocked):
                    yield refusal
                return
            for chunk in pending + held:
                yield chunk
        finally:
            await self._inner.close()

    async def close(self) -> None:
        if self._inner is not None:
            await self._inner.close()
        await self.response.aclose()
