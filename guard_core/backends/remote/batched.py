"""The batched ``/v1/completions`` path of :class:`RemoteBackend` (client-rendered families).

Many already-templated prompts go in one request; where the server does not serve the
route (404, 405, 501, 400/422), the backend falls back to concurrent chat calls for good.
Each request asks for the answer tokens' top log-probabilities (``logprobs``), from which
``Verdict.score`` is read (:mod:`.logprobs`); a server that refuses the field is asked again
without it, and not asked for it again once that works.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, Protocol, TypeVar

from guard_core.backends.base import Outcome
from guard_core.backends.remote.transport import Redactor
from guard_core.backends.remote.wire import batch_body, batch_outcomes
from guard_core.errors import BackendHTTPError, GuardError
from guard_core.models import GuardRequest, ModelFamily

__all__ = ["BatchedCompletions", "LoopState", "aread", "chunks"]

T = TypeVar("T")
_BATCH_FALLBACK_STATUS = frozenset({400, 404, 405, 422, 501})
_REFUSED_FIELD_STATUS = frozenset({400, 422})


@dataclass
class LoopState:
    """One event loop's async client, concurrency gate and in-flight requests."""

    client: Any
    gate: asyncio.Semaphore
    inflight: dict[str, asyncio.Future[Outcome]] = field(default_factory=dict)


async def aread(streamed: Any) -> Any:
    async with streamed as response:
        return json.loads(await response.read())


def chunks(items: Sequence[GuardRequest], size: int) -> list[Sequence[GuardRequest]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class _Host(Protocol):
    """What the batched path uses of the backend it is part of."""

    model: str
    family: ModelFamily
    display_url: str
    batch_size: int
    logprobs: bool
    _batch: bool | Literal["auto"]
    _redact: Redactor
    _sync: Any

    def classify(self, requests: Sequence[GuardRequest]) -> list[Outcome]: ...
    def _with_retries(self, call: Callable[[], T]) -> T | GuardError: ...
    async def _awith_retries(
        self, state: LoopState, call: Callable[[], Awaitable[T]]
    ) -> T | GuardError: ...
    def _read(self, streamed: Any) -> Any: ...
    def _state(self) -> LoopState: ...


class BatchedCompletions:
    """Mixin: :class:`RemoteBackend`'s ``/v1/completions`` requests."""

    def _classify_batched(self: _Host, requests: Sequence[GuardRequest]) -> list[Outcome] | None:
        out: list[Outcome] = []
        for chunk in chunks(requests, self.batch_size):
            result = self._with_retries(partial(_complete, self, chunk, self.logprobs))
            if _refused_logprobs(self, result):
                result = self._with_retries(partial(_complete, self, chunk, False))
                self.logprobs = isinstance(result, GuardError)  # refused for good once it works
            outcomes = _batch_outcomes(self, result, chunk)
            if outcomes is None:
                return None if not out else out + self.classify(requests[len(out) :])
            out += outcomes
        return out

    async def _aclassify_batched(
        self: _Host, requests: Sequence[GuardRequest]
    ) -> list[Outcome] | None:
        state = self._state()

        async def one(chunk: Sequence[GuardRequest]) -> Any:
            result = await self._awith_retries(
                state, partial(_acomplete, self, state, chunk, self.logprobs)
            )
            if _refused_logprobs(self, result):
                result = await self._awith_retries(
                    state, partial(_acomplete, self, state, chunk, False)
                )
                self.logprobs = isinstance(result, GuardError)
            return result

        parts = chunks(requests, self.batch_size)
        results = await asyncio.gather(*(one(c) for c in parts))
        out: list[Outcome] = []
        for chunk, result in zip(parts, results, strict=True):
            outcomes = _batch_outcomes(self, result, chunk)
            if outcomes is None:
                return None
            out += outcomes
        return out


def _complete(host: _Host, chunk: Sequence[GuardRequest], logprobs: bool) -> Any:
    resource = host._sync.completions.with_streaming_response
    return host._read(
        resource.create(**batch_body(host.model, host.family, chunk, logprobs=logprobs))
    )


async def _acomplete(
    host: _Host, state: LoopState, chunk: Sequence[GuardRequest], logprobs: bool
) -> Any:
    resource = state.client.completions.with_streaming_response
    return await aread(
        resource.create(**batch_body(host.model, host.family, chunk, logprobs=logprobs))
    )


def _refused_logprobs(host: _Host, result: Any) -> bool:
    return (
        host.logprobs
        and isinstance(result, BackendHTTPError)
        and result.status in _REFUSED_FIELD_STATUS
    )


def _batch_outcomes(
    host: _Host, result: Any, chunk: Sequence[GuardRequest]
) -> list[Outcome] | None:
    if isinstance(result, BackendHTTPError) and result.status in _BATCH_FALLBACK_STATUS:
        host._batch = False  # this server does not serve /v1/completions: use chat
        return None
    if isinstance(result, GuardError):
        return [result] * len(chunk)
    host._batch = True
    return batch_outcomes(
        result, chunk, host.family, base_url=host.display_url, model=host.model, redact=host._redact
    )
