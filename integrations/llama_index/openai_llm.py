"""``guard_openai_llm``: LlamaIndex's OpenAI LLM with every model call through ``guard_openai``.

``llama-index-llms-openai`` keeps a sync and an async client (``openai_client=`` and
``async_openai_client=``) and builds, from its own settings, each one not given, lazily, so
``OpenAI(openai_client=guarded)`` leaves ``achat`` / ``astream_chat`` unguarded; with
``reuse_client=False`` it builds a new, unguarded client for every call. Build the LLM as
usual and hand it here: the copy returned holds both clients, wrapped, around the ones the
LLM builds itself. :func:`check_openai_llm` refuses an LLM that could bypass the guard.
Models served by the legacy completions API (``gpt-3.5-turbo-instruct``, ``complete(...,
use_chat_completions=False)``) go through ``client.completions``, which ``guard_openai``
screens like chat.

Blocks: ``on_block="raise"`` makes ``chat`` / ``complete`` / their streams raise
``GuardViolation`` (LlamaIndex has no refusal type; its retries never repeat a block);
``on_block="refuse"`` answers with the refusal text as the assistant message (the
completion's ``finish_reason`` is ``content_filter``, in ``response.raw``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, TypeVar, Unpack

from guard_core.adapters.options import require_guard
from guard_core.errors import ConfigurationError, MissingDependencyError
from guard_core.guard import Guard

if TYPE_CHECKING:
    from ..openai import GuardSettings  # noqa: TID252

__all__ = ["check_openai_llm", "guard_openai_llm"]

_L = TypeVar("_L")


def _classes() -> tuple[Any, Any]:
    try:  # imported when used: the rest of this adapter works without it
        module = importlib.import_module("llama_index.llms.openai")
    except ImportError:
        raise MissingDependencyError("llama-index-llms-openai", "llamaindex") from None
    return module.OpenAI, module.OpenAIResponses


def _bypass(llm: Any) -> str | None:
    """Why ``llm`` would send a request no guarded client sees, or None."""
    chat_llm, _ = _classes()
    if isinstance(llm, chat_llm) and not llm.reuse_client:
        return "reuse_client=False builds a new, unguarded client for every call"
    return None


def guard_openai_llm(
    llm: _L,
    guard: Guard,
    **settings: Unpack[GuardSettings],
) -> _L:
    """A copy of ``llm`` (``llama_index.llms.openai.OpenAI`` or ``OpenAIResponses``) whose
    sync and async clients are ``guard_openai`` wrappers of its own; ``llm`` stays unguarded.

    The settings are :func:`~guard_core.integrations.openai.guard_openai`'s."""
    from ..openai import GuardedOpenAI, guard_openai  # noqa: TID252

    chat_llm, responses_llm = _classes()
    guard = require_guard("guard_openai_llm", guard)
    target: Any = llm
    if not isinstance(target, chat_llm | responses_llm):
        raise ConfigurationError(
            "guard_openai_llm guards llama_index.llms.openai.OpenAI or OpenAIResponses, "
            f"got {type(llm).__name__}"
        )
    if (why := _bypass(target)) is not None:
        raise ConfigurationError(f"guard_openai_llm: {why}")
    given = [c for c in (target._client, target._aclient) if c is not None]
    if any(isinstance(c, GuardedOpenAI) for c in given):
        raise ConfigurationError(
            "this LLM already holds a guarded client; build it without one and pass it to "
            "guard_openai_llm, which guards both of its clients"
        )
    sync = target._client if target._client is not None else target._get_client()
    async_ = target._aclient if target._aclient is not None else target._get_aclient()
    guarded = target.model_copy()
    guarded._client = guard_openai(sync, guard, **settings)
    guarded._aclient = guard_openai(async_, guard, **settings)
    return guarded  # type: ignore[no-any-return]


def check_openai_llm(llm: Any) -> None:
    """Raise ConfigurationError unless both clients of ``llm`` are guarded and it cannot
    build another (``OpenAI(openai_client=guarded)`` alone leaves async calls unguarded)."""
    from ..openai import GuardedOpenAI  # noqa: TID252

    why = _bypass(llm)
    missing = [
        name
        for name, client in (("openai_client", llm._client), ("async_openai_client", llm._aclient))
        if not isinstance(client, GuardedOpenAI)
    ]
    if why is not None or missing:
        raise ConfigurationError(
            f"this LlamaIndex OpenAI LLM is not guarded: "
            f"{why or ', '.join(missing) + ' would be built unguarded or is not guarded'}. "
            "Build it with guard_openai_llm(OpenAI(...), guard)"
        )
