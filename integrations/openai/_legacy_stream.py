"""The stream gate of legacy completions (``client.completions.create(stream=True)``).

Each chunk is a ``Completion`` whose choices carry the next piece of their ``text``. The
texts are gathered by choice index, released in steps like chat text in
``streaming="incremental"`` (held whole in the default buffer mode), and at the end each
choice's whole text is judged against the prompt it answers. A chunk that finishes a choice
or carries any other string (``logprobs`` tokens, fields an SDK release adds) is held for
that final screening, as on the chat path. A refusal is one chunk per choice (see
:func:`._legacy.refusal_chunks`). Pure: no I/O (see :mod:`.streams`).
"""

from __future__ import annotations

from typing import Any

from guard_core.verdict import Verdict

from . import _convert, _legacy
from ._gates import Gate, by_choice
from ._screen import Call

__all__ = ["CompletionsGate"]


class CompletionsGate(Gate):
    """Pure state of a legacy completions stream."""

    def __init__(self, call: Call) -> None:
        super().__init__(call)
        self.first: Any = None

    def _take(self, chunk: Any) -> bool:
        self.first = self.first or chunk
        choices = _convert.field(chunk, "choices") or []
        text_only = bool(choices)
        consumed: set[str] = set()
        where: dict[str, str] = {}
        for k, choice in enumerate(choices):
            index = _convert.field(choice, "index")
            index = index if isinstance(index, int) else 0
            where[f"choices[{k}]"] = f"choices<{index}>"
            text = _convert.field(choice, "text")
            if isinstance(text, str):
                self._text(index).append(text)
                consumed.add(f"choices[{k}].text")
            if _convert.field(choice, "finish_reason") is not None:
                text_only = False
        if self._keep_rest(chunk, consumed, by_choice(where)):
            text_only = False  # logprobs, usage, fields newer than this code: held
        return text_only

    def final(self) -> list[_convert.Entry]:
        call = self.call
        entries: list[_convert.Entry] = []
        covered: set[str] = set()
        for index, streamed in sorted(self.texts.items()):
            text = streamed.text()
            covered.update(_convert.texts_of(text))
            context = _legacy.context_of(call.prompts, call.n, index)
            entries += _convert.assistant_entries(text, (), context)
        return call.keep([*entries, *self._rest_entries(covered)])

    def refusal(self, verdict: Verdict) -> list[Any]:
        call = self.call
        text = ("\n\n" if self.released else "") + call.refusal_text(verdict)
        count = max(len(self.texts), _legacy.choices(call.n, call.prompts))
        return _legacy.refusal_chunks(text, model=call.model, like=self.first, choices=count)
