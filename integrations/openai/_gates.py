"""The pure state of a guarded stream: what was said so far, what may be released, when to
screen, and what (see :mod:`guard_core.integrations.openai.streams` for the behaviour).

One gate per stream: :class:`Gate` holds the streamed texts (as
:class:`guard_core._streaming.StreamText`, so accumulating is linear) and decides the
intermediate checks of ``stream_mode="incremental"``; the chat and Responses gates read
their API's chunks / events and build the final screening of the whole answer and the
refusal chunks. No I/O here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from guard_core._streaming import StreamText, default_context
from guard_core.content import AssistantMessage
from guard_core.verdict import Verdict

from . import _convert, _refusal
from ._screen import Call, given

__all__ = ["Gate", "gate_for"]

_TEXT_EVENTS = frozenset({
    "response.created", "response.in_progress", "response.queued",
    "response.content_part.added", "response.output_text.delta", "response.refusal.delta"})
# Events that carry a part's whole text again: it need not equal the deltas, so it is held
# for the final check, which judges it too (they come at a part's end: little is held).
_DONE_TEXT_EVENTS = frozenset({"response.output_text.done", "response.refusal.done",
                               "response.content_part.done"})
_FINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


class Gate(ABC):
    """Pure stream state: what was said so far, what may be released, when to screen."""

    def __init__(self, call: Call) -> None:
        self.call = call
        options = call.options
        self.holding = options.stream_mode == "buffer"
        self.every = options.screen_every
        self.context = (default_context(self.every, call.guard.windowing)
                        if options.screen_context is None else options.screen_context)
        self.released = False
        self.texts: dict[int, StreamText] = {}

    def _text(self, key: int) -> StreamText:
        text = self.texts.get(key)
        if text is None:
            text = self.texts[key] = StreamText(self.every, self.context)
        return text

    def add(self, chunk: Any) -> bool:
        """Take a chunk; True for a text chunk released at the next passed step."""
        if not self._take(chunk):
            self.holding = True
        return not self.holding

    def due(self) -> list[_convert.Entry]:
        """What to screen now, once any text grew by ``screen_every``: the new part of every
        text that changed, with its trailing context."""
        if self.holding or not any(text.due for text in self.texts.values()):
            return []
        out: list[_convert.Entry] = []
        for text in self.texts.values():
            if text.fresh:
                out += self.call.keep(_convert.assistant_entries(text.window(), (),
                                                                 self.call.context))
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
    # openai 3.x types the delta's audio; 2.x keeps it as an extra field, a plain dict
    transcript = (audio.get("transcript") if isinstance(audio, dict)
                  else getattr(audio, "transcript", None))
    return transcript if isinstance(transcript, str) else ""


class _ChatGate(Gate):
    def __init__(self, call: Call) -> None:
        super().__init__(call)
        self.first: Any = None
        # (choice, call) -> the pieces of its id, name and arguments, joined at the end
        self.calls: dict[tuple[int, int], tuple[list[str], list[str], list[str]]] = {}

    def _take(self, chunk: Any) -> bool:
        self.first = self.first or chunk
        text_only = bool(chunk.choices)
        for choice in chunk.choices:
            delta = choice.delta
            text = (delta.content or "") + (delta.refusal or "") + _transcript(delta)
            if getattr(delta, "audio", None) is not None or delta.model_extra:
                # audio, reasoning, fields newer than this code: held until the final check
                text_only = False
            self._text(choice.index).append(text)
            for call in delta.tool_calls or ():
                slot = self._slot(choice.index, call.index)
                slot[0].append(call.id or "")
                if call.function is not None:
                    slot[1].append(call.function.name or "")
                    slot[2].append(call.function.arguments or "")
            if delta.function_call is not None:
                slot = self._slot(choice.index, -1)
                slot[1].append(delta.function_call.name or "")
                slot[2].append(delta.function_call.arguments or "")
            if delta.tool_calls or delta.function_call or choice.finish_reason is not None:
                text_only = False
        return text_only

    def _slot(self, choice: int, call: int) -> tuple[list[str], list[str], list[str]]:
        slot = self.calls.get((choice, call))
        if slot is None:
            slot = self.calls[choice, call] = ([], [], [])
        return slot

    def final(self) -> list[_convert.Entry]:
        entries: list[_convert.Entry] = []
        for index in sorted({*self.texts, *(c for c, _ in self.calls)}):
            calls = [("".join(cid) or None, "".join(name), "".join(args))
                     for (c, _), (cid, name, args) in sorted(self.calls.items()) if c == index]
            text = self.texts[index].text() if index in self.texts else ""
            entries += _convert.assistant_entries(text, calls, self.call.context)
        return self.call.keep(entries)

    def refusal(self, verdict: Verdict) -> list[Any]:
        text = self.call.refusal_text(verdict)
        n = given(self.call.kwargs, "n")
        choices = max(len(self.texts), n if isinstance(n, int) else 1)
        return _refusal.chat_chunks(("\n\n" if self.released else "") + text,
                                    model=self.call.model, like=self.first, choices=choices,
                                    finish_only=self.released)


class _ResponsesGate(Gate):
    def __init__(self, call: Call) -> None:
        super().__init__(call)
        self.first: Any = None
        self.final_response: Any = None
        self.done: dict[int, Any] = {}
        self.done_texts: list[str] = []

    def _take(self, event: Any) -> bool:
        kind = event.type
        if kind in ("response.created", "response.in_progress", "response.queued"):
            self.first = self.first or event.response
        if kind in ("response.output_text.delta", "response.refusal.delta"):
            self._text(event.output_index).append(event.delta)
        elif kind in _FINAL_EVENTS:
            self.final_response = event.response
        elif kind == "response.output_item.done":
            self.done[event.output_index] = event.item
        elif kind in _DONE_TEXT_EVENTS:
            part = getattr(event, "part", event)
            self.done_texts.append(str(getattr(part, "text", None)
                                       or getattr(part, "refusal", None) or ""))
            return False
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
        said = [streamed.text() for _, streamed in sorted(self.texts.items())]
        for text in [*said, *self.done_texts]:  # ... and the text the done events repeat
            if text and text not in judged:
                judged.add(text)
                entries += _convert.assistant_entries(text, (), context)
        return self.call.keep(entries)

    def refusal(self, verdict: Verdict) -> list[Any]:
        text = self.call.refusal_text(verdict)
        events = _refusal.response_events(text, model=self.call.model, like=self.first)
        return events[-1:] if self.released else events


class _Output:
    def __init__(self, output: list[Any]) -> None:
        self.output = output


def gate_for(call: Call) -> Gate:
    return _ChatGate(call) if call.api == "chat" else _ResponsesGate(call)
