"""The pure state of a guarded stream: what was said so far, what may be released, when to
screen, and what (see :mod:`guard_core.integrations.openai.streams` for the behaviour).

One gate per stream: :class:`Gate` holds the streamed texts (as
:class:`guard_core.adapters.streaming.StreamText`, so accumulating is linear) and decides the
intermediate checks of ``streaming="incremental"``; the chat and Responses gates (and legacy
completions', in :mod:`._legacy_stream`) read their API's chunks / events and build the
final screening of the whole answer and the refusal chunks. No I/O here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping
from typing import Any

from guard_core.adapters.streaming import StreamText
from guard_core.content import AssistantMessage
from guard_core.errors import ContentError
from guard_core.verdict import Verdict

from . import _convert, _refusal
from ._body import residual, walk
from ._convert import field, texts_of
from ._screen import UNREADABLE, Call

__all__ = ["ChatGate", "Gate", "ResponsesGate", "by_choice"]

_TEXT_EVENTS = frozenset(
    {
        "response.created",
        "response.in_progress",
        "response.queued",
        "response.content_part.added",
        "response.output_text.delta",
        "response.refusal.delta",
    }
)
_DELTAS = frozenset({"response.output_text.delta", "response.refusal.delta"})
_FIRST_EVENTS = frozenset({"response.created", "response.in_progress", "response.queued"})
_FINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


def by_choice(where: Mapping[str, str]) -> Callable[[str], str]:
    """Where a chunk's string sits, by choice index rather than by position in the chunk
    (``where``: ``choices[k]`` -> ``choices<index>``), so one field's pieces join up."""

    def key(path: str) -> str:
        head = path.split(".", 1)[0]
        return where.get(head, head) + path[len(head) :]

    return key


class Gate(ABC):
    """Pure stream state: what was said so far, what may be released, when to screen."""

    def __init__(self, call: Call) -> None:
        self.call = call
        options = call.options
        self.holding = options.streaming == "buffer"
        self.every = options.stream_chars
        self.context = options.stream_context
        self.released = False
        self.texts: dict[int, StreamText] = {}
        # every other string of the stream, by where it came (pieces of one field joined)
        self.rest: dict[str, list[str]] = {}
        self.unreadable: ContentError | None = None

    def _text(self, key: int) -> StreamText:
        text = self.texts.get(key)
        if text is None:
            text = self.texts[key] = StreamText(self.every, self.context)
        return text

    def _keep_rest(self, chunk: Any, consumed: Collection[str], key: Any = None) -> bool:
        """Hold the strings of ``chunk`` no conversion reads, for the final screening (they
        are screened as output text); True when there is one: the chunk waits for that."""
        try:
            found = residual(walk(chunk, ""), consumed=consumed, covered=self.call.sent)
        except ContentError:
            self.unreadable = UNREADABLE
            return True
        for f in found:
            self.rest.setdefault(key(f.path) if key else f.path, []).append(f.text)
        return bool(found)

    def _rest_entries(self, covered: Collection[str]) -> list[_convert.Entry]:
        texts = []
        for pieces in self.rest.values():
            text = pieces[0] if all(p == pieces[0] for p in pieces) else "".join(pieces)
            if text not in covered and text not in self.call.sent:
                texts.append(text)
        out: list[_convert.Entry] = []
        if texts:
            out.append(AssistantMessage("\n".join(texts), context=self.call.context))
        if self.unreadable is not None:
            out.append(_convert.Failed("output", self.unreadable))
        return out

    def add(self, chunk: Any) -> bool:
        """Take a chunk; True for a text chunk released at the next passed step."""
        if not self._take(chunk):
            self.holding = True
        return not self.holding

    def due(self) -> list[_convert.Entry]:
        """What to screen now, once any text grew by ``stream_chars``: the new part of every
        text that changed, with its trailing context."""
        if self.holding or not any(text.due for text in self.texts.values()):
            return []
        out: list[_convert.Entry] = []
        for text in self.texts.values():
            if text.fresh:
                out += self.call.keep(
                    _convert.assistant_entries(text.window(), (), self.call.context)
                )
        return out

    @abstractmethod
    def _take(self, chunk: Any) -> bool:
        """Implemented by each API's gate."""

    @abstractmethod
    def final(self) -> list[_convert.Entry]:
        """Implemented by each API's gate."""

    @abstractmethod
    def refusal(self, verdict: Verdict) -> list[Any]:
        """Implemented by each API's gate."""


