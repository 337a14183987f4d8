"""GPU benchmark of the local backend: random weights, the real Gemma-3-4B architecture.

    python benchmarks/local_gpu.py [--items 64] [--naive-items 16] [--json results.json]

Builds ``Gemma3ForConditionalGeneration`` from the Gemma-3-4B configuration directly on the
GPU in bfloat16 (no download: random weights cost the same FLOPs as trained ones) and wraps
it with ``LocalBackend.from_loaded`` and the tiny fixture's tokenizer and CSR-4B template.
For items of about 300 and 1,500 tokens it reports, side by side:

- the naive loop (per item ``model.generate(max_new_tokens=10)``): items/s, p50 latency;
- the backend one item at a time (single pass, prefix reuse): p50 latency;
- ``check_many`` of all items (single pass, batching) with prefix reuse on and off: items/s,
  and the fraction of the FLOP floor (2 x parameters x tokens computed / peak bf16 FLOP/s).

Refuses to run without CUDA. Record the figures and the device in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from guard_core import Guard, Policy
from guard_core.backends.local import LocalBackend, fixture_path
from guard_core.models import Exchange

PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "B200": 2250e12, "A100": 312e12, "L40S": 362e12}
_VOCAB = ("policy garden train coffee the a of to and river station bike dog soup bread "
          "music letter window market photo")
WORDS = _VOCAB.split(" ")


def gemma3_4b() -> Any:
    """The Gemma-3-4B (and Nemotron CSR-4B / 3.5) architecture, as published."""
    from transformers import Gemma3Config, Gemma3TextConfig, SiglipVisionConfig

    layers = 34
    text = Gemma3TextConfig(
        vocab_size=262_208, hidden_size=2560, intermediate_size=10_240,
        num_hidden_layers=layers, num_attention_heads=8, num_key_value_heads=4, head_dim=256,
        query_pre_attn_scalar=256, sliding_window=1024, max_position_embeddings=131_072,
        layer_types=["full_attention" if (i + 1) % 6 == 0 else "sliding_attention"
                     for i in range(layers)],
        rope_parameters={"full_attention": {"rope_type": "linear", "factor": 8.0,
                                            "rope_theta": 1_000_000.0},
                         "sliding_attention": {"rope_type": "default", "rope_theta": 10_000.0}})
    vision = SiglipVisionConfig(hidden_size=1152, intermediate_size=4304, num_hidden_layers=27,
                                num_attention_heads=16, image_size=896, patch_size=14,
                                vision_use_head=False)
    return Gemma3Config(text_config=text.to_dict(), vision_config=vision.to_dict(),
                        mm_tokens_per_image=256)


def build_backend(**options: Any) -> tuple[LocalBackend, int]:
    from transformers import AutoTokenizer, Gemma3ForConditionalGeneration

    torch.set_default_dtype(torch.bfloat16)
    with torch.device("cuda"):
        model = Gemma3ForConditionalGeneration(gemma3_4b())
    torch.set_default_dtype(torch.float32)
    text_params = sum(p.numel() for n, p in model.named_parameters()
                      if "vision" not in n and "embed_tokens" not in n)
    tokenizer = AutoTokenizer.from_pretrained(fixture_path())
    backend = LocalBackend.from_loaded(model, tokenizer, family="csr4b", min_label_mass=0.0,
                                       name="random-weight Gemma-3-4B (bf16)", **options)
    return backend, text_params


def text_of(tokens: int, tokenizer: Any, rng: random.Random) -> str:
    words: list[str] = []
    while len(tokenizer.encode(" ".join(words), add_special_tokens=False)) < tokens:
        words += rng.sample(WORDS, 10)
    return " ".join(words)


def timed(run: Callable[[], object]) -> float:
    torch.cuda.synchronize()
    start = time.perf_counter()
    run()
    torch.cuda.synchronize()
    return time.perf_counter() - start


def scenario(backend: LocalBackend, params: int, tokens: int, n: int, naive_n: int,
             peak: float | None) -> dict[str, Any]:
    rng = random.Random(tokens)
    items = [text_of(tokens, backend.tokenizer, rng) for _ in range(n)]
    guard = Guard(backend, Policy(), cache=False)
    model = backend._engine.model
    from transformers import GenerationConfig

    config = GenerationConfig(do_sample=False, max_new_tokens=10, pad_token_id=0,
                              eos_token_id=[1, 6])
    ids = [backend._encoder.encode(backend.family.render(Exchange(t), Policy())).ids
           for t in items[:naive_n]]
    with torch.inference_mode():
        model.generate(input_ids=torch.tensor([ids[0]], device="cuda"), generation_config=config)
        naive = [timed(lambda r=r: model.generate(input_ids=torch.tensor([r], device="cuda"),
                                                  generation_config=config)) for r in ids]
    guard.check(items[0])
    single = [timed(lambda t=t: guard.check(t)) for t in items[:naive_n]]
    out: dict[str, Any] = {
        "item_tokens": tokens, "prompt_tokens": statistics.mean(len(r) for r in ids),
        "naive_items_s": naive_n / sum(naive), "naive_p50_ms": 1000 * statistics.median(naive),
        "one_by_one_p50_ms": 1000 * statistics.median(single)}
    for reuse in (True, False):
        backend._engine.prefix_cache = reuse
        guard.check_many(items)  # warm
        before = backend.stats.tokens_computed
        seconds = timed(lambda: guard.check_many(items))
        computed = backend.stats.tokens_computed - before
        key = "batched_prefix" if reuse else "batched_no_prefix"
        out[f"{key}_items_s"] = n / seconds
        out[f"{key}_tokens"] = computed
        if peak:
            out[f"{key}_flop_floor_fraction"] = 2 * params * computed / seconds / peak
    backend._engine.prefix_cache = True
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description="local backend GPU benchmark")
    parser.add_argument("--items", type=int, default=64)
    parser.add_argument("--naive-items", type=int, default=16)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("local_gpu.py needs a CUDA GPU and a CUDA build of torch; none is visible here. "
              "Run benchmarks/local_cpu.py for the CPU figures.", file=sys.stderr)
        sys.exit(2)
    device = torch.cuda.get_device_name()
    peak = next((v for k, v in PEAK_BF16.items() if k in device), None)
    backend, params = build_backend()
    print(f"# {device}; {params / 1e9:.2f}B text parameters (no embeddings); "
          f"peak bf16 {peak / 1e12 if peak else float('nan'):.0f} TFLOP/s")
    results = {"device": device, "torch": torch.__version__, "scenarios": []}
    for tokens in (300, 1500):
        r = scenario(backend, params, tokens, args.items, args.naive_items, peak)
        results["scenarios"].append(r)  # type: ignore[attr-defined]
        print(json.dumps(r, indent=1))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)
    backend.close()


if __name__ == "__main__":
    main()
