"""Default deny at a boundary: every string an object carries, found by walking the object.

Framework-free; the one copy of the rule every adapter follows (DESIGN.md 5b). An adapter
knows the fields it *understands* (a message's text, a tool call's arguments, an image) and
converts those into items. Everything else that crosses the boundary is not skipped: the
adapter walks it with :func:`strings_in` and screens what it finds as text, or refuses what
cannot be read (:func:`strings_in` raises :class:`ContentError` naming the field). Only the
keys an adapter lists as *not content* (ids, type tags, roles, numbers' names) are left out,
so a field a framework adds tomorrow is screened, not passed.

>>> found = strings_in({"id": "call_1", "note": "hi", "parts": [{"text": "there"}]},
...                    skip_keys={"id"}, structural_keys={"note", "parts", "text"})
>>> [(f.path, f.text) for f in found]
[('note', 'hi'), ('parts[0].text', 'there')]
>>> joined(found)
'hi\\nthere'
>>> [f.text for f in strings_in({"how_to_build_a_bomb": 1, "type": "object"})]
['how_to_build_a_bomb', 'object']
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import re
import uuid
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from guard_core.errors import ContentError

__all__ = [
    "AGENT_KEY",
    "JSON_SCHEMA_KEYS",
    "MAX_DEPTH",
    "Found",
    "agent_choice",
    "is_label",
    "joined",
    "strings_in",
]

AGENT_KEY = "guard_agent"
"""The key a client names its agent under, in every adapter (``configurable``, ``metadata``,
``runtime.context``, ``extra_body``); :func:`agent_choice` decides whether it may."""

MAX_DEPTH = 32
_LABEL = re.compile(r"\S{1,64}")

JSON_SCHEMA_KEYS = frozenset(
    {
        "$schema",
        "$id",
        "$ref",
        "$defs",
        "definitions",
        "type",
        "properties",
        "required",
        "items",
        "prefixItems",
        "additionalProperties",
        "patternProperties",
        "enum",
        "const",
        "description",
        "title",
        "default",
        "examples",
        "format",
        "pattern",
        "anyOf",
        "oneOf",
        "allOf",
        "not",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "uniqueItems",
        "strict",
        "nullable",
        "discriminator",
        "propertyNames",
        "dependentRequired",
        "if",
        "then",
        "else",
    }
)
"""JSON Schema keywords: structure wherever they appear as keys (their values are walked)."""
# Values that carry no free text (an enum's value is a fixed name; a Path is text: walked)
_SCALARS = (
    bool,
    int,
    float,
    complex,
    type(None),
    enum.Enum,
    decimal.Decimal,
    uuid.UUID,
    datetime.date,
    datetime.time,
    datetime.timedelta,
)


@dataclass(frozen=True, slots=True)
class Found:
    """One string an object carries, and where (``messages[2].content[0].text``)."""

    path: str
    text: str


def strings_in(
    value: Any,
    *,
    skip_keys: Collection[str] = frozenset(),
    label_keys: Collection[str] = frozenset(),
    structural_keys: Collection[str] = frozenset(),
    where: str = "",
    max_depth: int = MAX_DEPTH,
) -> list[Found]:
    """Every non-blank string in ``value`` (mappings, sequences, pydantic models, dataclasses),
    in order. Bytes, and objects of a type this walk does not know, raise
    :class:`ContentError` naming their path: they are never skipped.

    What is left out, and only that:

    - ``skip_keys``: the value under such a key, whatever it is, at any depth (opaque
      signatures, encrypted blobs);
    - ``label_keys``: a string under such a key while it is a *label* (one short token, no
      whitespace: an id, a type tag, a role); a sentence there is content;
    - the names of mapping keys that are declared schema (``structural_keys``, the keys of
      :data:`JSON_SCHEMA_KEYS`, and the skip and label keys), and pydantic / dataclass field
      names. Every other mapping key, and every key of a pydantic model's extra fields, is
      content: a JSON schema's property names and a free-form dict's keys reach a model or a
      caller as surely as its values."""
    out: list[Found] = []
    rules = _Rules(
        frozenset(skip_keys), frozenset(label_keys), frozenset(structural_keys) | JSON_SCHEMA_KEYS
    )
    _walk(value, where, rules, max_depth, out, set())
    return out


def is_label(text: str) -> bool:
    """One short token (an id, a tag, an enum value): no whitespace, at most 64 characters."""
    return _LABEL.fullmatch(text) is not None


def joined(found: Collection[Found]) -> str:
    """The found strings as one text to screen (one guard item; the cache answers repeats)."""
    return "\n".join(f.text for f in found)


@dataclass(frozen=True, slots=True)
class _Rules:
    skip: frozenset[str]
    label: frozenset[str]
    structural: frozenset[str]

    def key_is_content(self, key: str) -> bool:
        return (
            bool(key.strip())
            and key not in self.structural
            and key not in self.skip
            and key not in self.label
        )


def _walk(
    value: Any,
    path: str,
    rules: _Rules,
    depth: int,
    out: list[Found],
    seen: set[int],
    *,
    label: bool = False,
) -> None:
    if isinstance(value, str | PurePath):
        text = str(value)
        if text.strip() and not (label and is_label(text)):
            out.append(Found(path, text))
        return
    if isinstance(value, _SCALARS):
        return
    if depth <= 0:
        raise ContentError(
            f"{path or 'the value'}: nested deeper than {MAX_DEPTH} levels; "
            "flatten it before it reaches the agent"
        )
    if isinstance(value, bytes | bytearray | memoryview):
        raise ContentError(
            f"{path or 'the value'}: cannot screen raw bytes; decode them to text "
            "(or send an image block) before they reach the agent"
        )
    if id(value) in seen:
        raise ContentError(f"{path or 'the value'}: refers to itself; cannot screen a cycle")
    seen.add(id(value))
    try:
        for segment, free_key, child in _children(value, path):
            if free_key is not None and free_key in rules.skip:
                continue
            if free_key is not None and rules.key_is_content(free_key):
                out.append(Found(f"{path}[key]" if path else "[key]", free_key))
            named = free_key if free_key is not None else segment
            _walk(
                child, _join(path, segment), rules, depth - 1, out, seen, label=named in rules.label
            )
    finally:
        seen.discard(id(value))


def _children(value: Any, path: str) -> Iterator[tuple[str, str | None, Any]]:
    """(path segment, the key when it is free-form (a mapping's or an extra field's), child);
    a declared field's name is its segment and not content."""
    if isinstance(value, Mapping):
        for key, child in value.items():
            yield str(key), str(key), child
        return
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        for index, child in enumerate(items):
            yield f"[{index}]", None, child
        return
    fields = getattr(type(value), "model_fields", None)
    if isinstance(fields, Mapping):  # a pydantic model: declared fields, then extras
        for name in fields:
            yield name, None, getattr(value, name, None)
        for name in getattr(type(value), "model_computed_fields", None) or {}:
            yield name, None, getattr(value, name, None)  # serialised like fields
        for name, child in (getattr(value, "model_extra", None) or {}).items():
            yield str(name), str(name), child
        return
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for item in dataclasses.fields(value):
            yield item.name, None, getattr(value, item.name)
        return
    raise ContentError(
        f"{path or 'the value'}: cannot screen a {type(value).__name__}; pass text, JSON-like "
        "data or a pydantic model (guard-core does not skip what it cannot read)"
    )


def _join(path: str, key: str) -> str:
    if key.startswith("["):
        return f"{path}{key}"
    return f"{path}.{key}" if path else key


def agent_choice(
    developer: str | None, requested: str | None, *, allow_override: bool, owner: str
) -> str | None:
    """The agent whose policy applies: the developer's choice wins over one a client sent
    (configurable, runtime context, ``extra_body``) unless ``allow_override`` is set. A
    request that tries to override without permission is ignored only when it names the
    developer's own agent; otherwise it is refused, so that a client learns it cannot."""
    if requested is None or requested == developer:
        return developer
    if developer is None or allow_override:
        return requested
    raise ContentError(
        f"{owner}: the request asks for guard agent {requested!r}, but this adapter was built "
        f"for agent {developer!r}; a client cannot pick another agent's policy. Build the "
        "adapter with allow_agent_override=True to let it"
    )
