"""The wrappers: proxies that screen ``create`` / ``parse`` / ``stream`` and forward the rest.

Nothing of the caller's client or of the SDK's classes is patched: every guarded object
holds the SDK object it wraps and forwards every attribute it does not guard.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, Literal

from guard_core.errors import ConfigurationError, ContentError
from guard_core.guard import Guard

from ._raw import AsyncStreamedCall, StreamedCall
from ._screen import Call, Options, given
from ._send import Ctx, Mode, asend, send

__all__ = ["PASSED_THROUGH", "AsyncGuardedOpenAI", "GuardedOpenAI"]


class _Proxy:
    """Forwards every attribute it does not define to the SDK object it wraps."""

    def __init__(self, inner: Any, ctx: Ctx, mode: Mode = "plain") -> None:
        self._gc_inner, self._gc_ctx, self._gc_mode = inner, ctx, mode

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_gc_"):  # not set yet (copy, pickle): never recurse
            raise AttributeError(name)
        return getattr(self._gc_inner, name)

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *dir(self._gc_inner)})

    def __repr__(self) -> str:
        return f"<guarded {self._gc_inner!r}>"


class _Generating(_Proxy):
    """``chat.completions`` or ``responses``: the resources that talk to a model."""

    _api: Literal["chat", "responses"]

    def _call(self, kwargs: dict[str, Any], parsed: bool = False) -> Call:
        ctx = self._gc_ctx
        return Call(ctx.guard, ctx.options, self._api, kwargs, parsed=parsed, tainted=ctx.tainted)

    def create(self, **kwargs: Any) -> Any:
        """The SDK's ``create``, screened before sending and after receiving."""
        return send(self._gc_ctx, self._gc_mode, self._call(kwargs), self._gc_inner.create)

    def parse(self, **kwargs: Any) -> Any:
        """The SDK's ``parse`` (structured outputs), screened like ``create``."""
        call = self._call(kwargs, parsed=True)
        return send(self._gc_ctx, self._gc_mode, call, self._gc_inner.parse)

    def stream(self, **kwargs: Any) -> Any:
        """The SDK's ``stream`` helper, run over the screened ``create(stream=True)``."""
        if self._gc_mode != "plain":
            raise ConfigurationError(
                "stream() on with_raw_response / with_streaming_response is not screened; "
                "use the plain client's stream() or create(stream=True)"
            )
        if given(kwargs, "response_id") is not None:
            raise ConfigurationError(
                "resuming a stored response (response_id=) is not screened; "
                "use responses.create(stream=True) for a screened stream"
            )
        # The SDK helper only calls resource.create(stream=True): ours screens it.
        return type(self._gc_inner).stream(self, **kwargs)

    @cached_property
    def with_raw_response(self) -> Any:
        return type(self)(self._gc_inner.with_raw_response, self._gc_ctx, "raw")

    @cached_property
    def with_streaming_response(self) -> Any:
        cls = _StreamingCompletions if self._api == "chat" else _StreamingResponses
        return cls(self._gc_inner.with_streaming_response, self._gc_ctx, "streaming")


class _Streaming(_Proxy):
    """``with_streaming_response`` of a generating resource: ``create`` / ``parse`` return a
    context manager, as the SDK's do (sync and async alike), screened when entered."""

    _api: Literal["chat", "responses"]

    def _open(self, kwargs: dict[str, Any], opener: Any, parsed: bool = False) -> Any:
        ctx = self._gc_ctx
        call = Call(ctx.guard, ctx.options, self._api, kwargs, parsed=parsed, tainted=ctx.tainted)
        return (AsyncStreamedCall if ctx.is_async else StreamedCall)(call, opener, ctx.url)

    def create(self, **kwargs: Any) -> Any:
        """The SDK's ``with_streaming_response.create``: entering it screens the request,
        the entered response's ``parse()`` screens the answer (a stream for stream=True)."""
        return self._open(kwargs, self._gc_inner.create)

    def parse(self, **kwargs: Any) -> Any:
        """``with_streaming_response.parse`` (structured outputs), screened like ``create``."""
        return self._open(kwargs, self._gc_inner.parse, parsed=True)

    def stream(self, **kwargs: Any) -> Any:
        raise ConfigurationError(
            "stream() on with_raw_response / with_streaming_response is not screened; "
            "use the plain client's stream() or create(stream=True)"
        )


class _AsyncGenerating(_Generating):
    async def create(self, **kwargs: Any) -> Any:
        """The SDK's ``create``, screened before sending and after receiving."""
        call = self._call(kwargs)
        return await asend(self._gc_ctx, self._gc_mode, call, self._gc_inner.create)

    async def parse(self, **kwargs: Any) -> Any:
        """The SDK's ``parse`` (structured outputs), screened like ``create``."""
        call = self._call(kwargs, parsed=True)
        return await asend(self._gc_ctx, self._gc_mode, call, self._gc_inner.parse)


