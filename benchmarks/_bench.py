"""Shared pieces of the remote benchmarks: percentiles, tables, the NeMo Guardrails subprocess.

NeMo Guardrails runs in its own virtualenv (it is not installed next to guard-core, whose
``openai>=3`` and LangChain pins it must not disturb), as a child ``python _nemo_runner.py URL``
against the loopback server this process started, measuring in blocks alternated with ours.
The venv is found from ``$NEMO_PYTHON``, else ``.bench-venv/bin/python`` in the
repository.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNNER = HERE / "_nemo_runner.py"
NEMO_SETUP = (
    "python3 -m venv .bench-venv && .bench-venv/bin/pip install "
    "nemoguardrails openai   (or set NEMO_PYTHON=/path/to/venv/bin/python)"
)


def ms(seconds: Sequence[float], q: int) -> float:
    """The ``q``-th percentile of ``seconds``, in milliseconds."""
    if len(seconds) == 1:
        return seconds[0] * 1000
    return statistics.quantiles(seconds, n=100, method="inclusive")[q - 1] * 1000


def machine() -> str:
    return (
        f"{os.cpu_count()} CPU cores, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}, loopback HTTP (guard_core.testing.server)"
    )


def row(label: str, *cells: str, width: int = 44) -> str:
    return f"  {label:<{width}}" + "".join(f"{c:>14}" for c in cells)


def pct_row(label: str, samples: Sequence[float], width: int = 44) -> str:
    return row(label, f"{ms(samples, 50):.3f}", f"{ms(samples, 90):.3f}", width=width)


def nemo_python() -> Path | None:
    candidates = [
        os.environ.get("NEMO_PYTHON"),
        str(HERE.parent / ".bench-venv" / "bin" / "python"),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            return Path(candidate)
    return None


class NemoWorker:
    """The NeMo Guardrails runner as a long-lived child process (``_nemo_runner.py``).

    ``error`` says why it could not start (no venv, failed import, failed sanity check);
    then ``run`` is never called and the caller prints our figures alone.
    """

    def __init__(self, url: str, enabled: bool = True) -> None:
        self.url = url
        self.error: str | None = None if enabled else "skipped (--no-nemo)"
        self.info: dict[str, object] = {}
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> NemoWorker:
        if self.error is not None:
            return self
        python = nemo_python()
        if python is None:
            self.error = f"no NeMo Guardrails virtualenv found; create one with: {NEMO_SETUP}"
            return self
        self._stderr = tempfile.TemporaryFile("w+")  # a pipe could fill up and block it
        self._proc = subprocess.Popen(
            [str(python), str(RUNNER), self.url],
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        reply = self._reply()
        if reply is None:
            self.error = self._why(python)
        elif "error" in reply:
            self.error = str(reply["error"])
        else:
            self.info = reply
        return self

    def _reply(self) -> dict[str, object] | None:
        assert self._proc is not None and self._proc.stdout is not None
        while line := self._proc.stdout.readline():
            if line.startswith("{"):
                result: dict[str, object] = json.loads(line)
                return result
        return None

    def _why(self, python: Path) -> str:
        assert self._proc is not None
        self._proc.wait(timeout=30)
        self._stderr.seek(0)
        tail = "\n".join(self._stderr.read().strip().splitlines()[-8:])
        return f"{python} {RUNNER.name} exited {self._proc.returncode}:\n{tail}"

    def run(self, work: str, n: int, warmup: int = 0, k: int = 0) -> dict[str, list[float]]:
        """Run one block; sample lists (seconds) per measured client."""
        assert self._proc is not None and self._proc.stdin is not None and self.error is None
        self._proc.stdin.write(json.dumps({"work": work, "n": n, "warmup": warmup, "k": k}) + "\n")
        self._proc.stdin.flush()
        reply = self._reply()
        if reply is None:
            raise RuntimeError(self._why(nemo_python() or Path("python")))
        samples: dict[str, list[float]] = reply["samples"]  # type: ignore[assignment]
        return samples

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None and self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        if self._proc is not None:
            self._stderr.close()


def merge(into: dict[str, list[float]], block: dict[str, list[float]]) -> None:
    for name, samples in block.items():
        into.setdefault(name, []).extend(samples)


def say_nemo_error(worker: NemoWorker) -> bool:
    """Print why NeMo Guardrails was not measured; True when it was not."""
    if worker.error is None:
        return False
    print("  NeMo Guardrails NOT measured:", worker.error.replace("\n", "\n    "))
    return True


def header(title: str) -> None:
    print(f"\n== {title} ==", flush=True)


def require_main_venv() -> None:
    try:
        import openai  # noqa: F401

        import guard_core  # noqa: F401
    except ImportError as exc:
        sys.exit(f"run this with the guard-core venv (pip install -e '.[openai]'): {exc}")


class ChildServer:
    """``OpenAICompatServer`` in a child process, so the clients measured (ours in this
    process, NeMo's in another) meet the same server without sharing its CPU or GIL, as with
    a real remote endpoint. ``stats()`` reads its counters (requests, prompts ``judged``) and
    resets ``max_in_flight``."""

    _CODE = """
import json, sys, threading
from guard_core.testing import OpenAICompatServer
from guard_core.testing import ScriptedJudge

class CountingJudge(ScriptedJudge):
    # counts the prompts judged: one per chat request, many per batched /v1/completions one
    def __post_init__(self):
        super().__post_init__()
        self.judged, self.lock = 0, threading.Lock()

    def answer(self, *args, **kwargs):
        with self.lock:
            self.judged += 1
        return super().answer(*args, **kwargs)

judge = CountingJudge()
with OpenAICompatServer(judge, latency=float(sys.argv[1])) as s:
    print(s.base_url, flush=True)
    for line in sys.stdin:
        print(json.dumps({"requests": len(s.requests), "max_in_flight": s.max_in_flight,
                          "chat": len(s.posts("/v1/chat/completions")),
                          "completions": len(s.posts("/v1/completions")),
                          "judged": judge.judged}), flush=True)
        s.max_in_flight = 0
"""

    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency
        self._proc: subprocess.Popen[str] | None = None
        self.base_url = ""

    def __enter__(self) -> ChildServer:
        self._proc = subprocess.Popen(
            [sys.executable, "-c", self._CODE, str(self.latency)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.base_url = self._line()
        if not self.base_url.startswith("http://"):
            raise RuntimeError("the loopback server did not start")
        return self

    def _line(self) -> str:
        assert self._proc is not None and self._proc.stdout is not None
        return self._proc.stdout.readline().strip()

    def stats(self) -> dict[str, int]:
        """Requests served so far and the most in flight since the last call."""
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write("stats\n")
        self._proc.stdin.flush()
        result: dict[str, int] = json.loads(self._line())
        return result

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            self._proc.wait(timeout=10)
