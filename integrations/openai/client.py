"""The wrappers: proxies that screen ``create`` / ``parse`` / ``stream`` and forward the rest.

Nothing of the caller's client or of the SDK's classes is patched: every guarded object
holds the SDK object it wraps and forwards every attribute it does not guard.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from openai import AsyncStream, Stream
from openai.types.chat import ChatCompletion
from openai.types.responses import Response

from guard_core.errors import ConfigurationError, GuardViolation
from guard_core.guard import Guard

from ._screen import Call, Options, given
from .streams import AsyncGuardedStream, GuardedStream, gate_for

__all__ = ["AsyncGuardedOpenAI", "GuardedOpenAI"]

Mode = Literal["plain", "raw", "streaming"]


@dataclass(frozen=True, slots=True)
class _Ctx:
    guard: Guard
    options: Options
    is_async: bool
    url: str


class _Proxy:
    """Forwards every attribute it does not define to the SDK object it wraps."""

    def __init__(self, inner: Any, ctx: _Ctx, mode: Mode = "plain") -> None:
        self._gc_inner, self._gc_ctx, self._gc_mode = inner, ctx, mode

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_gc_"):  # not set yet (copy, pickle): never recurse
            raise AttributeError(name)
        return getattr(self._gc_inner, name)

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *dir(self._gc_inner)})

    def __repr__(self) -> str:
        return f"<guarded {self._gc_inner!r}>"


def _refuse_streaming_response(call: Call, mode: Mode) -> None:
    if mode == "streaming":
        raise ConfigurationError(
            "with_streaming_response hands out the raw HTTP body, which guard_openai cannot "
            "screen; use the plain call (stream=True streams are screened) or with_raw_response")
    if mode == "raw" and call.stream:
        raise ConfigurationError(
            "with_raw_response with stream=True cannot be screened; use create(stream=True), "
            "which returns a screened Stream")


def _is_raw_response(result: Any) -> bool:
    """A ``with_raw_response`` answer. Its class lives in a private SDK module (the same name
    in openai 2.x and 3.x); without it, it is told by what it carries."""
    try:
        from openai._legacy_response import LegacyAPIResponse
    except ImportError:
        return callable(getattr(result, "parse", None)) and hasattr(result, "http_response")
    return isinstance(result, LegacyAPIResponse)


def _answer(result: Any) -> tuple[Any, Any]:
    """(raw response or None, parsed answer); anything unscreenable is refused."""
    raw = None
    if _is_raw_response(result):
        raw, result = result, result.parse()
    if not isinstance(result, ChatCompletion | Response):
        raise ConfigurationError(
            f"guard_openai cannot screen a {type(result).__name__} answer (custom headers "
            "asking for raw or streamed bodies?); it is withheld rather than passed unscreened")
    return raw, result


def _settled(call: Call, raw: Any, result: Any, blocked: Any) -> Any:
    if blocked is None:
        return raw if raw is not None else result
    if raw is not None:  # a raw HTTP answer cannot honestly be rewritten: always raise
        raise GuardViolation(blocked)
    return call.refusal(blocked, like=result)


def _send(ctx: _Ctx, mode: Mode, call: Call, method: Any) -> Any:
    _refuse_streaming_response(call, mode)
    blocked = call.settle_request(call.check(call.request_entries()))
    if blocked is not None:
        if call.stream:
            return GuardedStream(None, gate_for(call), refused=blocked, url=ctx.url)
        if mode == "raw":
            raise GuardViolation(blocked)
        return call.refusal(blocked)
    result = method(**call.kwargs)
    if isinstance(result, Stream):
        return GuardedStream(result, gate_for(call))
    raw, answer = _answer(result)
    entries = call.response_entries(answer)
    return _settled(call, raw, answer, call.settle(entries, call.check(entries)))


async def _asend(ctx: _Ctx, mode: Mode, call: Call, method: Any) -> Any:
    _refuse_streaming_response(call, mode)
    blocked = call.settle_request(await call.acheck(call.request_entries()))
    if blocked is not None:
        if call.stream:
            return AsyncGuardedStream(None, gate_for(call), refused=blocked, url=ctx.url)
        if mode == "raw":
            raise GuardViolation(blocked)
        return call.refusal(blocked)
    result = await method(**call.kwargs)
    if isinstance(result, AsyncStream):
        return AsyncGuardedStream(result, gate_for(call))
    raw, answer = _answer(result)
    entries = call.response_entries(answer)
    return _settled(call, raw, answer, call.settle(entries, await call.acheck(entries)))


class _Generating(_Proxy):
    """``chat.completions`` or ``responses``: the resources that talk to a model."""

    _api: Literal["chat", "responses"]

    def _call(self, kwargs: dict[str, Any], parsed: bool = False) -> Call:
        ctx = self._gc_ctx
        return Call(ctx.guard, ctx.options, self._api, kwargs, parsed=parsed)

    def create(self, **kwargs: Any) -> Any:
        """The SDK's ``create``, screened before sending and after receiving."""
        return _send(self._gc_ctx, self._gc_mode, self._call(kwargs), self._gc_inner.create)

    def parse(self, **kwargs: Any) -> Any:
        """The SDK's ``parse`` (structured outputs), screened like ``create``."""
        call = self._call(kwargs, parsed=True)
        return _send(self._gc_ctx, self._gc_mode, call, self._gc_inner.parse)

    def stream(self, **kwargs: Any) -> Any:
        """The SDK's ``stream`` helper, run over the screened ``create(stream=True)``."""
        if self._gc_mode != "plain":
            raise ConfigurationError(
                "stream() on with_raw_response / with_streaming_response is not screened; "
                "use the plain client's stream() or create(stream=True)")
        if given(kwargs, "response_id") is not None:
            raise ConfigurationError(
                "resuming a stored response (response_id=) is not screened; "
                "use responses.create(stream=True) for a screened stream")
        # The SDK helper only calls resource.create(stream=True): ours screens it.
        return type(self._gc_inner).stream(self, **kwargs)

    @cached_property
    def with_raw_response(self) -> Any:
        return type(self)(self._gc_inner.with_raw_response, self._gc_ctx, "raw")

    @cached_property
    def with_streaming_response(self) -> Any:
        return type(self)(self._gc_inner.with_streaming_response, self._gc_ctx, "streaming")


