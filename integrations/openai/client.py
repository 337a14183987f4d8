"""The wrappers: proxies that screen ``create`` / ``parse`` / ``stream`` and forward the rest.

Nothing of the caller's client or of the SDK's classes is patched: every guarded object
holds the SDK object it wraps and forwards every attribute it does not guard. The screened
resources' machinery (and legacy ``completions``) is in :mod:`._resource`; what is refused
or forwarded unscreened is decided here.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from guard_core.errors import ConfigurationError, ContentError
from guard_core.guard import Guard

from ._resource import AsyncGenerating, Generating, Proxy, StreamedGenerating, text_completions
from ._screen import Options
from ._send import Ctx, Mode

__all__ = ["PASSED_THROUGH", "AsyncGuardedOpenAI", "GuardedOpenAI"]


def _stored(self: Proxy, completion_id: str, **kwargs: Any) -> Any:
    """The SDK's ``retrieve`` of a stored chat completion (not screened), refused for an
    answer the guard blocked."""
    _refuse_tainted(self, completion_id)
    return self._gc_inner.retrieve(completion_id, **kwargs)


def _refuse_tainted(proxy: Proxy, answer_id: object) -> None:
    if proxy._gc_ctx.tainted.answer(answer_id):
        raise ContentError(
            f"{answer_id!r} is an answer the guard blocked; it is not handed out again"
        )


class _StoredMessages(Proxy):
    """``chat.completions.messages``: the messages of a stored completion; a blocked one's
    are refused."""

    def list(self, completion_id: str, **kwargs: Any) -> Any:
        _refuse_tainted(self, completion_id)
        return self._gc_inner.list(completion_id, **kwargs)


class _StoredChat(Proxy):
    """What ``chat.completions`` adds to a screened resource: stored completions, refused
    for an answer the guard blocked."""

    retrieve = _stored

    @cached_property
    def messages(self) -> Any:
        return _StoredMessages(self._gc_inner.messages, self._gc_ctx, self._gc_mode)


class _StreamingCompletions(_StoredChat, StreamedGenerating):
    _api = "chat"


class _Completions(_StoredChat, Generating):
    _api = "chat"
    _streamed = _StreamingCompletions


class _AsyncCompletions(_StoredChat, AsyncGenerating):
    _api = "chat"
    _streamed = _StreamingCompletions


def _refuse_compact(**kwargs: Any) -> Any:
    """Refused: a compacted conversation is written by the model and not screened."""
    raise ConfigurationError(
        "client.responses.compact is not screened by guard_openai; compact with the "
        "unwrapped client deliberately, then screen what you keep"
    )


def _retrieve(self: Proxy, response_id: str, **kwargs: Any) -> Any:
    """The SDK's ``retrieve`` (not screened), refused for an answer the guard blocked."""
    _refuse_tainted(self, response_id)
    return self._gc_inner.retrieve(response_id, **kwargs)


class _StoredResponses(Proxy):
    """What ``responses`` adds: ``retrieve`` (refused for a blocked answer), no ``compact``."""

    compact = staticmethod(_refuse_compact)
    retrieve = _retrieve


class _StreamingResponses(_StoredResponses, StreamedGenerating):
    _api = "responses"


class _Responses(_StoredResponses, Generating):
    _api = "responses"
    _streamed = _StreamingResponses


class _AsyncResponses(_StoredResponses, AsyncGenerating):
    _api = "responses"
    _streamed = _StreamingResponses


class _Chat(Proxy):
    @cached_property
    def completions(self) -> Any:
        cls: type[Proxy] = _AsyncCompletions if self._gc_ctx.is_async else _Completions
        if self._gc_mode == "streaming":
            cls = _StreamingCompletions
        return cls(self._gc_inner.completions, self._gc_ctx, self._gc_mode)

    @cached_property
    def with_raw_response(self) -> Any:
        return _Chat(self._gc_inner.with_raw_response, self._gc_ctx, "raw")

    @cached_property
    def with_streaming_response(self) -> Any:
        return _Chat(self._gc_inner.with_streaming_response, self._gc_ctx, "streaming")


class _Unscreened(Proxy):
    """A generating resource guard_openai cannot screen: its model calls are refused."""

    def __getattr__(self, name: str) -> Any:
        if name in ("create", "parse", "stream", "compact", "connect"):
            raise ConfigurationError(
                f"client.beta.responses.{name} is not screened by guard_openai (its answers "
                "are beta types); use client.responses, or the unwrapped client deliberately"
            )
        return super().__getattr__(name)


PASSED_THROUGH = frozenset(
    {
        # no model reads what these send, or their answers carry no text (documented in README)
        "models",
        "files",
        "uploads",
        "batches",
        "fine_tuning",
        "vector_stores",
        "containers",
        "evals",
        "webhooks",
        "moderations",
        "embeddings",
        "skills",
        "admin",
        # a documented exception: passed through unscreened
        "conversations",
    }
)
"""Resources of the client forwarded as they are. ``chat``, ``responses`` and legacy
``completions`` are screened; every other resource (images, audio, videos, realtime
sessions, beta assistants and threads, one a later SDK adds) is refused: default deny."""


