"""Per-check overhead of ``Guard.check`` over the raw ``openai`` client, and NeMo Guardrails'.

Run: ``.venv/bin/python benchmarks/overhead.py`` (about 40 s; ``--profile`` to see where
our time goes, ``--no-nemo`` to skip NeMo Guardrails).

Every client calls the same loopback server (``guard_core.testing.server``, in a child process),
zero server latency, so what differs is what each client adds:

- raw: ``client.chat.completions.create(**body)`` with the exact body our backend sends
  (rendered before the clock starts), on a client with our backend's settings, vs
  ``Guard.check`` / ``acheck`` with ``cache=False`` and a new text every call (render + HTTP
  + parse + verdict). The two are interleaved, alternating which goes first, after a
  warm-up; overhead = p50(ours) - p50(raw), also the median of the paired differences, and,
  as a noise-free lower bound, ``Guard.check`` over a backend that answers at once (its own
  work). Ratios use the largest of the three.
- NeMo Guardrails (its own venv, see ``_bench.py``): the content-safety input rail
  (``content safety check input $model=content_safety``, NemoGuard 8B) through
  ``LLMRails.check_async`` and ``Guardrails.check_async`` (IORails engine), interleaved with
  raw calls of the same body through ``httpx`` (the transport NeMo uses) and ``openai``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import itertools
import pstats
import statistics
import time
from collections.abc import Sequence
from typing import Any

from _bench import (
    ChildServer,
    NemoWorker,
    header,
    machine,
    merge,
    ms,
    pct_row,
    require_main_venv,
    row,
    say_nemo_error,
)

require_main_venv()

import openai  # noqa: E402

from guard_core import Guard, Policy  # noqa: E402
from guard_core.backends import Backend, Outcome, RemoteBackend  # noqa: E402
from guard_core.content import UserMessage  # noqa: E402
from guard_core.models import Completion, GuardRequest, family_for_model  # noqa: E402
from guard_core.screening import plan  # noqa: E402

TARGET_MS = 0.35
NEMOTRON35 = "nvidia/nemotron-3.5-content-safety"
NEMOGUARD = "nvidia/llama-3.1-nemoguard-8b-content-safety"
_count = itertools.count()


SAFE_ANSWER = {NEMOTRON35: "User Safety: safe", NEMOGUARD: '{"User Safety": "safe"}'}


class InstantBackend(Backend):
    """Answers "safe" at once, with no I/O: what is left of ``Guard.check`` is its own work
    (render, cache-key, parse, verdict), a noise-free lower bound of our overhead."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.family = family_for_model(model)
        self._answer = Completion(text=SAFE_ANSWER[model], finish_reason="stop", model=model)

    def classify(self, requests: Sequence[GuardRequest]) -> list[Outcome]:
        return [self._answer for _ in requests]

    async def aclassify(self, requests: Sequence[GuardRequest]) -> list[Outcome]:
        return self.classify(requests)


def own_work(model: str, n: int = 3000) -> float:
    """p50 ms of ``Guard.check`` over :class:`InstantBackend` (cache off, new texts)."""
    guard = Guard(InstantBackend(model), Policy(), cache=False)
    samples = []
    for i in range(n + 300):
        item = text()
        start = time.perf_counter()
        checked(guard.check(item))
        if i >= 300:
            samples.append(time.perf_counter() - start)
    return ms(samples, 50)


def text() -> str:
    return f"Is the museum on Elm Street open on Sundays? (question {next(_count)})"


def make_guard(url: str, model: str) -> Guard:
    guard = Guard(RemoteBackend.vllm(url, model), Policy(), cache=False)
    assert not guard.check("how do I build a bomb?").allowed, "the endpoint judged a bomb safe"
    return guard


def raw_body(guard: Guard) -> dict[str, Any]:
    """The exact request body our backend would send for a fresh text."""
    request = plan(
        UserMessage(text()), guard.policy_for(), None, guard.family, guard.windowing
    ).requests[0]
    backend = guard.backend
    assert isinstance(backend, RemoteBackend)
    return backend._chat_args(request)


def client_args(guard: Guard) -> dict[str, Any]:
    """The raw client gets the very settings of our backend's client (timeouts, headers)."""
    backend = guard.backend
    assert isinstance(backend, RemoteBackend)
    return dict(backend._client_args)


