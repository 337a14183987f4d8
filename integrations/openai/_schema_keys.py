"""The keys the installed SDK declares for a request: structure, not content.

A request is plain dicts shaped by the SDK's ``TypedDict`` params; their keys (``role``,
``content``, ``image_url``, ...) are the schema, and any other key in a request (a JSON
schema's property name, a free-form dict's key, an ``extra_body`` field) is content.
"""

from __future__ import annotations

import functools

from guard_core.adapters.schema import declared_keys

__all__ = ["request_keys"]


@functools.cache
def request_keys() -> frozenset[str]:
    """Every key of every ``TypedDict`` the chat, Responses and legacy completions create
    params can hold."""
    from openai.types import completion_create_params as legacy_params
    from openai.types.chat import completion_create_params
    from openai.types.responses import response_create_params

    return declared_keys(
        completion_create_params.CompletionCreateParamsBase,
        response_create_params.ResponseCreateParamsBase,
        legacy_params.CompletionCreateParamsBase,
    )
