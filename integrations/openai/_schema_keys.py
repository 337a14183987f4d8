"""The keys the installed SDK declares for a request: structure, not content.

A request is plain dicts shaped by the SDK's ``TypedDict`` params. Their keys (``role``,
``content``, ``image_url``, ...) are the schema; any other key in a request (a JSON schema's
property name, a free-form dict's key, an ``extra_body`` field) is content and is screened.
Read from the SDK's own types, once, so a key a new release declares is structure and a key
it does not declare is never skipped.
"""

from __future__ import annotations

import functools
import types
import typing
from typing import Any

from pydantic import BaseModel
from typing_extensions import is_typeddict

__all__ = ["request_keys"]


@functools.cache
def request_keys() -> frozenset[str]:
    """Every key of every ``TypedDict`` the chat and Responses create params can hold."""
    from openai.types.chat import completion_create_params
    from openai.types.responses import response_create_params

    keys: set[str] = set()
    seen: set[int] = set()
    for root in (completion_create_params.CompletionCreateParamsBase,
                 response_create_params.ResponseCreateParamsBase):
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
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        for name, field in tp.model_fields.items():
            keys.add(field.alias or name)
            _collect(field.annotation, keys, seen)
        return
    if type(tp).__name__ == "TypeAliasType":  # typing's (3.12+) or typing_extensions'
        _collect(tp.__value__, keys, seen)
        return
    for arg in typing.get_args(tp):
        if not isinstance(arg, str | int | float | bool | types.NoneType):
            _collect(arg, keys, seen)
