"""Deadlines (a server that trickles bytes) and retry budgets, sync and async."""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Iterator
from typing import Any

import pytest

from guard_core import Guard, Policy, Verdict
from guard_core.backends import RemoteBackend
from guard_core.testing import Fault, OpenAICompatServer

from .surfaces import CSR, N35

# A valid (if empty-handed) JSON answer of ~200 bytes, sent one byte every 10 ms: 2 s.
_TRICKLED = b'{"object": "chat.completion", "choices": []' + b" " * 150 + b"}"
_TIMEOUT = 0.2
_DEADLINE = _TIMEOUT * 1.5 + 0.4  # a total deadline of at most 1.5 x timeout, plus slack


@pytest.fixture
def server() -> Iterator[OpenAICompatServer]:
    with OpenAICompatServer() as srv:
        yield srv


def _guard(server: OpenAICompatServer, **kwargs: Any) -> Guard:
    kwargs.setdefault("timeout", _TIMEOUT)
    kwargs.setdefault("max_retry_wait", 0.001)
    return Guard(RemoteBackend.vllm(server.base_url, N35, **kwargs), Policy(), cache=False)


async def test_a_trickling_server_cannot_hold_an_async_check(server: OpenAICompatServer) -> None:
    guard = _guard(server)
    server.inject(Fault(body=_TRICKLED, trickle=0.01))
    start = time.monotonic()
    verdict = await guard.acheck("hello")
    assert time.monotonic() - start < _DEADLINE
    assert not verdict.allowed and "within 0.2s" in (verdict.error or "")
    await guard.aclose()


def test_a_trickling_server_cannot_hold_a_sync_check(server: OpenAICompatServer) -> None:
    # httpx's timeout is per read: without a total deadline this would take 2 s
    guard = _guard(server)
    server.inject(Fault(body=_TRICKLED, trickle=0.01))
    start = time.monotonic()
    verdict = guard.check("hello")
    elapsed = time.monotonic() - start
    guard.close()
    assert not verdict.allowed  # fails closed either way; the question is when
    assert elapsed < _DEADLINE, f"a sync check was held {elapsed:.1f}s by a trickling server"


@pytest.mark.parametrize("max_retries", [0, 1, 3])
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_retries_stop_at_the_budget(
    server: OpenAICompatServer, max_retries: int, mode: str
) -> None:
    guard = _guard(server, max_retries=max_retries, timeout=5.0)
    server.inject(Fault(status=503, times=100))
    if mode == "sync":
        verdict = guard.check("hello")
    else:

        async def go() -> Verdict:
            try:
                return await guard.acheck("hello")
            finally:
                await guard.aclose()

        verdict = asyncio.run(go())
    guard.close()
    assert len(server.posts()) == max_retries + 1
    assert not verdict.allowed
    if max_retries:
        assert verdict.error is not None
        assert f"(after {max_retries + 1} attempts)" in verdict.error


@pytest.mark.parametrize(
    ("status", "completions", "chats"),
    [
        (503, 2, 0),  # retried once, then every item fails closed (no fallback on a 5xx)
        (404, 1, 3),  # no /v1/completions here: one chat call per item, each 404, no retry
    ],
)
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_batched_requests_keep_the_budget(
    server: OpenAICompatServer, status: int, completions: int, chats: int, mode: str
) -> None:
    """The client-rendered family batches prompts in one /v1/completions call."""
    guard = Guard(
        RemoteBackend.vllm(server.base_url, CSR, max_retries=1, max_retry_wait=0.001),
        Policy(),
        cache=False,
    )
    server.inject(Fault(status=status, times=100))
    items = ["one", "two", "three"]
    if mode == "sync":
        verdicts = guard.check_many(items)
    else:

        async def go() -> list[Any]:
            try:
                return await guard.acheck_many(items)
            finally:
                await guard.aclose()

        verdicts = asyncio.run(go())
    guard.close()
    assert all(
        not v.allowed and v.error is not None and f"HTTP {status}" in v.error for v in verdicts
    )
    assert len(server.posts("/v1/completions")) == completions
    assert len(server.posts("/chat/completions")) == chats


@pytest.mark.parametrize(
    "header",
    [
        {"Retry-After": "30"},
        {"retry-after-ms": "30000"},
        {"Retry-After": email.utils.formatdate(time.time() + 3600, usegmt=True)},
    ],
    ids=["seconds", "ms", "http-date"],
)
def test_a_retry_after_beyond_the_cap_is_not_waited_for(
    server: OpenAICompatServer, header: dict[str, str]
) -> None:
    guard = _guard(server, max_retries=3, max_retry_wait=1.0, timeout=5.0)
    server.inject(Fault(status=429, headers=header, times=10))
    start = time.monotonic()
    verdict = guard.check("hello")
    guard.close()
    assert time.monotonic() - start < 1.0
    assert len(server.posts()) == 1
    assert not verdict.allowed and "HTTP 429" in (verdict.error or "")


def test_a_short_retry_after_is_honoured_then_the_answer_counts(server: OpenAICompatServer) -> None:
    guard = _guard(server, max_retries=2, max_retry_wait=2.0, timeout=5.0)
    server.inject(Fault(status=429, headers={"Retry-After": "0.3"}))
    start = time.monotonic()
    verdict = guard.check("a bomb")
    guard.close()
    assert time.monotonic() - start >= 0.3
    assert verdict.error is None and not verdict.allowed  # judged unsafe, not an error
    assert len(server.posts()) == 2


def test_a_guard_recovers_when_the_endpoint_does(server: OpenAICompatServer) -> None:
    guard = _guard(server, max_retries=0, timeout=5.0)
    server.inject(Fault(status=503, times=3))
    assert all(guard.check(f"hello {i}").error for i in range(3))
    after = guard.check("hello again")
    guard.close()
    assert after.allowed and after.error is None
