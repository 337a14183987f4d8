"""Fan-out: 64 retrieval chunks against an endpoint with 100 ms latency.

Run: ``.venv/bin/python benchmarks/fanout.py`` (about 40 s).

The loopback server (``guard_core.testing.server``, in a child process) sleeps 100 ms on every
request, like a remote guard model. For each family it times one ``acheck`` (one chunk),
``acheck_many`` of all 64 chunks (and the sync ``check_many``), and the naive loop
``for c in chunks: await guard.acheck(c)``, with ``cache=False`` and new texts every run
(nothing is cached or coalesced). Two chunks are unsafe; every run checks that exactly
those two are blocked.

- Nemotron 3.5 (server-rendered chat template): 64 concurrent chat calls. The backend's
  ``max_concurrency`` defaults to 16, so 64 chunks take 4 rounds; this benchmark sets
  ``max_concurrency=64`` (and shows the default too).
- Content-Safety-Reasoning-4B (client-rendered prompt): the 64 prompts go in ONE
  ``/v1/completions`` request (``batch_completions="auto"``, ``batch_size=64``).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from _bench import ChildServer, header, machine, require_main_venv, row

require_main_venv()

import openai  # noqa: E402

from guard_core import Guard, Policy, Verdict  # noqa: E402
from guard_core.backends import RemoteBackend  # noqa: E402
from guard_core.content import RetrievedChunk  # noqa: E402

LATENCY = 0.1
CHUNKS = 64
UNSAFE_AT = (7, 41)
TARGET = 1.5
_run = itertools.count()


def chunks(k: int = CHUNKS) -> list[RetrievedChunk]:
    run = next(_run)
    return [
        RetrievedChunk(
            f"Passage {run}.{i}: "
            + (
                "how to build a bomb at home"
                if i in UNSAFE_AT
                else "the museum on Elm Street opens at nine and closes at five."
            ),
            source=f"doc{i}",
        )
        for i in range(k)
    ]


def expect(verdicts: list[Verdict]) -> None:
    blocked = tuple(i for i, v in enumerate(verdicts) if not v.allowed)
    errors = [v.error for v in verdicts if v.error]
    if blocked != UNSAFE_AT[: len([i for i in UNSAFE_AT if i < len(verdicts)])] or errors:
        raise SystemExit(f"wrong verdicts: blocked {blocked}, errors {errors[:2]}")


async def timed(call: Callable[[], Awaitable[list[Verdict]]], runs: int) -> float:
    """Median wall time (s) of ``runs`` runs."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        expect(await call())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


async def raw_floor(url: str, model: str, runs: int) -> float:
    """64 raw ``AsyncOpenAI`` calls under ``asyncio.gather``: what the SDK alone costs."""
    client = openai.AsyncOpenAI(base_url=url, api_key="EMPTY", max_retries=0)
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": 8,
        "temperature": 0.0,
        "messages": [{"role": "user", "content": "the museum opens at nine."}],
    }
    await asyncio.gather(*(client.chat.completions.create(**body) for _ in range(CHUNKS)))
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        await asyncio.gather(*(client.chat.completions.create(**body) for _ in range(CHUNKS)))
        times.append(time.perf_counter() - start)
    await client.close()
    return statistics.median(times)


async def bench(
    label: str, guard: Guard, server: ChildServer, runs: int, sequential: bool = True
) -> dict[str, float]:
    await guard.acheck_many(chunks(2))  # warm up connections

    async def one() -> list[Verdict]:
        return [await guard.acheck(chunks(1)[0])]

    async def many() -> list[Verdict]:
        return await guard.acheck_many(chunks())

    async def many_sync() -> list[Verdict]:
        return await asyncio.to_thread(guard.check_many, chunks())

    async def loop() -> list[Verdict]:
        return [await guard.acheck(c) for c in chunks()]

    out = {"one": await timed(one, runs)}
    before = server.stats()["requests"]
    out["many"] = await timed(many, runs)
    after = server.stats()
    out["requests"] = (after["requests"] - before) / runs
    out["in_flight"] = after["max_in_flight"]
    out["many_sync"] = await timed(many_sync, runs)
    if sequential:
        out["loop"] = await timed(loop, 1)
    print(f"  {label}")
    print(row("  one acheck (1 chunk)", f"{out['one'] * 1000:.0f} ms"))
    print(
        row(
            f"  acheck_many({CHUNKS})",
            f"{out['many'] * 1000:.0f} ms",
            f"{out['many'] / out['one']:.2f}x one",
            width=44,
        )
        + f"   ({out['requests']:.0f} HTTP requests, {out['in_flight']:.0f} in flight)"
    )
    print(
        row(
            f"  check_many({CHUNKS}) (sync, thread pool)",
            f"{out['many_sync'] * 1000:.0f} ms",
            f"{out['many_sync'] / out['one']:.2f}x one",
        )
    )
    if sequential:
        print(
            row(
                "  naive loop: await acheck(c) for each",
                f"{out['loop'] * 1000:.0f} ms",
                f"{out['loop'] / out['one']:.2f}x one",
            )
        )
        print(row("  speed-up of acheck_many over the loop", f"{out['loop'] / out['many']:.1f}x"))
    await guard.aclose()
    return out


async def main(runs: int) -> None:
    print(
        f"machine: {machine()}; server latency {LATENCY * 1000:.0f} ms per request, "
        f"{CHUNKS} chunks, median of {runs} runs (the loop: 1 run)"
    )
    results = {}
    with ChildServer(latency=LATENCY) as server:
        url = server.base_url
        header(f"Fan-out of {CHUNKS} retrieval chunks (wall time)")
        floor = await raw_floor(url, "nvidia/nemotron-3.5-content-safety", runs)
        results["3.5"] = await bench(
            "Nemotron 3.5, 64 concurrent chat calls (RemoteBackend(max_concurrency=64))",
            Guard(
                RemoteBackend.vllm(
                    url, "nvidia/nemotron-3.5-content-safety", max_concurrency=CHUNKS
                ),
                Policy(),
                cache=False,
            ),
            server,
            runs,
        )
        print(
            row(
                f"  reference: {CHUNKS} raw AsyncOpenAI calls, gather",
                f"{floor * 1000:.0f} ms",
                f"{floor / results['3.5']['one']:.2f}x one",
            )
        )
        await bench(
            "Nemotron 3.5, default max_concurrency=16 (4 rounds of 16)",
            Guard(
                RemoteBackend.vllm(url, "nvidia/nemotron-3.5-content-safety"), Policy(), cache=False
            ),
            server,
            runs,
            sequential=False,
        )
        results["csr4b"] = await bench(
            "Content-Safety-Reasoning-4B, one batched /v1/completions request",
            Guard(
                RemoteBackend.vllm(url, "nvidia/Nemotron-Content-Safety-Reasoning-4B"),
                Policy(),
                cache=False,
            ),
            server,
            runs,
        )
    header("Result")
    for name, out in results.items():
        ratio = out["many"] / out["one"]
        print(
            f"  {name}: acheck_many({CHUNKS}) = {ratio:.2f}x one call "
            f"(target <= {TARGET}x: {'MET' if ratio <= TARGET else 'MISSED'}); "
            f"{out['loop'] / out['many']:.1f}x faster than the sequential loop"
        )
    print(
        f"  (the raw openai SDK alone needs {floor / results['3.5']['one']:.2f}x one call for "
        f"{CHUNKS} concurrent chat calls on this machine: see README)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    asyncio.run(main(parser.parse_args().runs))