def _is_resource(value: Any) -> bool:
    return type(value).__module__.startswith("openai.resources")


class _Refused(Proxy):
    """A resource guard_openai does not screen: calling anything on it is refused; its
    sub-resources are refused the same way; other attributes are read through."""

    def __init__(self, inner: Any, ctx: Ctx, mode: Mode, path: str) -> None:
        super().__init__(inner, ctx, mode)
        self._gc_path = path

    def __getattr__(self, name: str) -> Any:
        value = super().__getattr__(name)
        path = f"{self._gc_path}.{name}"
        if _is_resource(value):
            return _Refused(value, self._gc_ctx, self._gc_mode, path)
        if callable(value):

            def refused(*args: Any, **kwargs: Any) -> Any:
                raise ConfigurationError(
                    f"{path} is not screened by guard_openai: what it sends reaches a model "
                    "unjudged. Use client.unwrapped deliberately (and screen what you send "
                    "and keep with the guard yourself)"
                )

            return refused
        return value


def _forwarded(proxy: Proxy, name: str, prefix: str) -> Any:
    value = Proxy.__getattr__(proxy, name)
    if _is_resource(value) and name not in PASSED_THROUGH:
        return _Refused(value, proxy._gc_ctx, proxy._gc_mode, f"{prefix}.{name}")
    return value


class _Beta(Proxy):
    """``client.beta``: its ``chat`` is the guarded chat; its ``responses`` are refused, as
    is every other beta resource (assistants, threads, realtime, ...)."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_gc_"):
            raise AttributeError(name)
        value = getattr(self._gc_inner, name)
        if _is_resource(value):
            return _Refused(value, self._gc_ctx, self._gc_mode, f"client.beta.{name}")
        return value

    @cached_property
    def chat(self) -> Any:
        return _Chat(self._gc_inner.chat, self._gc_ctx, self._gc_mode)

    @cached_property
    def responses(self) -> Any:
        return _Unscreened(self._gc_inner.responses, self._gc_ctx, self._gc_mode)


class GuardedOpenAI(Proxy):
    """A screened ``OpenAI`` client (see :func:`guard_openai`): ``chat.completions``,
    ``responses`` and legacy ``completions`` are screened, the resources of
    :data:`PASSED_THROUGH` and plain settings are forwarded, and calls on every other
    resource are refused."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_gc_"):
            raise AttributeError(name)
        return _forwarded(self, name, "client")

    @property
    def guard(self) -> Guard:
        """The guard that screens this client's traffic."""
        return self._gc_ctx.guard

    @property
    def unwrapped(self) -> Any:
        """The SDK client underneath (calls on it are not screened)."""
        return self._gc_inner

    @cached_property
    def chat(self) -> Any:
        return _Chat(self._gc_inner.chat, self._gc_ctx, self._gc_mode)

    @cached_property
    def responses(self) -> Any:
        cls: type[Proxy] = _AsyncResponses if self._gc_ctx.is_async else _Responses
        if self._gc_mode == "streaming":
            cls = _StreamingResponses
        return cls(self._gc_inner.responses, self._gc_ctx, self._gc_mode)

    @cached_property
    def completions(self) -> Any:
        return text_completions(self._gc_inner.completions, self._gc_ctx, self._gc_mode)

    @cached_property
    def beta(self) -> Any:
        return _Beta(self._gc_inner.beta, self._gc_ctx, self._gc_mode)

    @cached_property
    def with_raw_response(self) -> Any:
        return type(self)(self._gc_inner.with_raw_response, self._gc_ctx, "raw")

    @cached_property
    def with_streaming_response(self) -> Any:
        return type(self)(self._gc_inner.with_streaming_response, self._gc_ctx, "streaming")

    def with_options(self, **kwargs: Any) -> Any:
        """The SDK's ``with_options``: the copy is guarded the same way."""
        return type(self)(self._gc_inner.with_options(**kwargs), self._gc_ctx, self._gc_mode)

    copy = with_options

    def __enter__(self) -> Any:
        self._gc_inner.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._gc_inner.__exit__(*exc)


class AsyncGuardedOpenAI(GuardedOpenAI):
    """A screened ``AsyncOpenAI`` client; its guarded calls use ``Guard.acheck_many``."""

    async def __aenter__(self) -> Any:
        await self._gc_inner.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self._gc_inner.__aexit__(*exc)


def wrap(client: Any, guard: Guard, options: Options, *, is_async: bool) -> Any:
    ctx = Ctx(guard, options, is_async, str(getattr(client, "base_url", "")))
    return (AsyncGuardedOpenAI if is_async else GuardedOpenAI)(client, ctx)
