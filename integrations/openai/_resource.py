"""The proxies of the resources whose calls reach a model, and legacy ``completions``.

A screened resource's ``create`` (and ``parse`` / ``stream`` where the SDK has them) is
screened before sending and after receiving; every other attribute is forwarded to the SDK
object it wraps. ``with_raw_response`` is the same resource over the SDK's raw one;
``with_streaming_response``'s ``create`` returns a context manager (sync and async alike),
screened when entered. :mod:`.client` builds the chat and Responses resources from these.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, ClassVar

from guard_core.errors import ConfigurationError

from ._raw import AsyncStreamedCall, StreamedCall
from ._screen import Api, Call, given
from ._send import Ctx, Mode, asend, send

__all__ = [
    "AsyncCreating",
    "AsyncGenerating",
    "Creating",
    "Generating",
    "Proxy",
    "Streamed",
    "StreamedGenerating",
    "text_completions",
]

_RAW_STREAM = (
    "stream() on with_raw_response / with_streaming_response is not screened; "
    "use the plain client's stream() or create(stream=True)"
)


class Proxy:
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

    def _call(self, api: Api, kwargs: dict[str, Any], parsed: bool = False) -> Call:
        ctx = self._gc_ctx
        return Call(ctx.guard, ctx.options, api, kwargs, parsed=parsed, tainted=ctx.tainted)


class Streamed(Proxy):
    """``with_streaming_response`` of a screened resource: ``create`` returns a context
    manager, as the SDK's does (sync and async alike), screened when entered."""

    _api: ClassVar[Api]

    def _open(self, kwargs: dict[str, Any], opener: Any, parsed: bool = False) -> Any:
        call = self._call(self._api, kwargs, parsed)
        opened = AsyncStreamedCall if self._gc_ctx.is_async else StreamedCall
        return opened(call, opener, self._gc_ctx.url)

    def create(self, **kwargs: Any) -> Any:
        """The SDK's ``with_streaming_response.create``: entering it screens the request,
        the entered response's ``parse()`` screens the answer (a stream for stream=True)."""
        return self._open(kwargs, self._gc_inner.create)


class StreamedGenerating(Streamed):
    """``with_streaming_response`` of ``chat.completions`` or ``responses``."""

    def parse(self, **kwargs: Any) -> Any:
        """``with_streaming_response.parse`` (structured outputs), screened like ``create``."""
        return self._open(kwargs, self._gc_inner.parse, parsed=True)

    def stream(self, **kwargs: Any) -> Any:
        raise ConfigurationError(_RAW_STREAM)


class Creating(Proxy):
    """A resource whose ``create`` talks to a model."""

    _api: ClassVar[Api]
    _streamed: ClassVar[type[Streamed]]

    def create(self, **kwargs: Any) -> Any:
        """The SDK's ``create``, screened before sending and after receiving."""
        call = self._call(self._api, kwargs)
        return send(self._gc_ctx, self._gc_mode, call, self._gc_inner.create)

    @cached_property
    def with_raw_response(self) -> Any:
        return type(self)(self._gc_inner.with_raw_response, self._gc_ctx, "raw")

    @cached_property
    def with_streaming_response(self) -> Any:
        return self._streamed(self._gc_inner.with_streaming_response, self._gc_ctx, "streaming")


class Generating(Creating):
    """``chat.completions`` or ``responses``: ``parse`` and the ``stream`` helper too."""

    def parse(self, **kwargs: Any) -> Any:
        """The SDK's ``parse`` (structured outputs), screened like ``create``."""
        call = self._call(self._api, kwargs, parsed=True)
        return send(self._gc_ctx, self._gc_mode, call, self._gc_inner.parse)

    def stream(self, **kwargs: Any) -> Any:
        """The SDK's ``stream`` helper, run over the screened ``create(stream=True)``."""
        if self._gc_mode != "plain":
            raise ConfigurationError(_RAW_STREAM)
        if given(kwargs, "response_id") is not None:
            raise ConfigurationError(
                "resuming a stored response (response_id=) is not screened; "
                "use responses.create(stream=True) for a screened stream"
            )
        # The SDK helper only calls resource.create(stream=True): ours screens it.
        return type(self._gc_inner).stream(self, **kwargs)


class AsyncCreating(Creating):
    async def create(self, **kwargs: Any) -> Any:
        """The SDK's ``create``, screened before sending and after receiving."""
        call = self._call(self._api, kwargs)
        return await asend(self._gc_ctx, self._gc_mode, call, self._gc_inner.create)


class AsyncGenerating(AsyncCreating, Generating):
    async def parse(self, **kwargs: Any) -> Any:
        """The SDK's ``parse`` (structured outputs), screened like ``create``."""
        call = self._call(self._api, kwargs, parsed=True)
        return await asend(self._gc_ctx, self._gc_mode, call, self._gc_inner.parse)


# -- legacy completions (client.completions): create only, as in the SDK ---------------------


class _StreamedText(Streamed):
    _api = "completions"


class _Text(Creating):
    _api = "completions"
    _streamed = _StreamedText


class _AsyncText(AsyncCreating):
    _api = "completions"
    _streamed = _StreamedText


def text_completions(inner: Any, ctx: Ctx, mode: Mode) -> Proxy:
    """``client.completions``: each prompt and each choice's text screened (see
    :mod:`._legacy`)."""
    if mode == "streaming":
        return _StreamedText(inner, ctx, mode)
    return (_AsyncText if ctx.is_async else _Text)(inner, ctx, mode)
