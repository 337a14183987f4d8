"""Canaries from the SDK's own schema: every place a string can sit, one value per place.

:func:`canaries` walks a pydantic model (``ChatCompletion``, ``Response``, a stream event
union) or a request ``TypedDict`` and yields, for each string-bearing field at any depth,
a JSON value that is minimal everywhere except that field, which holds :data:`MARKER`.
Type tags (``Literal`` fields) get the marker too, and every model gets one field it does
not declare, so a field a later SDK release adds is covered before it exists. Nothing
here is hand-listed: a new SDK field is a new canary.
"""

from __future__ import annotations

import collections.abc as cabc
import types
import typing
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel
from typing_extensions import is_typeddict

MARKER = "how to build a bomb, step by step"
"""Unsafe for the scripted judge; it has spaces, so no field may skip it as a token."""

FUTURE = "x_field_from_a_later_sdk"
_DEPTH = 9
_WRAPPERS = {typing.Annotated, typing.Required, typing.NotRequired, typing.ClassVar}
_LISTS = {list, tuple, set, frozenset, cabc.Iterable, cabc.Sequence, cabc.Iterator}
_MAPS = {dict, cabc.Mapping, cabc.MutableMapping}


def _strip(tp: Any) -> Any:
    while typing.get_origin(tp) in _WRAPPERS:
        tp = typing.get_args(tp)[0]
    return tp


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _fields(tp: Any) -> list[tuple[str, Any, bool]]:
    """(JSON key, annotation, required) of a pydantic model or a TypedDict."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [
            (f.alias or name, f.annotation, f.is_required()) for name, f in tp.model_fields.items()
        ]
    hints = typing.get_type_hints(tp, include_extras=True)
    required: frozenset[str] = getattr(tp, "__required_keys__", frozenset())
    return [(key, hint, key in required) for key, hint in hints.items()]


def _is_record(tp: Any) -> bool:
    return is_typeddict(tp) or (isinstance(tp, type) and issubclass(tp, BaseModel))


def minimal(tp: Any, depth: int = 0) -> Any:
    """The smallest JSON value of type ``tp`` (first union branch, first literal)."""
    tp = _strip(tp)
    origin = typing.get_origin(tp)
    if _is_union(tp):
        branches = [b for b in typing.get_args(tp) if b is not type(None)]
        return minimal(branches[0], depth) if branches else None
    if origin is typing.Literal:
        return typing.get_args(tp)[0]
    if origin in _LISTS or tp in _LISTS:
        return []
    if origin in _MAPS or tp in _MAPS:
        return {}
    if _is_record(tp):
        if depth > _DEPTH:
            return {}
        return {key: minimal(hint, depth + 1) for key, hint, required in _fields(tp) if required}
    return {str: "x", int: 0, float: 0.0, bool: False}.get(tp, {})


def canaries(tp: Any) -> list[tuple[str, Any]]:
    """``(path, value)`` for every string-bearing place of ``tp`` (each (type, field) once)."""
    return list(_variants(tp, 0, set()))


def _variants(tp: Any, depth: int, seen: set[Any]) -> Iterator[tuple[str, Any]]:
    tp = _strip(tp)
    origin = typing.get_origin(tp)
    if depth > _DEPTH:
        return
    if _is_union(tp):
        for branch in typing.get_args(tp):
            yield from _variants(branch, depth, seen)
    elif tp is str or (
        origin is typing.Literal and any(isinstance(a, str) for a in typing.get_args(tp))
    ):
        yield "", MARKER
    elif tp in (object, Any):
        yield "", MARKER
        yield "{k}", {"k": MARKER}
    elif origin in _LISTS:
        for path, value in _variants(typing.get_args(tp)[0], depth + 1, seen):
            yield f"[0]{path}", [value]
    elif origin in _MAPS:
        item = typing.get_args(tp)[1] if typing.get_args(tp) else object
        yield "[key]", {MARKER: minimal(item, depth + 1)}
        for path, value in _variants(item, depth + 1, seen):
            yield f"[k]{path}", {"k": value}
    elif _is_record(tp):
        yield from _record(tp, depth, seen)


def _record(tp: Any, depth: int, seen: set[Any]) -> Iterator[tuple[str, Any]]:
    base = minimal(tp, depth)
    if (tp, FUTURE) not in seen:
        seen.add((tp, FUTURE))
        yield f".{FUTURE}", {**base, FUTURE: MARKER}
    for key, hint, _ in _fields(tp):
        if (tp, key) in seen:
            continue
        seen.add((tp, key))
        for path, value in _variants(hint, depth + 1, seen):
            yield f".{key}{path}", {**base, key: value}
