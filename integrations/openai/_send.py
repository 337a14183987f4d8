"""Sending one screened call: screen the request, send it, screen what comes back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from openai import AsyncStream, Stream
from openai.types.chat import ChatCompletion
from openai.types.responses import Response

from guard_core.errors import ConfigurationError, GuardViolation
from guard_core.guard import Guard

from ._screen import Call, Options
from ._state import Tainted
from .streams import AsyncGuardedStream, GuardedStream, gate_for

__all__ = ["Ctx", "Mode", "asend", "send"]

Mode = Literal["plain", "raw", "streaming"]


@dataclass(frozen=True, slots=True)
class Ctx:
    guard: Guard
    options: Options
    is_async: bool
    url: str
    tainted: Tainted = field(default_factory=Tainted)  # shared by with_options copies


def _refuse_streaming_response(call: Call, mode: Mode) -> None:
    if mode == "streaming":
        raise ConfigurationError(
            "with_streaming_response hands out the raw HTTP body, which guard_openai cannot "
            "screen; use the plain call (stream=True streams are screened) or with_raw_response"
        )
    if mode == "raw" and call.stream:
        raise ConfigurationError(
            "with_raw_response with stream=True cannot be screened; use create(stream=True), "
            "which returns a screened Stream"
        )


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
            "asking for raw or streamed bodies?); it is withheld rather than passed unscreened"
        )
    return raw, result


def _settled(call: Call, raw: Any, result: Any, blocked: Any) -> Any:
    if blocked is None:
        return raw if raw is not None else result
    if raw is not None:  # a raw HTTP answer cannot honestly be rewritten: always raise
        raise GuardViolation(blocked)
    return call.refusal(blocked, like=result)


def send(ctx: Ctx, mode: Mode, call: Call, method: Any) -> Any:
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


async def asend(ctx: Ctx, mode: Mode, call: Call, method: Any) -> Any:
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
