"""Bounded concurrency, a thread-safe audit trail, and the client-side rate limiter."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from guard_core import ConfigurationError, Guard, Policy
from guard_core.audit import AuditLog
from guard_core.backends.remote.transport import RateLimiter
from guard_core.testing import OpenAICompatServer

from ._support import CSR, MakeRemote

ITEMS = [f"item {i}" + (" with a bomb" if i % 7 == 0 else "") for i in range(200)]
EXPECTED = [i % 7 != 0 for i in range(200)]


@pytest.fixture
def slow_server() -> Iterator[OpenAICompatServer]:
    with OpenAICompatServer(latency=0.02) as server:
        yield server


async def test_acheck_many_respects_max_concurrency(
    slow_server: OpenAICompatServer, remote: MakeRemote
) -> None:
    backend = remote(base_url=slow_server.base_url, max_concurrency=8)
    async with Guard(backend, Policy()) as guard:
        verdicts = await guard.acheck_many(ITEMS)
    assert [v.allowed for v in verdicts] == EXPECTED
    assert all(v.error is None for v in verdicts)
    assert len(slow_server.posts()) == 200
    assert 2 <= slow_server.max_in_flight <= 8


def test_check_many_thread_pool_respects_max_concurrency(
    slow_server: OpenAICompatServer, remote: MakeRemote
) -> None:
    backend = remote(base_url=slow_server.base_url, max_concurrency=8)
    verdicts = Guard(backend, Policy()).check_many(ITEMS[:80])
    assert [v.allowed for v in verdicts] == EXPECTED[:80]
    assert all(v.error is None for v in verdicts)
    assert 2 <= slow_server.max_in_flight <= 8


def test_bound_holds_across_threads_sharing_one_backend(
    slow_server: OpenAICompatServer, remote: MakeRemote
) -> None:
    backend = remote(base_url=slow_server.base_url, max_concurrency=4)
    guard = Guard(backend, Policy())
    chunks = [ITEMS[i : i + 20] for i in range(0, 80, 20)]
    results: dict[int, list[bool]] = {}

    def worker(n: int) -> None:
        results[n] = [v.allowed for v in guard.check_many(chunks[n])]

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(len(chunks))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [results[n] for n in range(len(chunks))] == [
        EXPECTED[i : i + 20] for i in range(0, 80, 20)
    ]
    assert slow_server.max_in_flight <= 4


def test_audit_file_has_one_intact_line_per_verdict_under_16_threads(
    tmp_path: Path, server: OpenAICompatServer, remote: MakeRemote
) -> None:
    path = tmp_path / "audit.jsonl"
    audit = AuditLog(path)
    guard = Guard(remote(max_concurrency=16), Policy(name="p"), audit=audit)
    barrier = threading.Barrier(16)
    allowed: dict[tuple[int, int], bool] = {}

    def worker(t: int) -> None:
        barrier.wait()
        for i in range(50):
            text = f"thread {t} item {i}" + (" bomb" if i % 5 == 0 else "") + " pad" * 40
            allowed[(t, i)] = guard.check(text).allowed

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    audit.close()
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) == 16 * 50 + 1
    records = [json.loads(line) for line in lines[:-1]]  # every line is whole JSON
    assert sum(not r["allowed"] for r in records) == 16 * 10
    assert sum(not ok for ok in allowed.values()) == 16 * 10
    assert len({r["content_sha256"] for r in records}) == 16 * 50
    assert all(r["policy"] == "p" and r["error"] is None for r in records)


def test_audit_log_refuses_writes_after_close(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "a.jsonl")
    log.write({"x": 1})
    log.close()
    log.close()  # twice is fine
    with pytest.raises(ValueError, match="is closed"):
        log.write({"x": 2})
    assert (tmp_path / "a.jsonl").read_text() == '{"x": 1}\n'


# -- client-side rate limit ------------------------------------------------------------------


def test_rate_limiter_reserves_spaced_slots() -> None:
    limiter = RateLimiter(1200)  # one slot every 50 ms
    start = time.monotonic()
    waits = [limiter.reserve() for _ in range(5)]
    spent = time.monotonic() - start
    assert waits[0] <= spent
    # the fifth slot is four intervals after the first, however slowly these calls ran
    assert waits[-1] >= 4 * 0.05 - spent - 1e-6
    assert waits == sorted(waits)
    with pytest.raises(ConfigurationError, match="requests_per_minute"):
        RateLimiter(0)


def test_requests_per_minute_spaces_sync_calls(
    server: OpenAICompatServer, remote: MakeRemote
) -> None:
    guard = Guard(remote(requests_per_minute=1200), Policy())
    start = time.monotonic()
    verdicts = guard.check_many([f"question {i}" for i in range(8)])
    elapsed = time.monotonic() - start
    assert all(v.allowed and v.error is None for v in verdicts)
    assert len(server.posts()) == 8
    assert elapsed >= 7 * 0.05 * 0.9  # 8 calls need at least 7 gaps of 50 ms


async def test_requests_per_minute_spaces_async_calls(
    server: OpenAICompatServer, remote: MakeRemote
) -> None:
    async with Guard(remote(requests_per_minute=1200), Policy()) as guard:
        start = time.monotonic()
        verdicts = await guard.acheck_many([f"question {i}" for i in range(6)])
        elapsed = time.monotonic() - start
    assert all(v.allowed for v in verdicts)
    assert elapsed >= 5 * 0.05 * 0.9


def test_requests_per_minute_counts_a_batch_as_one_call(
    server: OpenAICompatServer, remote: MakeRemote
) -> None:
    guard = Guard(remote(CSR, requests_per_minute=1200), Policy())
    start = time.monotonic()
    for round_ in range(3):
        guard.check_many([f"round {round_} q {i}" for i in range(10)])
    assert time.monotonic() - start >= 2 * 0.05 * 0.9
    assert len(server.posts("/v1/completions")) == 3
