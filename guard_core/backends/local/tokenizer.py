"""A private tokenizer copy whose added-token tables are built once, not on every request.

``apply_chat_template(..., sanitize_control_tokens=True)`` asks the tokenizer for its added
tokens three times per call (to pick the control tokens, scanning each against the template,
then to split the marked chat), and a fast tokenizer rebuilds that table from Rust each time.
Gemma-3 has ~6,400 added tokens, so that was 35-40 ms per request with the real tokenizer:
fifty times the cost of tokenizing a 600-token prompt, more than a GPU needs to judge it.

:func:`private_tokenizer` returns a copy of the tokenizer with its own Rust tokenizer (the
caller's object is left as it is, and nothing done to it later reaches the copy), whose
added-token tables and control-token list are computed once. Encoding is otherwise
transformers' own code, so the ids are identical (``tests/local/test_local_tokenizer.py``).
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["private_tokenizer"]

_CLASSES: dict[type, type] = {}
_MEMO = "_guard_added_tokens"


def private_tokenizer(tokenizer: Any) -> Any:
    """A copy of ``tokenizer`` (with its own Rust tokenizer) with memoized token tables.

    A tokenizer of a kind this does not know (no fast ``added_tokens_decoder`` property)
    is returned as it is: correct, only slower.
    """
    base = type(tokenizer)
    if base in _CLASSES.values():
        return tokenizer
    if not (
        isinstance(getattr(base, "added_tokens_decoder", None), property)
        and hasattr(tokenizer, "_tokenizer")
    ):
        return tokenizer
    twin = copy.copy(tokenizer)
    twin._tokenizer = copy.deepcopy(tokenizer._tokenizer)
    twin.__dict__.pop(_MEMO, None)
    twin.__class__ = _memo_class(base)
    return twin


def _memo_class(base: type) -> type:
    found = _CLASSES.get(base)
    if found is not None:
        return found

    parent_decoder: Any = base.added_tokens_decoder  # type: ignore[attr-defined]
    parent_control: Any = getattr(base, "_get_control_tokens", None)

    def memo(self: Any) -> dict[str, Any]:
        tables: dict[str, Any] | None = self.__dict__.get(_MEMO)
        if tables is None:
            decoder = parent_decoder.fget(self)
            tables = self.__dict__[_MEMO] = {
                "decoder": decoder,
                "encoder": {token.content: i for i, token in sorted(decoder.items())},
                "control": {},
            }
        return tables

    def added_tokens_decoder(self: Any) -> dict[int, Any]:
        return dict(memo(self)["decoder"])  # a copy, as the parent gives: callers may edit it

    def added_tokens_encoder(self: Any) -> dict[str, int]:
        return dict(memo(self)["encoder"])

    def _get_control_tokens(self: Any, chat_template: str) -> tuple[str, ...]:
        key = (chat_template, tuple(getattr(self, "chat_control_tokens", None) or ()))
        control: dict[Any, tuple[str, ...]] = memo(self)["control"]
        if key not in control:
            control[key] = parent_control(self, chat_template)
        return control[key]

    members: dict[str, Any] = {
        "added_tokens_decoder": property(added_tokens_decoder),
        "added_tokens_encoder": property(added_tokens_encoder),
        "__module__": base.__module__,
        "__doc__": base.__doc__,
    }
    if parent_control is not None:  # a private transformers method: only where it exists
        members["_get_control_tokens"] = _get_control_tokens
    made = type(base.__name__, (base,), members)
    _CLASSES[base] = made
    return made
