"""Load, bounded and loopback only: 2,000 concurrent async checks with a concurrency cap of 32,
through the core, the LangChain runnable and the LlamaIndex postprocessor.

Each run checks that at most 32 requests were ever in flight, that memory stayed bounded,
that every verdict is right (1 in 10 texts is unsafe) and that the audit log on disk holds
exactly one record per check (none lost, none duplicated), then prints its figures (wall
time, throughput, p50/p99 latency per call, peak RSS growth). Set ``GUARD_LOAD_REPORT`` to
a path to also get them as JSON.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import statistics
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from guard_core import Guard, GuardViolation, Policy, UserMessage
from guard_core.backends import RemoteBackend
from guard_core.screening import Plan
from guard_core.testing import OpenAICompatServer

from .surfaces import N35

CALLS = 2_000
CAP = 32
DISTINCT = 1_600  # the other 400 calls repeat a text while its twin may be in flight
RSS_LIMIT_MB = 150
SERVER_LATENCY_S = 0.02
DEADLINE_S = 120  # the run stops by itself even if something hangs
_PAGE = os.sysconf("SC_PAGE_SIZE")
_FIGURES: list[dict[str, Any]] = []


def _texts() -> list[str]:
    distinct = [
        f"request {i}: how long should tea brew?" + (" bomb" if i % 10 == 0 else "")
        for i in range(DISTINCT)
    ]
    return distinct + distinct[: CALLS - DISTINCT]


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE / 2**20


class _PeakRSS:
    """Samples this process's resident memory every 10 ms from a thread."""

    def __init__(self) -> None:
        self.start = self.peak = _rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, _rss_mb())

    def __enter__(self) -> _PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture(scope="module", autouse=True)