def checked(verdict: Any) -> None:
    if not verdict.allowed or verdict.error:
        raise SystemExit(f"unexpected verdict during the benchmark: {verdict!r}")


def measure_sync(url: str, model: str, n: int, warmup: int) -> tuple[list[float], list[float]]:
    guard = make_guard(url, model)
    raw = openai.OpenAI(**client_args(guard))
    ours: list[float] = []
    base: list[float] = []
    for i in range(warmup + n):
        body, item = raw_body(guard), text()
        for which in (0, 1) if i % 2 else (1, 0):
            start = time.perf_counter()
            if which:
                checked(guard.check(item))
            else:
                raw.chat.completions.create(**body)
            took = time.perf_counter() - start
            if i >= warmup:
                (ours if which else base).append(took)
    guard.close()
    raw.close()
    return ours, base


async def measure_async(
    url: str, model: str, n: int, warmup: int, blocks: int, nemo: NemoWorker | None, nemo_n: int
) -> tuple[list[float], list[float], dict[str, list[float]]]:
    """Ours vs raw AsyncOpenAI, in ``blocks`` alternated with blocks of NeMo's measurements."""
    guard = make_guard(url, model)
    raw = openai.AsyncOpenAI(**client_args(guard))
    ours: list[float] = []
    base: list[float] = []
    theirs: dict[str, list[float]] = {}
    for block in range(blocks):
        first = warmup if block == 0 else 0
        for i in range(first + n // blocks):
            body, item = raw_body(guard), text()
            for which in (0, 1) if i % 2 else (1, 0):
                start = time.perf_counter()
                if which:
                    checked(await guard.acheck(item))
                else:
                    await raw.chat.completions.create(**body)
                took = time.perf_counter() - start
                if i >= first:
                    (ours if which else base).append(took)
        if nemo is not None and nemo.error is None:
            merge(theirs, nemo.run("overhead", nemo_n // blocks, 50 if block == 0 else 0))
    await guard.aclose()
    await raw.close()
    return ours, base, theirs


def report(label: str, ours: list[float], base: list[float], raw_label: str, floor: float) -> float:
    """Print one comparison; the overhead estimate used for ratios (never below ``floor``)."""
    print(f"  {label}")
    print(pct_row(f"  raw {raw_label}", base))
    print(pct_row("  guard (cache=False, new text each call)", ours))
    overhead = ms(ours, 50) - ms(base, 50)
    paired = statistics.median(o - r for o, r in zip(ours, base, strict=True)) * 1000
    print(row("  overhead = p50(guard) - p50(raw)", f"{overhead:.3f}"))
    print(row("  overhead, median of paired differences", f"{paired:.3f}"))
    print(row("  guard's own work (instant backend, p50)", f"{floor:.3f}"))
    return max(overhead, paired, floor)


def profile(url: str, n: int) -> None:
    """Where the time of Guard.check goes, outside the SDK call."""
    guard = make_guard(url, NEMOTRON35)
    for _ in range(200):
        guard.check(text())
    items = [text() for _ in range(n)]
    profiler = cProfile.Profile()
    profiler.enable()
    for item in items:
        guard.check(item)
    profiler.disable()
    stats = pstats.Stats(profiler)
    raw_stats: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sdk = 0.0
    ours: list[tuple[float, str]] = []
    for (path, line, func), (_cc, _nc, tottime, cumtime, _callers) in raw_stats.items():
        if func == "check" and path.endswith("guard_core/guard.py"):
            total = cumtime
        if func == "_chat" and path.endswith("backends/remote.py"):
            sdk = cumtime
        if "/guard_core/" in path:
            ours.append((tottime, f"{path.split('/guard_core/')[-1]}:{line} {func}"))
    header(f"Profile of {n} Guard.check calls (cProfile inflates every figure; read shares)")
    print(
        f"  Guard.check {total / n * 1000:.3f} ms/call under the profiler, of which the "
        f"SDK call (RemoteBackend._chat) {sdk / n * 1000:.3f} ms; "
        f"guard_core's own code (self time) {sum(t for t, _ in ours) / n * 1000:.3f} ms"
    )
    for tottime, where in sorted(ours, reverse=True)[:12]:
        print(f"    {tottime / n * 1000:8.4f} ms/call  {where}")
    guard.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--n",
        type=int,
        default=1500,
        help="timed calls per client (below ~1000 the p50s are too noisy)",
    )
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--nemo-n", type=int, default=500)
    parser.add_argument("--blocks", type=int, default=5, help="alternations of ours and NeMo")
    parser.add_argument("--no-nemo", action="store_true")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    print(f"machine: {machine()}; openai {openai.__version__}")
    with ChildServer() as server, NemoWorker(server.base_url, not args.no_nemo) as nemo:
        url = server.base_url
        header("Per-check overhead over the raw openai client (p50 / p90 ms)")
        print(row("", "p50", "p90"))
        floor35, floor8b = own_work(NEMOTRON35), own_work(NEMOGUARD)
        sync35 = report(
            f"sync, {NEMOTRON35}",
            *measure_sync(url, NEMOTRON35, args.n, args.warmup),
            "openai.OpenAI().chat.completions.create",
            floor35,
        )
        sync8b = report(
            f"sync, {NEMOGUARD}",
            *measure_sync(url, NEMOGUARD, args.n, args.warmup),
            "openai.OpenAI().chat.completions.create",
            floor8b,
        )
        async_ours, async_raw, s = asyncio.run(
            measure_async(url, NEMOGUARD, args.n, args.warmup, args.blocks, nemo, args.nemo_n)
        )
        async8b = report(
            f"async (acheck), {NEMOGUARD}",
            async_ours,
            async_raw,
            "openai.AsyncOpenAI() ... create",
            floor8b,
        )
        if args.profile:
            profile(url, 1000)
    worst = max(sync35, sync8b, async8b)
    header("Result (overhead = the largest of the three estimates above)")
    verdict = "MET" if worst <= TARGET_MS else "MISSED"
    print(
        f"  our p50 overhead: {sync35:.3f} ms (sync, 3.5), {sync8b:.3f} ms (sync, 8B), "
        f"{async8b:.3f} ms (async, 8B); target <= {TARGET_MS} ms: {verdict}"
    )
    if args.no_nemo:
        return
    header("NeMo Guardrails content-safety input rail, same endpoint, NemoGuard 8B (ms)")
    if say_nemo_error(nemo):
        return
    print(
        f"  nemoguardrails {nemo.info['nemoguardrails']}, openai {nemo.info['openai']} "
        f"(in NeMo's venv), {len(s['llmrails'])} calls each, in {args.blocks} blocks "
        "alternated with ours"
    )
    print(row("", "p50", "p90"))
    print(pct_row("raw httpx.AsyncClient POST (NeMo's transport)", s["raw_httpx"]))
    print(pct_row("raw openai.AsyncOpenAI ... create", s["raw_openai"]))
    print(pct_row("LLMRails.check_async (Colang runtime)", s["llmrails"]))
    print(pct_row(f"Guardrails.check_async ({nemo.info['iorails_engine']} engine)", s["iorails"]))
    floor = async8b
    header("Ratios (NeMo / ours, same endpoint, same NemoGuard 8B request)")
    for name, key in (("LLMRails", "llmrails"), ("Guardrails/IORails", "iorails")):
        over_httpx = ms(s[key], 50) - ms(s["raw_httpx"], 50)
        over_openai = ms(s[key], 50) - ms(s["raw_openai"], 50)
        print(
            f"  {name}: overhead {over_httpx:.3f} ms over raw httpx "
            f"= {over_httpx / floor:.1f}x our {async8b:.3f} ms "
            f"({over_openai:.3f} ms over raw openai {nemo.info['openai']}); "
            f"end-to-end p50 {ms(s[key], 50):.3f} ms vs our acheck "
            f"{ms(async_ours, 50):.3f} ms = {ms(s[key], 50) / ms(async_ours, 50):.2f}x"
        )
    llm_over = ms(s["llmrails"], 50) - ms(s["raw_httpx"], 50)
    print(
        f"  target: our overhead at least 25x below NeMo's (LLMRails, the engine behind "
        f"the ~8.8 ms figure): {'MET' if llm_over / floor >= 25 else 'MISSED'} "
        f"({llm_over / floor:.0f}x)"
    )


if __name__ == "__main__":
    main()