class ChatGate(Gate):
    def __init__(self, call: Call) -> None:
        super().__init__(call)
        self.first: Any = None
        # (choice, call) -> the pieces of its id, name and arguments, joined at the end
        self.calls: dict[tuple[int, int], tuple[list[str], list[str], list[str]]] = {}

    def _take(self, chunk: Any) -> bool:
        self.first = self.first or chunk
        self.call.answer_ids.update(texts_of(field(chunk, "id")))  # stored with store=True
        text_only = bool(chunk.choices)
        consumed: set[str] = set()
        where: dict[str, str] = {}
        for k, choice in enumerate(chunk.choices):
            delta, at = choice.delta, f"choices[{k}].delta"
            where[f"choices[{k}]"] = f"choices<{choice.index}>"
            text = "".join(
                texts_of(delta.content, delta.refusal, field(field(delta, "audio"), "transcript"))
            )
            consumed |= {f"{at}.content", f"{at}.refusal", f"{at}.audio.transcript"}
            self._text(choice.index).append(text)
            for j, call in enumerate(delta.tool_calls or ()):
                if call.function is None:  # not a function call: screened as text
                    continue
                slot = self._slot(choice.index, call.index)
                slot[0].append(call.id or "")
                slot[1].append(call.function.name or "")
                slot[2].append(call.function.arguments or "")
                consumed |= {
                    f"{at}.tool_calls[{j}].function.name",
                    f"{at}.tool_calls[{j}].function.arguments",
                }
            if delta.function_call is not None:
                slot = self._slot(choice.index, -1)
                slot[1].append(delta.function_call.name or "")
                slot[2].append(delta.function_call.arguments or "")
                consumed |= {f"{at}.function_call.name", f"{at}.function_call.arguments"}
            if delta.tool_calls or delta.function_call or choice.finish_reason is not None:
                text_only = False

        if self._keep_rest(chunk, consumed, by_choice(where)):
            text_only = False  # reasoning, audio, fields newer than this code: held
        return text_only

    def _slot(self, choice: int, call: int) -> tuple[list[str], list[str], list[str]]:
        slot = self.calls.get((choice, call))
        if slot is None:
            slot = self.calls[choice, call] = ([], [], [])
        return slot

    def final(self) -> list[_convert.Entry]:
        entries: list[_convert.Entry] = []
        covered: set[str] = set()
        for index in sorted({*self.texts, *(c for c, _ in self.calls)}):
            calls = [
                ("".join(cid) or None, "".join(name), "".join(args))
                for (c, _), (cid, name, args) in sorted(self.calls.items())
                if c == index
            ]
            text = self.texts[index].text() if index in self.texts else ""
            covered.update(texts_of(text, *(n for _, n, _ in calls), *(a for _, _, a in calls)))
            entries += _convert.assistant_entries(text, calls, self.call.context)
        return self.call.keep([*entries, *self._rest_entries(covered)])

    def refusal(self, verdict: Verdict) -> list[Any]:
        text = self.call.refusal_text(verdict)
        choices = max(len(self.texts), self.call.n)
        return _refusal.chat_chunks(
            ("\n\n" if self.released else "") + text,
            model=self.call.model,
            like=self.first,
            choices=choices,
            finish_only=self.released,
        )


class ResponsesGate(Gate):
    def __init__(self, call: Call) -> None:
        super().__init__(call)
        self.first: Any = None
        self.final_response: Any = None
        self.done: dict[int, Any] = {}

    def _take(self, event: Any) -> bool:
        kind = event.type
        response, item = field(event, "response"), field(event, "item")
        # every id the answer is stored under, released early or not (see _state)
        self.call.answer_ids.update(
            texts_of(field(response, "id"), field(item, "id"), field(event, "item_id"))
        )
        if kind in _FIRST_EVENTS:
            self.first = self.first or response
        consumed: set[str] = set()
        if kind in _DELTAS and isinstance(event.delta, str):
            self._text(event.output_index).append(event.delta)
            consumed.add("delta")
        elif kind in _FINAL_EVENTS:
            self.final_response = response
        elif kind == "response.output_item.done":
            self.done[event.output_index] = item
        at = f"{kind}|{field(event, 'output_index')}|{field(event, 'content_index')}|"
        if self._keep_rest(event, consumed, lambda path: at + path):
            return False
        if kind == "response.output_item.added":
            return bool(field(item, "type") == "message")
        return kind in _TEXT_EVENTS

    def final(self) -> list[_convert.Entry]:
        context = self.call.context
        # the final response when there is one, else every item that finished ...
        source = self.final_response or _Output([self.done[i] for i in sorted(self.done)])
        entries, covered = _convert.responses_response(source, context)
        # ... and always the delta text: that is what the caller receives, whatever the final
        # output says (a failed response can come with an empty output)
        for streamed in [text.text() for _, text in sorted(self.texts.items())]:
            if streamed and streamed not in covered:
                covered.add(streamed)
                entries += _convert.assistant_entries(streamed, (), context)
        # ... and every other string any event carried (done events repeating a text,
        # argument deltas, annotations, reasoning, event kinds newer than this code)
        return self.call.keep([*entries, *self._rest_entries(covered)])

    def refusal(self, verdict: Verdict) -> list[Any]:
        text = self.call.refusal_text(verdict)
        return _refusal.response_events(
            text, model=self.call.model, like=self.first, cut_off=self.released
        )


class _Output:
    def __init__(self, output: list[Any]) -> None:
        self.output = output
