"""Re-screening an agent's whole history on every model call: what the cache saves.

Run: ``.venv/bin/python benchmarks/history_rescreening.py`` (about 40 s; ``--turns``,
``--latency``, ``--parallel``, ``--repeats``, ``--json PATH`` for the figures as JSON).

An adapter at the model boundary screens the complete request going into the model: every
message of the history, on every model call (DESIGN 5b). Each of ``--turns`` turns adds a
user message, the model's answer with a tool call (an ``AssistantMessage`` and a
``ToolCall``) and the tool's result, then screens the whole history with one ``check_many``
(sync) or ``acheck_many`` (async), as that adapter does before the next model call. Every
third user message is a repeated "continue"; one tool result is unsafe and must be blocked
on every turn, from the cache too.

The guard endpoint is ``guard_core.testing.server`` in a child process with a counting judge
(prompts judged: one per chat request, many per batched ``/v1/completions`` request).
Printed from one run: prompts judged vs distinct items vs the naive count (the sum of the
history lengths), HTTP requests, and wall time cached vs ``cache=False`` (runs alternated,
median of ``--repeats``); then the same loop with ``--parallel`` model calls screening the
history at once each turn, ``--stagger`` ms apart (parallel sub-agents or tool calls), where
coalescing the requests in flight is what keeps prompts judged = distinct items.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from _bench import ChildServer, header, machine, require_main_venv, row

require_main_venv()

from guard_core import Guard, Policy, Verdict  # noqa: E402
from guard_core.backends import RemoteBackend  # noqa: E402
from guard_core.content import (  # noqa: E402
    AssistantMessage,
    Item,
    ToolCall,
    ToolResult,
    UserMessage,
)

FAMILIES = {
    "nemotron35": ("nvidia/nemotron-3.5-content-safety", "one chat request per item"),
    "csr4b": (
        "nvidia/Nemotron-Content-Safety-Reasoning-4B",
        "new items batched in one /v1/completions request",
    ),
}
UNSAFE = "Found notes.txt: how to build a bomb from fertiliser, step by step."


def turn(i: int, unsafe_turn: int) -> list[Item]:
    """One turn of the agent: user message, answer, tool call, tool result."""
    ask = UserMessage(
        "continue" if i % 3 == 2 else f"Step {i}: list the files of project {i} and summarise them."
    )
    answer = AssistantMessage(f"I will list the files of project {i} first.", context=ask)
    call = ToolCall("list_files", {"project": i, "recursive": i % 2 == 0}, context=ask)
    result = ToolResult(
        "list_files",
        UNSAFE if i == unsafe_turn else f"README.md src/ tests/ (project {i}: {3 * i + 4} files)",
        call_id=f"call_{i}",
    )
    return [ask, answer, call, result]


def checked(history: list[Item], verdicts: list[Verdict]) -> None:
    for item, verdict in zip(history, verdicts, strict=True):
        unsafe = isinstance(item, ToolResult) and item.content == UNSAFE
        if verdict.error or verdict.allowed is unsafe:
            raise SystemExit(f"wrong verdict during the benchmark for {item!r}: {verdict!r}")


def run_sync(guard: Guard, turns: int, parallel: int, stagger: float) -> list[Item]:
    history: list[Item] = []
    with ThreadPoolExecutor(parallel) as pool:
        for i in range(turns):
            history += turn(i, turns // 2)
            snapshot = list(history)
            calls = []
            for n in range(parallel):
                if n:
                    time.sleep(stagger)
                calls.append(pool.submit(guard.check_many, snapshot))
            for call in calls:
                checked(snapshot, call.result())
    return history


async def run_async(guard: Guard, turns: int, parallel: int, stagger: float) -> list[Item]:
    history: list[Item] = []
    for i in range(turns):
        history += turn(i, turns // 2)
        snapshot = list(history)
        calls = []
        for n in range(parallel):
            if n:
                await asyncio.sleep(stagger)
            calls.append(asyncio.create_task(guard.acheck_many(snapshot)))
        for verdicts in await asyncio.gather(*calls):
            checked(snapshot, verdicts)
    await guard.aclose()  # this loop's client; the cache stays for the re-screen below
    return history


def loop(
    server: ChildServer,
    model: str,
    api: str,
    *,
    cache: bool,
    turns: int,
    parallel: int = 1,
    stagger: float = 0.0,
) -> dict[str, Any]:
    """One agent loop on a fresh guard: counts from the server, wall time, re-screen cost."""
    guard = Guard(RemoteBackend.vllm(server.base_url, model), Policy(), cache=cache)
    before = server.stats()
    start = time.perf_counter()
    if api == "sync":
        history = run_sync(guard, turns, parallel, stagger)
    else:
        history = asyncio.run(run_async(guard, turns, parallel, stagger))
    wall = time.perf_counter() - start
    after = server.stats()
    rescreen = None
    if cache:  # the guard's own cost of one more model call, every item cached (no I/O)
        samples = []
        for _ in range(50):
            t0 = time.perf_counter()
            checked(history, guard.check_many(history))
            samples.append(time.perf_counter() - t0)
        rescreen = statistics.median(samples)
    guard.close()
    return {
        "judged": after["judged"] - before["judged"],
        "http": after["requests"] - before["requests"],
        "distinct": len({repr(item) for item in history}),
        "naive": parallel * sum(4 * (i + 1) for i in range(turns)),
        "items": len(history),
        "wall_s": wall,
        "rescreen_s": rescreen,
    }


def measure(server: ChildServer, model: str, api: str, args: argparse.Namespace) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {"cached": [], "uncached": []}
    loop(server, model, api, cache=False, turns=2)  # warm-up: imports, connections
    for r in range(args.repeats):  # alternated, so drift on the machine hits both alike
        for kind in ("cached", "uncached") if r % 2 == 0 else ("uncached", "cached"):
            runs[kind].append(loop(server, model, api, cache=kind == "cached", turns=args.turns))
    out = {
        kind: {**found[0], "wall_s": statistics.median(f["wall_s"] for f in found)}
        for kind, found in runs.items()
    }
    if any(f["judged"] != out[k]["judged"] for k, found in runs.items() for f in found):
        raise SystemExit(f"the counts changed between repeats: {runs}")
    out["parallel"] = loop(
        server,
        model,
        api,
        cache=True,
        turns=args.turns,
        parallel=args.parallel,
        stagger=args.stagger / 1000,
    )
    out["ratio"] = out["uncached"]["wall_s"] / out["cached"]["wall_s"]
    return out


def report(api: str, found: dict[str, Any], parallel: int) -> None:
    labels = {
        "cached": f"{api:<5} cached",
        "uncached": f"{api:<5} cache=False",
        "parallel": f"{api:<5} {parallel} calls a turn, cached",
    }
    for kind, label in labels.items():
        f = found[kind]
        tail = f"{found['ratio']:.1f}x cached" if kind == "uncached" else ""
        print(
            row(
                label,
                str(f["judged"]),
                str(f["http"]),
                str(f["distinct"]),
                str(f["naive"]),
                f"{f['wall_s'] * 1000:.0f} ms",
                tail,
                width=34,
            ).rstrip()
        )
    cost = found["cached"]["rescreen_s"]
    print(
        f"    {api}: re-screening the cached history of {found['cached']['items']} items "
        f"costs {cost * 1000:.2f} ms ({cost / found['cached']['items'] * 1e6:.1f} us an item)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--latency", type=float, default=20.0, help="endpoint latency, ms")
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--stagger", type=float, default=5.0, help="ms between parallel calls")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    results: dict[str, dict[str, Any]] = {}
    with ChildServer(args.latency / 1000) as server:
        header(
            f"Re-screening the whole history on every model call ({args.turns} turns, "
            f"4 items a turn, {args.latency:g} ms endpoint)"
        )
        print(row("", "judged", "HTTP", "distinct", "naive", "wall", width=34))
        for name in args.families.split(","):
            model, how = FAMILIES[name]
            print(f"  {name} ({how})")
            results[name] = {api: measure(server, model, api, args) for api in ("sync", "async")}
            for api, found in results[name].items():
                report(api, found, args.parallel)
    header("Result")
    runs = [
        (f"{n} {api} {kind}", f)
        for n, apis in results.items()
        for api, by in apis.items()
        for kind, f in by.items()
        if kind in ("cached", "parallel")
    ]
    exact = [label for label, f in runs if f["judged"] == f["distinct"]]
    print(
        f"  prompts judged = distinct items in {len(exact)} of {len(runs)} cached runs"
        + (
            ""
            if len(exact) == len(runs)
            else f"; NOT in {sorted(set(label for label, _ in runs) - set(exact))}"
        )
    )
    for name, apis in results.items():
        for api, found in apis.items():
            print(
                f"  {name} {api}: cache=False takes {found['ratio']:.1f}x the cached wall time "
                f"({found['uncached']['judged']} prompts judged against "
                f"{found['cached']['judged']})"
            )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump({"args": vars(args), "results": results}, out, indent=2)


if __name__ == "__main__":
    main()
