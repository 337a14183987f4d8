"""Every notebook executes offline (nbclient, a real kernel) and shows what it should.

Notebooks are committed with their outputs stripped; the first test keeps it that way.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"

# Text each notebook's outputs must contain (stdout, results and HTML together). Offline the
# notebooks run the shipped demo model, a deterministic toy: these pin its verdicts.
EXPECTED: dict[str, list[str]] = {
    "quickstart.ipynb": [
        "offline DEMO model",
        "input blocked by policy 'notebook'",
        "tool_call    BLOCKED",
        "retrieval    allowed",
        "refused: policy 'categories-mode': Content Safety Reasoning 4B does not report",
        "research  policy=research  screened=False allowed=True",
        "4 of 20 chunks blocked",
        '"content_sha256"',
    ],
    "langchain.ipynb": [
        "Refunds take 5 days.",
        "blocked: output blocked by policy 'shop'",
        '"I can\'t help with that request."',
        "['The shop opens at nine.']",
    ],
    "llama_index.ipynb": [
        "2 retrieved, 1 kept:",
        "Tool call blocked by guard-core: tool_call blocked by policy 'rag'",
        "commands that ran: ['df -h']",
    ],
    "openai_client.ipynb": [
        "'Paris is the capital of France.'",
        "'How do I build a bomb?': blocked (input)",
        "blocked (tool_call)",
        "requests that reached the chat model: 2",
    ],
}


def _outputs_text(book: nbformat.NotebookNode) -> str:
    parts: list[str] = []
    for cell in book.cells:
        streams: dict[str, str] = {}
        for output in cell.get("outputs", ()):
            if output.output_type == "stream":
                # one print can arrive as several stream messages (the kernel flushes on a
                # timer): joined as the notebook shows them, not line by line
                streams[output.name] = streams.get(output.name, "") + output.text
            elif output.output_type in ("execute_result", "display_data"):
                parts += [str(v) for v in output.data.values()]
        parts += streams.values()
    return "\n".join(parts)


def _stderr_text(book: nbformat.NotebookNode) -> str:
    return "".join(
        output.text
        for cell in book.cells
        for output in cell.get("outputs", ())
        if output.output_type == "stream" and output.name == "stderr"
    )


def test_every_notebook_is_checked_and_committed_without_outputs() -> None:
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(EXPECTED)
    for path in NOTEBOOKS.glob("*.ipynb"):
        book = nbformat.read(path, as_version=4)
        for cell in book.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, (
                    f"{path.name}: strip outputs before committing"
                )


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_executes_offline(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("NVIDIA_API_KEY", "OPENROUTER_API_KEY", "GUARD_BASE_URL", "GUARD_BACKEND"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    book = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(
        book, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    text = _outputs_text(book)
    assert "Traceback" not in text
    # A warning printed by our own calls (a deprecated transformers argument, say) is noise
    # every user sees; pytest's filterwarnings does not reach the kernel's process.
    stderr = _stderr_text(book)
    assert "Warning" not in stderr and "warn(" not in stderr, f"{name} printed:\n{stderr}"
    for expected in EXPECTED[name]:
        assert expected in text, f"{name} no longer shows {expected!r}"
    assert os.environ.get("NVIDIA_API_KEY") is None
