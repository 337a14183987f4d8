"""``guard_chat_openai``: a ``ChatOpenAI`` whose every model call goes through ``guard_openai``.

``langchain-openai`` (``pip install langchain-openai``) keeps four clients: ``client`` and
``async_client`` (``chat.completions``) and ``root_client`` / ``root_async_client`` (the
Responses API, structured-output streams). It builds its own for each one not passed, so
``ChatOpenAI(root_client=guarded)`` alone is not guarded at all. Build the ``ChatOpenAI``
as usual and hand it here: the copy returned holds the four, wrapped, around the clients it
built itself (its own key, base URL, HTTP clients and proxies). :func:`check_chat_openai`
refuses one in which any of the four is not guarded.

Blocks: ``on_block="raise"`` makes ``invoke`` / ``stream`` raise ``GuardViolation`` (not an
OpenAI error: never retried); ``on_block="refuse"`` returns what ChatOpenAI treats as a
refusal: an ``AIMessage`` saying so, with ``response_metadata["finish_reason"] ==
"content_filter"`` and ``additional_kwargs["refusal"]`` (``with_structured_output`` raises
its ``OpenAIRefusalError``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, TypeVar, Unpack

from guard_core.adapters.options import require_guard
from guard_core.errors import ConfigurationError, MissingDependencyError
from guard_core.guard import Guard

if TYPE_CHECKING:
    from ..openai import GuardSettings  # noqa: TID252

__all__ = ["CLIENT_FIELDS", "check_chat_openai", "guard_chat_openai"]

CLIENT_FIELDS = ("client", "async_client", "root_client", "root_async_client")
"""The ``ChatOpenAI`` fields that hold an OpenAI client (or its ``chat.completions``)."""

_L = TypeVar("_L")


def _chat_openai() -> Any:
    try:  # imported when used: chains and agents without it need not install it
        return importlib.import_module("langchain_openai").ChatOpenAI
    except ImportError:
        raise MissingDependencyError("langchain-openai", "langchain") from None


def _guarded(value: Any) -> bool:
    from ..openai import GuardedOpenAI  # noqa: TID252 - imported with the openai extra

    if isinstance(value, GuardedOpenAI):
        return True
    ctx = getattr(value, "_gc_ctx", None)  # a guarded client's chat.completions
    return ctx is not None and type(value).__module__.startswith(GuardedOpenAI.__module__)


def guard_chat_openai(
    llm: _L,
    guard: Guard,
    **settings: Unpack[GuardSettings],
) -> _L:
    """A copy of ``llm`` (a ``ChatOpenAI``, or a subclass such as ``AzureChatOpenAI``) whose
    four clients are ``guard_openai`` wrappers of its own; ``llm`` itself stays unguarded.

    The settings are :func:`~guard_core.integrations.openai.guard_openai`'s (``streaming``
    is how a *stream* is screened, not ChatOpenAI's ``streaming=True``)."""
    from ..openai import guard_openai  # noqa: TID252

    chat_openai = _chat_openai()
    guard = require_guard("guard_chat_openai", guard)
    target: Any = llm
    if not isinstance(target, chat_openai):
        raise ConfigurationError(
            f"guard_chat_openai guards a langchain_openai.ChatOpenAI, got {type(llm).__name__}"
        )
    if any(_guarded(getattr(target, name, None)) for name in CLIENT_FIELDS):
        raise ConfigurationError(
            "this ChatOpenAI already holds a guarded client; build it without one and pass "
            "it to guard_chat_openai, which guards all four of its clients"
        )
    update: dict[str, Any] = {}
    for root, leaf in (("root_client", "client"), ("root_async_client", "async_client")):
        inner = getattr(target, root, None)
        if inner is None:  # no API key: ChatOpenAI refuses such calls itself
            update[leaf] = None
            continue
        wrapped = guard_openai(inner, guard, **settings)
        update[root], update[leaf] = wrapped, wrapped.chat.completions
    return target.model_copy(update=update)  # type: ignore[no-any-return]


def check_chat_openai(llm: Any) -> None:
    """Raise ConfigurationError unless every client of ``llm`` (a ``ChatOpenAI``) is guarded:
    ``ChatOpenAI(root_client=guarded)`` and the like build an unguarded client for the rest."""
    open_ = [n for n in CLIENT_FIELDS if getattr(llm, n, None) is not None]
    unguarded = [n for n in open_ if not _guarded(getattr(llm, n))]
    if unguarded or not open_:
        raise ConfigurationError(
            f"ChatOpenAI is not guarded: {', '.join(unguarded or CLIENT_FIELDS)} "
            "bypass the guard (langchain-openai builds its own client for each of client, "
            "async_client, root_client, root_async_client not passed). Build it with "
            "guard_chat_openai(ChatOpenAI(...), guard)"
        )
