"""The key names a framework's own types declare: structure, not content.

An adapter hands :func:`declared_keys` the request / message types of the framework it
wraps (``TypedDict``s, pydantic models, unions and aliases of them); every key those types
can hold, at any depth, is a name the framework chose. A key outside that set, in an object
crossing a boundary, was written by someone else (a model, a tool, a client) and is screened
(``strings_in(..., structural_keys=declared_keys(...))``). Read from the installed release,
so a key it declares tomorrow is structure and a key it never declared is never skipped.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from typing_extensions import is_typeddict

__all__ = ["declared_keys"]


def declared_keys(*roots: Any) -> frozenset[str]:
    """Every key of every ``TypedDict`` and every field (alias) of every pydantic model
    reachable from ``roots`` through annotations, unions and type aliases."""
    keys: set[str] = set()
    seen: set[int] = set()
    for root in roots:
        _collect(root, keys, seen)
    return frozenset(keys)


def _collect(tp: Any, keys: set[str], seen: set[int]) -> None:
    if id(tp) in seen:
        return
    seen.add(id(tp))
    if is_typeddict(tp):
        hints = typing.get_type_hints(tp, include_extras=True)
        keys.update(hints)
        for hint in hints.values():
            _collect(hint, keys, seen)
        return
    fields = getattr(tp, "model_fields", None) if isinstance(tp, type) else None
    if isinstance(fields, dict):  # a pydantic model class
        for name, field in fields.items():
            keys.add(field.alias or name)
            _collect(field.annotation, keys, seen)
        return
    if type(tp).__name__ == "TypeAliasType":  # typing's (3.12+) or typing_extensions'
        _collect(tp.__value__, keys, seen)
        return
    for arg in typing.get_args(tp):
        if not isinstance(arg, str | int | float | bool | types.NoneType):
            _collect(arg, keys, seen)
