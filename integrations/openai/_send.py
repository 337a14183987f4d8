"""Sending one screened call: screen the request, send it, screen what comes back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from guard_core.guard import Guard
from guard_core.verdict import Verdict

from ._raw import RawAnswer, areceived, received
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


def _refused(ctx: Ctx, mode: Mode, call: Call, blocked: Verdict, is_async: bool) -> Any:
    """The refusal of a request that was blocked before sending (nothing was sent)."""
    if call.stream:
        stream = AsyncGuardedStream if is_async else GuardedStream
        refusal: Any = stream(None, gate_for(call), refused=blocked, url=ctx.url)
    else:
        refusal = call.refusal(blocked)
    return RawAnswer(refusal, url=ctx.url) if mode == "raw" else refusal


def send(ctx: Ctx, mode: Mode, call: Call, method: Any) -> Any:
    blocked = call.settle_request(call.check(call.request_entries()))
    if blocked is not None:
        return _refused(ctx, mode, call, blocked, is_async=False)
    return received(call, method(**call.kwargs))


async def asend(ctx: Ctx, mode: Mode, call: Call, method: Any) -> Any:
    blocked = call.settle_request(await call.acheck(call.request_entries()))
    if blocked is not None:
        return _refused(ctx, mode, call, blocked, is_async=True)
    return await areceived(call, await method(**call.kwargs))
