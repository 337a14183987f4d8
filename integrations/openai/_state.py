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
from collections.abc import Iterable, Mapping
from typing import Any

from guard_core.errors import ContentError

from ._body import given
from ._convert import field
from ._refusal import REFUSAL_RESPONSE_PREFIX

__all__ = ["LIMIT", "Tainted", "refuse_stored"]

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


def refuse_stored(body: Mapping[str, Any], tainted: Tainted, *, screen_system: bool) -> str | None:
    """Refuse, before sending, a Responses request that chains from server-side state holding
    a blocked answer or that cannot be screened; the id of its conversation, if any."""
    previous = given(body, "previous_response_id")
    if isinstance(previous, str) and previous.startswith(REFUSAL_RESPONSE_PREFIX):
        raise ContentError(
            f"previous_response_id={previous!r} is a refusal made by the guard, not a "
            "stored response: continue from the response before it, or send the "
            "conversation as input"
        )
    if tainted.answer(previous):
        raise ContentError(
            f"previous_response_id={previous!r} is an answer the guard blocked (the server "
            "stored it): continue from the response before it"
        )
    conversation = given(body, "conversation")
    found = conversation if isinstance(conversation, str) else field(conversation, "id")
    conversation_id = found if isinstance(found, str) else None
    if tainted.conversation(conversation_id):
        raise ContentError(
            f"conversation {conversation_id!r} holds an answer the guard blocked (the "
            "server appended it); start a new conversation"
        )
    source = given(body, "input")
    for i, item in enumerate(source if isinstance(source, list) else ()):
        if field(item, "type") == "item_reference" and tainted.answer(field(item, "id")):
            raise ContentError(f"input[{i}] refers to an output item the guard blocked")
    if screen_system and given(body, "prompt") is not None:
        raise ContentError(
            "prompt= names a template stored on the server, which the "
            "guard cannot read; with screen_system=True send instructions"
        )
    return conversation_id
