"""``benchmarks/history_rescreening.py`` runs end to end in a tiny configuration, and the
guard sends each distinct item of a re-screened history once: the server's count of prompts
judged equals the distinct items on every cached run (sequential and parallel model calls,
sync and async, chat and batched requests), and with ``cache=False`` every item of every
history is judged (so the counter counts). Counts only; its timings are not checked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_history_rescreening_sends_each_distinct_item_once(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "history_rescreening.py"),
            "--turns",
            "6",
            "--latency",
            "2",
            "--repeats",
            "1",
            "--parallel",
            "3",
            "--stagger",
            "1",
            "--json",
            str(out),
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())["results"]
    assert set(results) == {"nemotron35", "csr4b"}
    for family, apis in results.items():
        for api, found in apis.items():
            where = f"{family} {api}"
            distinct = found["cached"]["distinct"]
            assert distinct == 23, where  # 24 items, "continue" twice
            assert found["cached"]["judged"] == distinct, where
            assert found["parallel"]["judged"] == distinct, where
            assert found["uncached"]["naive"] == 4 + 8 + 12 + 16 + 20 + 24, where
            # cache=False: all of it, but "continue" once in the last call's history
            assert found["uncached"]["judged"] == 84 - 1, where
            assert found["parallel"]["naive"] == 3 * 84, where
    assert "prompts judged = distinct items in 8 of 8 cached runs" in done.stdout
