"""Each distinct request is sent once, however many checks need it at the same time.

The cache answers what was judged before; the guard's in-flight table covers the gap while
a request is on its way: until the check sending it has stored the answer, a second check
waits for it instead of sending it again (a history re-screened by parallel model calls, a
middleware and a callback screening the same message). Sync and async, chat and batched
``/v1/completions`` requests, against a real loopback server whose request log is the count.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest

from guard_core import Guard, Policy, Verdict
from guard_core.testing import Fault, OpenAICompatServer

from ._support import CSR, MakeRemote

HOLD = 0.5  # how long the server holds the request the second check should wait for


def _until(condition: Callable[[], bool]) -> None:
    """Wait until the server has seen what the test needs (not a timing assertion)."""
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "the server never got the request"
        time.sleep(0.005)


async def _auntil(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "the server never got the request"
        await asyncio.sleep(0.005)


def _safe(verdicts: list[Verdict]) -> bool:
    return all(v.allowed and v.error is None for v in verdicts)


def test_a_check_waits_for_a_request_another_check_has_in_flight(
    server: OpenAICompatServer, remote: MakeRemote
) -> None:
    """``first`` is answered, ``second`` is held: the other check's batch is not finished,
    so ``first`` is in no cache yet, and it must not be sent again."""
    guard = Guard(remote(max_concurrency=1), Policy())
    server.inject(Fault(), Fault(delay=HOLD))
    batch: list[Verdict] = []
    worker = threading.Thread(target=lambda: batch.extend(guard.check_many(["first", "second"])))
    worker.start()
    _until(lambda: len(server.posts()) == 2)
    again = guard.check("first")
    worker.join()
    assert _safe(batch) and _safe([again])
    assert len(server.posts()) == 2


async def test_an_async_check_waits_for_a_request_in_flight(
    server: OpenAICompatServer, remote: MakeRemote
) -> None:
    guard = Guard(remote(max_concurrency=1), Policy())
    server.inject(Fault(), Fault(delay=HOLD))
    batch = asyncio.create_task(guard.acheck_many(["first", "second"]))
    await _auntil(lambda: len(server.posts()) == 2)
    again = await guard.acheck("first")
    assert _safe(await batch) and _safe([again])
    assert len(server.posts()) == 2
    await guard.aclose()


def _judged(server: OpenAICompatServer) -> int:
    return sum(len(r.body["prompt"]) for r in server.posts("/v1/completions") if r.body)


async def test_concurrent_batched_screenings_send_each_prompt_once(
    server: OpenAICompatServer, remote: MakeRemote
) -> None:
    guard = Guard(remote(CSR), Policy())
    items = ["one", "two", "three"]
    rounds = await asyncio.gather(*(guard.acheck_many(items) for _ in range(4)))
    assert all(_safe(r) for r in rounds)
    assert len(server.posts("/v1/completions")) == 1 and _judged(server) == 3
    await guard.aclose()


def test_concurrent_sync_batched_screenings_send_each_prompt_once(
    server: OpenAICompatServer, remote: MakeRemote
) -> None:
    guard = Guard(remote(CSR), Policy())
    items = ["one", "two", "three"]
    server.inject(Fault(delay=HOLD))
    first: list[Verdict] = []
    worker = threading.Thread(target=lambda: first.extend(guard.check_many(items)))
    worker.start()
    _until(lambda: len(server.posts("/v1/completions")) == 1)
    second = guard.check_many(items[::-1])
    worker.join()
    assert _safe(first) and _safe(second)
    assert _judged(server) == 3


async def test_a_cancelled_sender_gives_its_waiters_a_blocked_verdict(
    server: OpenAICompatServer, remote: MakeRemote
) -> None:
    guard = Guard(remote(), Policy())
    server.inject(Fault(delay=HOLD))
    sender = asyncio.create_task(guard.acheck("hello"))
    await _auntil(lambda: len(server.posts()) == 1)
    waiter = asyncio.create_task(guard.acheck("hello"))
    await asyncio.sleep(0.01)  # the waiter finds the request in flight
    sender.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sender
    shared = await asyncio.wait_for(waiter, 10)
    assert not shared.allowed and "cancelled" in (shared.error or "")
    assert len(server.posts()) == 1
    assert _safe([await guard.acheck("hello")])  # nothing was cached or left claimed
    assert len(server.posts()) == 2
    await guard.aclose()


@pytest.mark.timeout(60)
async def test_a_sync_check_on_the_loop_thread_never_waits_for_an_async_one(
    server: OpenAICompatServer, remote: MakeRemote
) -> None:
    """Waiting would block the very event loop the async check needs to finish: the sync
    check (a sync tool or callback inside an async agent) sends the request itself."""
    guard = Guard(remote(), Policy())
    server.inject(Fault(delay=HOLD))
    pending = asyncio.create_task(guard.acheck("hello"))
    await _auntil(lambda: len(server.posts()) == 1)
    assert _safe([guard.check("hello")])
    assert _safe([await pending])
    assert len(server.posts()) == 2
    await guard.aclose()


async def test_errors_are_shared_in_flight_but_never_kept(
    server: OpenAICompatServer, remote: MakeRemote
) -> None:
    guard = Guard(remote(max_retries=0), Policy())
    server.inject(Fault(status=500, delay=HOLD))
    both = await asyncio.gather(guard.acheck("hello"), guard.acheck("hello"))
    assert all(not v.allowed and "HTTP 500" in (v.error or "") for v in both)
    assert len(server.posts()) == 1
    assert _safe([await guard.acheck("hello")])
    assert len(server.posts()) == 2
    await guard.aclose()


def test_without_a_cache_each_sequential_check_is_sent(
    server: OpenAICompatServer, remote: MakeRemote
) -> None:
    guard = Guard(remote(), Policy(), cache=False)
    assert _safe([guard.check("hello"), guard.check("hello")])
    assert len(server.posts()) == 2  # the in-flight table is no cache
