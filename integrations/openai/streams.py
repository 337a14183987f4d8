"""Guarded streams: still an ``openai.Stream`` / ``openai.AsyncStream``, screened first.

``streaming="buffer"`` (default): every chunk is read and the whole answer (text and
each tool call) is screened before the first chunk is released. Nothing unsafe ever reaches
the caller; the price is that the caller sees no token before the model has finished.

``streaming="incremental"``: text is released in steps: once ``stream_chars`` new
characters arrived, they are screened together with the ``stream_context`` characters
before them (default: twice ``stream_chars``, at least the guard's
``Windowing.overlap_chars``), and the chunks they came in are released once that passes.
No text reaches the caller unscreened, and the first token waits only for one step instead
of the whole answer. A passage of up to ``stream_context`` characters is seen whole by one
step wherever it was split, and each step screens a bounded amount, so a stream's guard
work grows linearly with its length (see :mod:`guard_core.adapters.streaming`). At the end the
whole answer is screened as in buffer mode. The trade-off: a block can only abort. Text
released after an earlier step passed stays released when a later step or the final
screening (more context) is blocked. Tool-call chunks, the finish chunk and everything after
them are held for the final screening, so a tool call is never released before it is
screened, in either mode.

On a block the stream raises :class:`GuardViolation` (``on_block="raise"``) or ends with a
refusal (``finish_reason="content_filter"`` / ``response.incomplete``). Legacy completions
streams (``client.completions.create(stream=True)``) are gated the same way, choice by
choice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, TypeVar

from openai import AsyncStream, Stream

from guard_core.backends.remote.sdk import http_library
from guard_core.verdict import Verdict

from ._gates import ChatGate, Gate, ResponsesGate
from ._legacy_stream import CompletionsGate
from ._screen import Api, Call

__all__ = ["AsyncGuardedStream", "GuardedStream", "gate_for", "placeholder"]

_T = TypeVar("_T")
_GATES: dict[Api, type[Gate]] = {
    "chat": ChatGate,
    "responses": ResponsesGate,
    "completions": CompletionsGate,
}


def gate_for(call: Call) -> Gate:
    """The pure state of one stream of ``call``'s API (see :mod:`._gates`)."""
    return _GATES[call.api](call)


def placeholder(url: str, stream: bool = True) -> Any:
    """The HTTP ``response`` (an httpx2 or httpx ``Response``, as the SDK uses) of a call
    refused before any request was sent: no body, ``x-guard-core: refused``."""
    http = http_library()
    kind = "text/event-stream" if stream else "application/json"
    return http.Response(
        200,
        headers={"content-type": kind, "x-guard-core": "refused"},
        content=b"",
        request=http.Request("POST", url),
    )


class GuardedStream(Stream[_T]):
    """A :class:`openai.Stream` whose chunks are released only after screening."""

    def __init__(
        self, inner: Stream[_T] | None, gate: Gate, *, refused: Verdict | None = None, url: str = ""
    ) -> None:
        # Stream.__init__ is not called: the inner stream decodes the SSE, this one gates it.
        self._inner, self._gate, self._refused = inner, gate, refused
        self.response = inner.response if inner is not None else placeholder(url)
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

    def __init__(
        self,
        inner: AsyncStream[_T] | None,
        gate: Gate,
        *,
        refused: Verdict | None = None,
        url: str = "",
    ) -> None:
        self._inner, self._gate, self._refused = inner, gate, refused
        self.response = inner.response if inner is not None else placeholder(url)
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
