"""The request as it is sent, and the default-deny rule for strings no conversion reads.

The SDK merges ``extra_body`` into the JSON body over the call's own arguments (extra wins),
so what is screened is that merged body (:func:`request_body`), never the arguments alone.
Every string in it, or in an answer, that no precise conversion reads is screened as text
(:func:`residual`); only the fields listed here as *not content* are left out, and only
while their value is a single token, so a sentence smuggled into an ``id`` or a ``type``
is screened too. A field an SDK release adds is therefore screened, never skipped.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from openai import NotGiven, Omit
from pydantic import BaseModel

from guard_core.adapters.boundary import AGENT_KEY, Found, strings_in
from guard_core.errors import ConfigurationError, ContentError

from ._schema_keys import request_keys

__all__ = [
    "NOT_CONTENT",
    "OPAQUE",
    "given",
    "normalise",
    "request_body",
    "residual",
    "skippable",
    "split_agent",
    "walk",
]


NOT_CONTENT = frozenset(
    {
        # ids and references
        "id",
        "call_id",
        "tool_call_id",
        "item_id",
        "response_id",
        "previous_response_id",
        "conversation",
        "approval_request_id",
        "file_id",
        "container_id",
        "system_fingerprint",
        "user",
        "safety_identifier",
        "prompt_cache_key",
        "prompt_cache_retention",
        # type tags, roles, states
        "type",
        "object",
        "role",
        "status",
        "finish_reason",
        "reason",
        # enum-like options
        "model",
        "service_tier",
        "detail",
        "format",
        "voice",
        "modalities",
        "include",
        "reasoning_effort",
        "effort",
        "summary",
        "verbosity",
        "truncation",
        "tool_choice",
        "search_context_size",
        "logit_bias",
        "stop",
    }
)
"""Keys (at any depth, the last name of a path) whose single-token value is not content."""

OPAQUE = frozenset({"encrypted_content", "audio.data", "obfuscation"})
"""Path endings whose value is encrypted, encoded audio or padding: skipped at any length
while it has no whitespace (the audio's transcript is what is screened for its words)."""

_NON_BODY = frozenset({"extra_headers", "extra_query", "extra_body", "timeout"})
# Keys the wrapper itself reads: taken out of extra_body into the call's own arguments, so
# what the SDK sends, what is screened and what is withheld are one object.
_MOVED = {
    "chat": frozenset({"messages", "stream", "model", "n"}),
    "responses": frozenset(
        {"input", "instructions", "stream", "model", "previous_response_id", "conversation"}
    ),
    "completions": frozenset({"prompt", "suffix", "stream", "model", "n"}),
}
# Request fields read once into a list (a generator is consumed here), by API.
_LISTED = {"chat": ("messages",), "responses": ("input",), "completions": ("prompt",)}
_TOKEN = re.compile(r"\S{1,256}")
_NO_SPACE = re.compile(r"\S+")
_INDEX = re.compile(r"\[[^\]]*\]")


def given(kwargs: Mapping[str, Any], key: str) -> Any:
    """``kwargs[key]`` unless absent or the SDK's omit / not-given sentinel."""
    value = kwargs.get(key)
    return None if isinstance(value, Omit | NotGiven) else value


def split_agent(kwargs: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The call's arguments without guard-core's per-call agent option, and that option."""
    extra = given(kwargs, "extra_body")
    if not isinstance(extra, Mapping) or AGENT_KEY not in extra:
        return kwargs, None
    extra = dict(extra)
    agent = extra.pop(AGENT_KEY)
    if agent is not None and not isinstance(agent, str):
        raise ConfigurationError(
            f"extra_body[{AGENT_KEY!r}] must be an agent name (str), got {type(agent).__name__}"
        )
    return {**kwargs, "extra_body": extra or None}, agent or None


def normalise(kwargs: dict[str, Any], api: str) -> dict[str, Any]:
    """Arguments whose ``extra_body`` no longer holds a key the wrapper reads, with message,
    input and prompt iterables read once into lists (a generator is consumed here)."""
    kwargs = dict(kwargs)
    extra = given(kwargs, "extra_body")
    if extra is not None and not isinstance(extra, Mapping):
        raise ContentError(f"extra_body must be a mapping, got {type(extra).__name__}")
    if extra:
        extra = dict(extra)
        for key in _MOVED[api] & extra.keys():
            kwargs[key] = extra.pop(key)  # extra_body wins, as in the SDK's merge
        kwargs["extra_body"] = extra or None
    for key in _LISTED[api]:
        value = given(kwargs, key)
        if isinstance(value, Iterable) and not isinstance(value, str | bytes | Mapping):
            kwargs[key] = list(value)
    return kwargs


def request_body(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body the SDK sends: the arguments, then ``extra_body`` over them; a pydantic
    model *class* (``response_format=`` / ``text_format=`` of ``parse``) stands for the JSON
    schema the SDK sends for it."""
    body = {
        k: _schema(v)
        for k, v in kwargs.items()
        if k not in _NON_BODY and not isinstance(v, Omit | NotGiven)
    }
    body.update(given(kwargs, "extra_body") or {})
    return body


def _schema(value: Any) -> Any:
    if isinstance(value, type) and issubclass(value, BaseModel):
        return value.model_json_schema()
    return value


def walk(value: Any, where: str) -> list[Found]:
    """Every non-blank string of ``value`` (:func:`strings_in`); the keys the SDK declares for
    a request are structure, every other key is content."""
    return strings_in(value, where=where, structural_keys=request_keys())


def _segments(path: str) -> list[str]:
    return [s for s in _INDEX.sub("", path).split(".") if s]


def skippable(found: Found) -> bool:
    """A token in a not-content field, or opaque bytes-as-text: not screened."""
    segments = _segments(found.path)
    if not segments:
        return False
    if ".".join(segments[-2:]) in OPAQUE or segments[-1] in OPAQUE:
        return _NO_SPACE.fullmatch(found.text) is not None
    return segments[-1] in NOT_CONTENT and _TOKEN.fullmatch(found.text) is not None


def residual(
    found: Iterable[Found], *, consumed: Collection[str] = (), covered: Collection[str] = ()
) -> list[Found]:
    """What is left to screen as text: not read by a conversion (``consumed`` paths), not a
    string judged or sent already (``covered`` values), not :func:`skippable`."""
    return [
        f for f in found if f.path not in consumed and f.text not in covered and not skippable(f)
    ]