def _stored(self: _Proxy, completion_id: str, **kwargs: Any) -> Any:
    """The SDK's ``retrieve`` of a stored chat completion (not screened), refused for an
    answer the guard blocked."""
    _refuse_tainted(self, completion_id)
    return self._gc_inner.retrieve(completion_id, **kwargs)


def _refuse_tainted(proxy: _Proxy, answer_id: object) -> None:
    if proxy._gc_ctx.tainted.answer(answer_id):
        raise ContentError(
            f"{answer_id!r} is an answer the guard blocked; it is not handed out again"
        )


class _StoredMessages(_Proxy):
    """``chat.completions.messages``: the messages of a stored completion; a blocked one's
    are refused."""

    def list(self, completion_id: str, **kwargs: Any) -> Any:
        _refuse_tainted(self, completion_id)
        return self._gc_inner.list(completion_id, **kwargs)


class _Completions(_Generating):
    _api = "chat"
    retrieve = _stored

    @cached_property
    def messages(self) -> Any:
        return _StoredMessages(self._gc_inner.messages, self._gc_ctx, self._gc_mode)


class _AsyncCompletions(_AsyncGenerating):
    _api = "chat"
    retrieve = _stored

    @cached_property
    def messages(self) -> Any:
        return _StoredMessages(self._gc_inner.messages, self._gc_ctx, self._gc_mode)


class _StreamingCompletions(_Streaming):
    _api = "chat"
    retrieve = _stored

    @cached_property
    def messages(self) -> Any:
        return _StoredMessages(self._gc_inner.messages, self._gc_ctx, self._gc_mode)


def _refuse_compact(**kwargs: Any) -> Any:
    """Refused: a compacted conversation is written by the model and not screened."""
    raise ConfigurationError(
        "client.responses.compact is not screened by guard_openai; compact with the "
        "unwrapped client deliberately, then screen what you keep"
    )


def _retrieve(self: _Proxy, response_id: str, **kwargs: Any) -> Any:
    """The SDK's ``retrieve`` (not screened), refused for an answer the guard blocked."""
    _refuse_tainted(self, response_id)
    return self._gc_inner.retrieve(response_id, **kwargs)


class _Responses(_Generating):
    _api = "responses"
    compact = staticmethod(_refuse_compact)
    retrieve = _retrieve


class _AsyncResponses(_AsyncGenerating):
    _api = "responses"
    compact = staticmethod(_refuse_compact)
    retrieve = _retrieve


class _StreamingResponses(_Streaming):
    _api = "responses"
    compact = staticmethod(_refuse_compact)
    retrieve = _retrieve


class _Chat(_Proxy):
    @cached_property
    def completions(self) -> Any:
        cls: type[_Proxy] = _AsyncCompletions if self._gc_ctx.is_async else _Completions
        if self._gc_mode == "streaming":
            cls = _StreamingCompletions
        return cls(self._gc_inner.completions, self._gc_ctx, self._gc_mode)

    @cached_property
    def with_raw_response(self) -> Any:
        return _Chat(self._gc_inner.with_raw_response, self._gc_ctx, "raw")

    @cached_property
    def with_streaming_response(self) -> Any:
        return _Chat(self._gc_inner.with_streaming_response, self._gc_ctx, "streaming")


class _Unscreened(_Proxy):
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
        # documented exceptions: passed through unscreened
        "conversations",
        "completions",
        "realtime",
    }
)
"""Resources of the client forwarded as they are; every other resource (images, audio,
videos, beta assistants and threads, one a later SDK adds) is refused: default deny."""


def _is_resource(value: Any) -> bool:
    return type(value).__module__.startswith("openai.resources")


class _Refused(_Proxy):
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


def _forwarded(proxy: _Proxy, name: str, prefix: str) -> Any:
    value = _Proxy.__getattr__(proxy, name)
    if _is_resource(value) and name not in PASSED_THROUGH:
        return _Refused(value, proxy._gc_ctx, proxy._gc_mode, f"{prefix}.{name}")
    return value


class _Beta(_Proxy):
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


class GuardedOpenAI(_Proxy):
    """A screened ``OpenAI`` client (see :func:`guard_openai`): ``chat.completions`` and
    ``responses`` are screened, the resources of :data:`PASSED_THROUGH` and plain settings
    are forwarded, and calls on every other resource are refused."""

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
        cls: type[_Proxy] = _AsyncResponses if self._gc_ctx.is_async else _Responses
        if self._gc_mode == "streaming":
            cls = _StreamingResponses
        return cls(self._gc_inner.responses, self._gc_ctx, self._gc_mode)

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