class _AsyncGenerating(_Generating):
    async def create(self, **kwargs: Any) -> Any:
        """The SDK's ``create``, screened before sending and after receiving."""
        call = self._call(kwargs)
        return await _asend(self._gc_ctx, self._gc_mode, call, self._gc_inner.create)

    async def parse(self, **kwargs: Any) -> Any:
        """The SDK's ``parse`` (structured outputs), screened like ``create``."""
        call = self._call(kwargs, parsed=True)
        return await _asend(self._gc_ctx, self._gc_mode, call, self._gc_inner.parse)


class _Completions(_Generating):
    _api = "chat"


class _AsyncCompletions(_AsyncGenerating):
    _api = "chat"


def _refuse_compact(**kwargs: Any) -> Any:
    """Refused: a compacted conversation is written by the model and not screened."""
    raise ConfigurationError(
        "client.responses.compact is not screened by guard_openai; compact with the "
        "unwrapped client deliberately, then screen what you keep")


class _Responses(_Generating):
    _api = "responses"
    compact = staticmethod(_refuse_compact)


class _AsyncResponses(_AsyncGenerating):
    _api = "responses"
    compact = staticmethod(_refuse_compact)


class _Chat(_Proxy):
    @cached_property
    def completions(self) -> Any:
        cls = _AsyncCompletions if self._gc_ctx.is_async else _Completions
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
                "are beta types); use client.responses, or the unwrapped client deliberately")
        return super().__getattr__(name)


class _Beta(_Proxy):
    """``client.beta``: its ``chat`` is the guarded chat; its ``responses`` are refused."""

    @cached_property
    def chat(self) -> Any:
        return _Chat(self._gc_inner.chat, self._gc_ctx, self._gc_mode)

    @cached_property
    def responses(self) -> Any:
        return _Unscreened(self._gc_inner.responses, self._gc_ctx, self._gc_mode)


class GuardedOpenAI(_Proxy):
    """A screened ``OpenAI`` client (see :func:`guard_openai`); forwards everything else."""

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
        cls = _AsyncResponses if self._gc_ctx.is_async else _Responses
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
    ctx = _Ctx(guard, options, is_async, str(getattr(client, "base_url", "")))
    return (AsyncGuardedOpenAI if is_async else GuardedOpenAI)(client, ctx)
