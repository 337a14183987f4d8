"""Cancellation mid-request on every async surface.

Cancelling a task that waits on the guard propagates ``CancelledError`` (nothing passes,
nothing is returned as if judged); the guard stays usable afterwards (no leaked concurrency
slot, no stale in-flight entry); a caller sharing the cancelled request (coalesced) gets a
blocked verdict that says so, not a hang.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from guard_core import Guard, OnError, Policy
from guard_core.audit import MemoryAudit
from guard_core.backends import RemoteBackend
from guard_core.testing import Fault, OpenAICompatServer

from .surfaces import DRIVERS, N35, Ctx, Driver, policy


@pytest.fixture
def server() -> Iterator[OpenAICompatServer]:
    with OpenAICompatServer() as srv:
        yield srv


async def _until_received(server: OpenAICompatServer, before: int) -> None:
    async with asyncio.timeout(5):
        # the server runs in a thread: poll it
        while len(server.requests) == before:  # noqa: ASYNC110
            await asyncio.sleep(0.002)


def _main_calls(main: OpenAICompatServer) -> int:
    return sum(1 for r in main.posts() if r.body and r.body.get("model") == "main-model")


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
async def test_cancelled_mid_request(
    driver: Driver, server: OpenAICompatServer, main: OpenAICompatServer
) -> None:
    # one slot: a slot leaked by the cancelled call would hang the calls after it
    backend = RemoteBackend.vllm(server.base_url, N35, timeout=5.0, max_concurrency=1)
    audit = MemoryAudit()
    ctx = Ctx(backend, policy("block"), audit, main)
    sent = _main_calls(main)
    server.inject(Fault(delay=1.5))
    before = len(server.requests)
    task = asyncio.create_task(driver.asyn(ctx))
    await _until_received(server, before)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task  # never swallowed into a result: nothing was judged, nothing passes
    assert _main_calls(main) == sent, "a cancelled screening must not send the request"
    assert not audit.records  # no verdict was formed, so none is recorded

    async with asyncio.timeout(10):  # the guard still works, with its one slot
        results = await asyncio.gather(*(driver.asyn(ctx) for _ in range(3)))
    assert all(r.passed for r in results), results
    assert audit.records and all(r["error"] is None for r in audit.records)
    assert not any(state.inflight for state in backend._loops.values())
    await backend.aclose()


@pytest.mark.parametrize("on_error", ["block", "allow"])
async def test_a_caller_sharing_a_cancelled_request_gets_a_clear_verdict(
    server: OpenAICompatServer, on_error: OnError
) -> None:
    backend = RemoteBackend.vllm(server.base_url, N35, timeout=5.0)
    audit = MemoryAudit()
    guard = Guard(
        backend,
        Policy(on_error=on_error),
        audit=audit,
        cache=False,
    )
    server.inject(Fault(delay=1.0))
    owner = asyncio.create_task(guard.acheck("the same text"))
    await _until_received(server, 0)
    sharer = asyncio.create_task(guard.acheck("the same text"))  # coalesced onto owner's call
    await asyncio.sleep(0.05)
    owner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await owner
    async with asyncio.timeout(5):
        verdict = await sharer
    assert verdict.allowed is (on_error == "allow")
    assert verdict.error is not None and "cancelled" in verdict.error
    assert [r["error"] for r in audit.records] == [verdict.error]
    assert len(server.posts()) == 1  # the sharer did not send its own request
    await guard.aclose()
