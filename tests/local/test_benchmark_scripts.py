"""The local benchmarks run end to end (on the CPU here), so a GPU session's first run of
``benchmarks/local_gpu.py`` measures instead of debugging. Their figures are not checked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_local_gpu_benchmark_smoke_run(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    done = _run(
        str(ROOT / "benchmarks" / "local_gpu.py"),
        "--smoke",
        "--items",
        "4",
        "--naive-items",
        "2",
        "--tokens",
        "20,60",
        "--json",
        str(out),
        tmp_path=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results["matmul_flops"] > 0 and results["params"] > 0
    assert [s["item_tokens"] for s in results["scenarios"]] == [20, 60]
    for s in results["scenarios"]:
        # prefix reuse computes fewer tokens than recomputing the policy for every item
        assert 0 < s["batched_prefix_tokens"] < s["batched_no_prefix_tokens"]
        assert s["batched_prefix_flop_floor_fraction"] > 0
    assert "| batched vs naive |" in done.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason="would run the full GPU benchmark")
def test_local_gpu_benchmark_refuses_without_cuda(tmp_path: Path) -> None:
    done = _run(str(ROOT / "benchmarks" / "local_gpu.py"), tmp_path=tmp_path)
    assert done.returncode == 2 and "needs a CUDA GPU" in done.stderr
