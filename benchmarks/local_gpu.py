"""GPU benchmark of the local backend: random weights, the real Gemma-3-4B architecture.

    python benchmarks/local_gpu.py [--items 64] [--naive-items 16] [--json results.json]
    python benchmarks/local_gpu.py --smoke      # the same code on a CPU, a tiny config

Builds ``Gemma3ForConditionalGeneration`` from the Gemma-3-4B configuration directly on the
GPU in bfloat16 (no download: random weights cost the same FLOPs as trained ones) and wraps
it with ``LocalBackend.from_loaded`` and the tiny fixture's tokenizer and CSR-4B template.
For items of about 300 and 1,500 tokens it reports, side by side:

- the naive loop (per item ``model.generate(max_new_tokens=10)``): items/s, p50 latency;
- the backend one item at a time (single pass, prefix reuse): p50 latency;
- the CPU time to encode a request (template, sanitizing tokenizer), spent on the model's
  worker thread before each pass;
- ``check_many`` of all items (single pass, batching) with prefix reuse on and off: items/s,
  ms per item, and the fraction of the FLOP floor: ``2 x parameters x tokens computed``
  divided by the **measured** dense matmul rate of this device in this dtype (a large
  square matmul, timed here), over the measured time. Target: >= 50%.

``--smoke`` runs every step on the CPU with a 4-layer model of the same architecture (fp32),
so the script itself is tested without a GPU (``tests/local/test_benchmark_scripts.py``); its
figures mean nothing. Without ``--smoke`` it refuses to run unless CUDA is available.
Record the figures and the device in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from guard_core import Guard, Policy
from guard_core.backends.local import LocalBackend, fixture_path
from guard_core.models import Exchange

_VOCAB = (
    "policy garden train coffee the a of to and river station bike dog soup bread "
    "music letter window market photo"
)
WORDS = _VOCAB.split(" ")


def gemma3_config(smoke: bool = False) -> Any:
    """The Gemma-3-4B (= Nemotron CSR-4B / 3.5) architecture as published; ``smoke``: the
    same layer pattern (5 sliding : 1 full) and head layout, scaled down for a CPU."""
    from transformers import Gemma3Config, Gemma3TextConfig, SiglipVisionConfig

    layers = 6 if smoke else 34
    hidden, inner, heads, kv, head_dim, window = (
        (64, 256, 8, 4, 16, 64) if smoke else (2560, 10_240, 8, 4, 256, 1024)
    )
    text = Gemma3TextConfig(
        vocab_size=262_208,
        hidden_size=hidden,
        intermediate_size=inner,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv,
        head_dim=head_dim,
        query_pre_attn_scalar=head_dim,
        sliding_window=window,
        max_position_embeddings=131_072,
        layer_types=[
            "full_attention" if (i + 1) % 6 == 0 else "sliding_attention" for i in range(layers)
        ],
        rope_parameters={
            "full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1_000_000.0},
            "sliding_attention": {"rope_type": "default", "rope_theta": 10_000.0},
        },
    )
    vision = (
        SiglipVisionConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=28,
            patch_size=14,
        )
        if smoke
        else SiglipVisionConfig(
            hidden_size=1152,
            intermediate_size=4304,
            num_hidden_layers=27,
            num_attention_heads=16,
            image_size=896,
            patch_size=14,
            vision_use_head=False,
        )
    )
    return Gemma3Config(
        text_config=text.to_dict(),
        vision_config=vision.to_dict(),
        mm_tokens_per_image=4 if smoke else 256,
    )


def build_backend(device: str, dtype: Any, smoke: bool) -> tuple[LocalBackend, int]:
    from transformers import AutoTokenizer, Gemma3ForConditionalGeneration

    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = Gemma3ForConditionalGeneration(gemma3_config(smoke))
    finally:
        torch.set_default_dtype(torch.float32)
    text_params = sum(
        p.numel()
        for n, p in model.named_parameters()
        if "vision" not in n and "embed_tokens" not in n
    )
    tokenizer = AutoTokenizer.from_pretrained(fixture_path())
    backend = LocalBackend.from_loaded(
        model,
        tokenizer,
        family="csr4b",
        min_label_mass=0.0,
        name=f"random-weight Gemma-3-{'tiny' if smoke else '4B'}",
    )
    return backend, text_params


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def matmul_rate(device: str, dtype: Any, size: int, repeats: int = 20) -> float:
    """Measured FLOP/s of a ``size`` x ``size`` matmul in ``dtype`` on ``device``."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    sync(device)
    return 2 * size**3 * repeats / (time.perf_counter() - start)


def text_of(tokens: int, tokenizer: Any, rng: random.Random) -> str:
    words: list[str] = []
    while len(tokenizer.encode(" ".join(words), add_special_tokens=False)) < tokens:
        words += rng.sample(WORDS, 10)
    return " ".join(words)