def _print_figures(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if not _FIGURES:
        return
    lines = [
        "",
        f"load figures (loopback, {CALLS} concurrent async checks, cap {CAP}, "
        f"guard answers in {SERVER_LATENCY_S * 1000:.0f} ms):",
    ]
    lines += [
        f"  {f['surface']:<26} {f['wall_s']:5.2f} s  {f['per_s']:6.0f} checks/s  "
        f"p50 {f['p50_ms']:6.1f} ms  p99 {f['p99_ms']:6.1f} ms  "
        f"rss +{f['rss_growth_mb']:.0f} MB  in flight <= {f['max_in_flight']}  "
        + (f"audit {f['audit_records']}/{f['calls']}" if f["audit_records"] else "")
        for f in _FIGURES
    ]
    capman = request.config.pluginmanager.getplugin("capturemanager")
    with capman.global_and_fixture_disabled():
        print("\n".join(lines))
    if target := os.environ.get("GUARD_LOAD_REPORT"):
        Path(target).write_text(json.dumps(_FIGURES, indent=2))


Screen = Callable[[Guard, str], Awaitable[bool]]  # -> allowed


async def _load(surface: str, screen: Screen, tmp_path: Path, exact_hashes: bool = True) -> None:
    texts = _texts()
    log = tmp_path / "audit.jsonl"
    # 20 ms per answer: the guard model is slower than the client, so the cap is what binds
    with OpenAICompatServer(latency=SERVER_LATENCY_S) as server:
        backend = RemoteBackend.vllm(
            server.base_url, N35, max_concurrency=CAP, timeout=30.0, max_retries=0
        )
        guard = Guard(backend, Policy(name="load"), audit=log, cache=False)
        await screen(guard, "warm up the connection pool")
        log.write_text("")
        latencies: list[float] = []

        async def timed(text: str) -> bool:
            start = time.perf_counter()
            allowed = await screen(guard, text)
            latencies.append((time.perf_counter() - start) * 1000)
            return allowed

        with _PeakRSS() as rss:
            start = time.perf_counter()
            async with asyncio.timeout(DEADLINE_S):
                allowed = await asyncio.gather(*(timed(t) for t in texts))
            wall = time.perf_counter() - start
        await guard.aclose()
        # the cap is the property; the floor only shows the load ran concurrently. How close
        # to the cap a 2-core client gets depends on its CPU per request (openai 2.x on httpx
        # reached 13-14 of 32 here, 3.x more), so the floor is far below it: serialised
        # requests would show 1
        assert CAP // 8 <= server.max_in_flight <= CAP
        posts = len(server.posts())

    assert allowed == [" bomb" not in t for t in texts], "a verdict went wrong under load"
    records = [json.loads(line) for line in log.read_text().splitlines()]
    got = Counter(r["content_sha256"] for r in records)
    if exact_hashes:  # each text's record(s), by the hash the audit log keeps
        policy = guard.policy_for(None)
        expected = Counter(Plan(UserMessage(t), "input", policy, None).content_hash for t in texts)
        assert got == expected, "audit records lost or duplicated"
    else:  # the adapter's own item: the same shape (how many texts were checked how often)
        assert len(records) == CALLS
        assert Counter(got.values()) == Counter(Counter(texts).values()), (
            "audit records lost or duplicated"
        )
    assert all(r["error"] is None for r in records)
    assert posts <= CALLS  # identical requests in flight at once may share one call
    growth = rss.peak - rss.start
    assert growth < RSS_LIMIT_MB, f"memory grew {growth:.0f} MB under load"
    cuts = statistics.quantiles(latencies, n=100)
    _FIGURES.append(
        {
            "surface": surface,
            "calls": CALLS,
            "cap": CAP,
            "wall_s": round(wall, 3),
            "per_s": round(CALLS / wall, 1),
            "p50_ms": round(statistics.median(latencies), 1),
            "p99_ms": round(cuts[98], 1),
            "rss_growth_mb": round(growth, 1),
            "max_in_flight": server.max_in_flight,
            "guard_requests": posts,
            "audit_records": len(records),
        }
    )


async def test_core_acheck(tmp_path: Path) -> None:
    async def screen(guard: Guard, text: str) -> bool:
        return (await guard.acheck(text)).allowed

    await _load("core Guard.acheck", screen, tmp_path)


async def test_one_check_at_a_time() -> None:
    """The latency of a check nobody queues behind: the guard's 20 ms plus our overhead."""
    with OpenAICompatServer(latency=SERVER_LATENCY_S) as server:
        guard = Guard(RemoteBackend.vllm(server.base_url, N35), Policy(), cache=False)
        await guard.acheck("warm up")
        latencies = []
        for i in range(50):
            start = time.perf_counter()
            assert (await guard.acheck(f"question {i}")).allowed
            latencies.append((time.perf_counter() - start) * 1000)
        await guard.aclose()
    p50 = statistics.median(latencies)
    assert p50 < SERVER_LATENCY_S * 1000 + 50
    _FIGURES.append(
        {
            "surface": "core, one at a time",
            "calls": 50,
            "cap": 1,
            "wall_s": round(sum(latencies) / 1000, 3),
            "per_s": round(50_000 / sum(latencies), 1),
            "p50_ms": round(p50, 1),
            "p99_ms": round(max(latencies), 1),
            "rss_growth_mb": 0.0,
            "max_in_flight": 1,
            "guard_requests": 50,
            "audit_records": 0,
        }
    )


async def test_langchain_runnable(tmp_path: Path) -> None:
    from guard_core.integrations.langchain import GuardRunnable

    steps: dict[int, Any] = {}

    async def screen(guard: Guard, text: str) -> bool:
        step = steps.setdefault(id(guard), GuardRunnable(guard, surface="input"))
        try:
            return await step.ainvoke(text) == text
        except GuardViolation:
            return False

    await _load("LangChain GuardRunnable", screen, tmp_path)


async def test_llama_index_postprocessor(tmp_path: Path) -> None:
    from llama_index.core.schema import NodeWithScore, TextNode

    from guard_core.integrations.llama_index import GuardNodePostprocessor

    processors: dict[int, Any] = {}

    async def screen(guard: Guard, text: str) -> bool:
        pp = processors.setdefault(id(guard), GuardNodePostprocessor(guard, action="drop"))
        node = TextNode(id_=hashlib.sha1(text.encode()).hexdigest(), text=text)
        out = await pp.apostprocess_nodes([NodeWithScore(node=node)])
        return len(out) == 1

    await _load("LlamaIndex postprocessor", screen, tmp_path, exact_hashes=False)
