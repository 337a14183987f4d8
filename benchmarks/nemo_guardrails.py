"""guard-core vs NeMo Guardrails, side by side, for the same work on the same endpoint.

Run: ``.venv/bin/python benchmarks/nemo_guardrails.py`` (about a minute). NeMo Guardrails
runs from its own virtualenv (see ``_bench.py``); without it, our figures still print.

Both sides judge with NemoGuard 8B (``nvidia/llama-3.1-nemoguard-8b-content-safety``, the same
prompt template) through the loopback server (in a child process), ``cache=False`` for us and
NeMo's default (no cache), a new text every call. The work:

- one turn: input check of the user message + output check of the answer. Ours:
  ``acheck_many([UserMessage(u), AssistantMessage(a, context=u)])`` (one concurrent round);
  NeMo: ``check_async([user, assistant])`` (its content-safety input and output rails).
- 32 retrieval chunks. Ours: ``acheck_many`` of 32 ``RetrievedChunk`` (``max_concurrency=32``);
  NeMo has no retrieval rail for content safety, so each chunk goes through the input rail,
  all 32 under ``asyncio.gather`` (the fastest way a NeMo user has).

Each at 0 ms server latency (pure framework cost) and 50 ms (a remote guard model).
NeMo is measured on both engines: ``LLMRails`` and ``Guardrails`` (IORails).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable

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

from guard_core import Guard, Policy, Verdict  # noqa: E402
from guard_core.backends import RemoteBackend  # noqa: E402
from guard_core.content import AssistantMessage, RetrievedChunk, UserMessage  # noqa: E402

NEMOGUARD = "nvidia/llama-3.1-nemoguard-8b-content-safety"
CHUNKS = 32
_count = itertools.count()


def turn() -> list[UserMessage | AssistantMessage]:
    i = next(_count)
    question = f"what is the weather like today, turn {i}?"
    return [
        UserMessage(question),
        AssistantMessage(f"It is sunny and warm (answer {i}).", context=question),
    ]


def chunks() -> list[RetrievedChunk]:
    return [
        RetrievedChunk(f"Retrieved passage {next(_count)}: the museum opens at nine.")
        for _ in range(CHUNKS)
    ]


async def sanity(guard: Guard) -> None:
    user = UserMessage("how do I build a bomb")
    answer = AssistantMessage("here is a bomb recipe", context="hi")
    got = [v.allowed for v in await guard.acheck_many([user, answer, "hello there"])]
    if got != [False, False, True]:
        raise SystemExit(f"our guard answered {got} on the sanity items; endpoint is wrong")


async def measure(call: Callable[[], Awaitable[list[Verdict]]], n: int, warmup: int) -> list[float]:
    samples = []
    for i in range(warmup + n):
        start = time.perf_counter()
        verdicts = await call()
        took = time.perf_counter() - start
        if not all(v.allowed and not v.error for v in verdicts):
            raise SystemExit(f"unexpected verdicts: {verdicts}")
        if i >= warmup:
            samples.append(took)
    return samples


async def side_by_side(
    url: str, nemo: NemoWorker, n_turn: int, n_chunks: int, blocks: int
) -> dict[str, dict[str, list[float]]]:
    """Ours and NeMo's, in ``blocks`` alternations so that machine drift hits both alike."""
    guard = Guard(RemoteBackend.vllm(url, NEMOGUARD, max_concurrency=CHUNKS), Policy(), cache=False)
    await sanity(guard)
    out: dict[str, dict[str, list[float]]] = {"turn": {}, "chunks": {}}
    for block in range(blocks):
        warm = block == 0
        merge(
            out["turn"],
            {
                "ours": await measure(
                    lambda: guard.acheck_many(turn()), n_turn // blocks, 5 if warm else 0
                )
            },
        )
        if nemo.error is None:
            merge(out["turn"], nemo.run("turn", n_turn // blocks, 5 if warm else 0))
        merge(
            out["chunks"],
            {
                "ours": await measure(
                    lambda: guard.acheck_many(chunks()), n_chunks // blocks, 2 if warm else 0
                )
            },
        )
        if nemo.error is None:
            merge(out["chunks"], nemo.run("chunks", n_chunks // blocks, 2 if warm else 0, CHUNKS))
    await guard.aclose()
    return out


def compare(work: str, samples: dict[str, list[float]], nemo: NemoWorker) -> None:
    print(f"  {work}")
    mine = samples["ours"]
    print(pct_row("  guard-core acheck_many", mine))
    if say_nemo_error(nemo):
        return
    for key, name in (
        ("llmrails", "NeMo LLMRails.check_async"),
        ("iorails", "NeMo Guardrails.check_async (IORails)"),
    ):
        ratio = ms(samples[key], 50) / ms(mine, 50)
        print(pct_row(f"  {name}", samples[key]) + f"   {ratio:6.2f}x ours")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latencies", default="0,50", help="server latencies in ms")
    parser.add_argument("--blocks", type=int, default=5, help="alternations of ours and NeMo")
    parser.add_argument("--no-nemo", action="store_true")
    args = parser.parse_args()
    print(f"machine: {machine()}; model {NEMOGUARD}")
    for latency_ms in (float(x) for x in args.latencies.split(",")):
        n_turn, n_chunks = (100, 20) if latency_ms == 0 else (30, 10)
        with (
            ChildServer(latency=latency_ms / 1000) as server,
            NemoWorker(server.base_url, not args.no_nemo) as nemo,
        ):
            out = asyncio.run(side_by_side(server.base_url, nemo, n_turn, n_chunks, args.blocks))
            header(
                f"Server latency {latency_ms:.0f} ms (p50 / p90 ms; ratio = NeMo p50 / ours p50)"
            )
            if nemo.error is None:
                print(
                    f"  nemoguardrails {nemo.info['nemoguardrails']}; ours and NeMo's "
                    f"alternated in {args.blocks} blocks"
                )
            print(row("", "p50", "p90"))
            compare(
                f"one turn, input + output check ({len(out['turn']['ours'])} turns)",
                out["turn"],
                nemo,
            )
            compare(
                f"{CHUNKS} retrieval chunks ({len(out['chunks']['ours'])} rounds)",
                out["chunks"],
                nemo,
            )


if __name__ == "__main__":
    main()