def scenario(
    backend: LocalBackend, params: int, tokens: int, n: int, naive_n: int, rate: float, device: str
) -> dict[str, Any]:
    def timed(run: Callable[[], object]) -> float:
        sync(device)
        start = time.perf_counter()
        run()
        sync(device)
        return time.perf_counter() - start

    rng = random.Random(tokens)
    items = [text_of(tokens, backend.tokenizer, rng) for _ in range(n)]
    guard = Guard(backend, Policy(), cache=False)
    model = backend._engine.model
    from transformers import GenerationConfig

    config = GenerationConfig(
        do_sample=False, max_new_tokens=10, pad_token_id=0, eos_token_id=[1, 6]
    )
    ids = [
        backend._encoder.encode(backend.family.render(Exchange(t), Policy())).ids
        for t in items[:naive_n]
    ]
    with torch.inference_mode():

        def generate(row: Sequence[int]) -> object:
            return model.generate(
                input_ids=torch.tensor([row], device=device), generation_config=config
            )

        generate(ids[0])
        naive = [timed(lambda r=r: generate(r)) for r in ids]
    guard.check(items[0])
    single = [timed(lambda t=t: guard.check(t)) for t in items[:naive_n]]
    rendered = [backend.family.render(Exchange(t), Policy()) for t in items]
    # CPU time the worker spends encoding (template, sanitizing tokenizer) before a pass:
    # what overlapping encoding with the GPU's work could win back.
    encode_s = timed(lambda: [backend._encoder.encode(r) for r in rendered])
    out: dict[str, Any] = {
        "item_tokens": tokens,
        "prompt_tokens": round(statistics.mean(len(r) for r in ids)),
        "naive_items_s": naive_n / sum(naive),
        "naive_p50_ms": 1000 * statistics.median(naive),
        "one_by_one_p50_ms": 1000 * statistics.median(single),
        "encode_ms_per_item": 1000 * encode_s / n,
    }
    for reuse in (True, False):
        backend._engine.prefix_cache = reuse
        guard.check_many(items)  # warm
        before = backend.stats.tokens_computed
        seconds = timed(lambda: guard.check_many(items))
        computed = backend.stats.tokens_computed - before
        key = "batched_prefix" if reuse else "batched_no_prefix"
        out[f"{key}_items_s"] = n / seconds
        out[f"{key}_ms_per_item"] = 1000 * seconds / n
        out[f"{key}_tokens"] = computed
        out[f"{key}_flop_floor_fraction"] = 2 * params * computed / rate / seconds
    backend._engine.prefix_cache = True
    out["batched_vs_naive"] = out["batched_prefix_items_s"] / out["naive_items_s"]
    return out


def table(results: dict[str, Any]) -> str:
    rows = [
        "| item tokens (prompt) | naive items/s (p50 ms) | one at a time p50 ms | "
        "batched + prefix items/s (ms/item, floor) | batched, no prefix items/s "
        "(ms/item, floor) | batched vs naive |",
        "|---|---|---|---|---|---|",
    ]
    for s in results["scenarios"]:
        rows.append(
            f"| {s['item_tokens']} ({s['prompt_tokens']}) | {s['naive_items_s']:.1f} "
            f"({s['naive_p50_ms']:.1f}) | {s['one_by_one_p50_ms']:.1f} | "
            f"{s['batched_prefix_items_s']:.1f} ({s['batched_prefix_ms_per_item']:.2f}, "
            f"{100 * s['batched_prefix_flop_floor_fraction']:.0f}%) | "
            f"{s['batched_no_prefix_items_s']:.1f} ({s['batched_no_prefix_ms_per_item']:.2f}, "
            f"{100 * s['batched_no_prefix_flop_floor_fraction']:.0f}%) | "
            f"{s['batched_vs_naive']:.1f}x |"
        )
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description="local backend GPU benchmark")
    parser.add_argument("--items", type=int, default=64)
    parser.add_argument("--naive-items", type=int, default=16)
    parser.add_argument("--tokens", default="300,1500", help="item sizes, comma-separated")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="run on the CPU with a tiny config: tests the script, not speed",
    )
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.smoke:
        device, dtype, size = "cpu", torch.float32, 256
    elif torch.cuda.is_available():
        device, dtype, size = "cuda", torch.bfloat16, 8192
    else:
        print(
            "local_gpu.py needs a CUDA GPU and a CUDA build of torch; none is visible here. "
            "Run benchmarks/local_cpu.py for the CPU figures (or --smoke to test this "
            "script).",
            file=sys.stderr,
        )
        sys.exit(2)
    name = torch.cuda.get_device_name() if device == "cuda" else "cpu (smoke run)"
    rate = matmul_rate(device, dtype, size)
    backend, params = build_backend(device, dtype, args.smoke)
    print(
        f"# {name}; {backend.model}: {params / 1e9:.3f}B text parameters (no embeddings); "
        f"measured {str(dtype).rpartition('.')[2]} matmul {rate / 1e12:.1f} TFLOP/s; "
        f"torch {torch.__version__}"
    )
    results: dict[str, Any] = {
        "device": name,
        "torch": torch.__version__,
        "matmul_flops": rate,
        "params": params,
        "scenarios": [],
    }
    try:
        for tokens in (int(t) for t in args.tokens.split(",")):
            r = scenario(backend, params, tokens, args.items, args.naive_items, rate, device)
            results["scenarios"].append(r)
            print(json.dumps(r, indent=1), flush=True)
    finally:
        backend.close()
    print("\n" + table(results))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)
    return results


if __name__ == "__main__":
    main()
