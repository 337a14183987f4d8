"""Server-side state that holds blocked content: remembered, so it is never chained again.

A Responses answer the guard blocks is still stored by the server (``store`` defaults to
true) under its response id and its output items' ids, and appended to the
``conversation=`` it was made in; a stream may even have released the id already (in
``response.created``) before its answer was judged. Sending any of those back
(``previous_response_id``, an ``item_reference``, the conversation) would put the blocked
answer into the model's context without anyone screening it, so a wrapped client
remembers them and refuses such a request before anything is sent (fail closed).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

__all__ = ["LIMIT", "Tainted"]

LIMIT = 65_536
"""How many ids a wrapped client remembers (the oldest are forgotten first)."""


class _Bounded:
    def __init__(self, limit: int) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._limit = limit

    def add(self, ids: Iterable[str]) -> None:
        for value in ids:
            self._ids[value] = None
            self._ids.move_to_end(value)
        while len(self._ids) > self._limit:
            self._ids.popitem(last=False)

    def __contains__(self, value: object) -> bool:
        return value in self._ids


class Tainted:
    """Response / item ids and conversations that hold an answer the guard blocked."""

    def __init__(self, limit: int = LIMIT) -> None:
        self._lock = threading.Lock()
        self._answers = _Bounded(limit)
        self._conversations = _Bounded(limit)

    def blocked(self, ids: Iterable[str], conversation: str | None) -> None:
        """An answer was blocked: remember every id it is stored under."""
        with self._lock:
            self._answers.add(i for i in ids if i)
            if conversation:
                self._conversations.add([conversation])

    def answer(self, value: object) -> bool:
        with self._lock:
            return value in self._answers

    def conversation(self, value: object) -> bool:
        with self._lock:
            return value in self._conversations
