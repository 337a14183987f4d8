"""screen-corpus: files and JSONL records, error records, report, summary, Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import NEMOTRON35, ROOT, child_env

from guard_core.cli import main
from guard_core.testing import OpenAICompatServer


def _report(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _by_where(records: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    return {f"{r['path']}:{r['line']}" if r["line"] else str(r["path"]): r for r in records}


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    (root / "sub").mkdir(parents=True)
    (root / "hello.txt").write_text("hello, how are you?")
    (root / "sub" / "recipe.md").write_text("# How to build a bomb\n...")
    (root / "latin1.txt").write_bytes(b"caf\xe9 \x00\xff binary")
    (root / "gone.txt").symlink_to(root / "does-not-exist")
    (root / "notes.csv").write_text("not screened")
    (root / ".hidden.txt").write_text("a bomb nobody should see")
    (root / "records.jsonl").write_text(
        "\n".join(
            [
                json.dumps({"text": "track my parcel please", "agent": "support"}),
                json.dumps(
                    {
                        "text": "the bomb is in the lobby",
                        "surface": "output",
                        "context": "any news?",
                    }
                ),
                "",
                "{broken json",
                json.dumps({"surface": "input"}),
                json.dumps({"text": "x", "surface": "image"}),
                json.dumps(
                    {"text": '{"q": "parcel 42"}', "surface": "tool_call", "tool": "lookup"}
                ),
            ]
        )
        + "\n"
    )
    return root


def test_a_mixed_corpus_gives_verdicts_error_records_and_a_summary(
    guard_env: OpenAICompatServer, corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "report.jsonl"
    code = main(["screen-corpus", str(corpus), "--report", str(report), "--chunk-size", "3"])
    assert code == 1
    records = _by_where(_report(report))
    assert set(records) == {
        "hello.txt",
        "sub/recipe.md",
        "latin1.txt",
        "gone.txt",
        "records.jsonl:1",
        "records.jsonl:2",
        "records.jsonl:4",
        "records.jsonl:5",
        "records.jsonl:6",
        "records.jsonl:7",
    }
    assert records["hello.txt"]["status"] == "allowed"
    assert records["sub/recipe.md"]["status"] == "blocked"
    assert records["sub/recipe.md"]["categories"] == ["Violence"]
    assert records["records.jsonl:1"]["agent"] == "support"
    assert records["records.jsonl:2"]["surface"] == "output"
    assert records["records.jsonl:2"]["status"] == "blocked"
    assert records["records.jsonl:7"]["surface"] == "tool_call"
    assert records["records.jsonl:7"]["status"] == "allowed"
    assert "not UTF-8" in str(records["latin1.txt"]["error"])
    assert "cannot read" in str(records["gone.txt"]["error"])
    assert "not a JSON line" in str(records["records.jsonl:4"]["error"])
    assert '"text" string' in str(records["records.jsonl:5"]["error"])
    assert "surface 'image'" in str(records["records.jsonl:6"]["error"])
    assert all(r["allowed"] is False for r in records.values() if r["status"] == "error")
    out = capsys.readouterr().out
    assert "screened 10 items from 5 files" in out and "(1 file of other types left out)" in out
    for status, count in (("allowed", 3), ("blocked", 2), ("error", 5), ("skipped", 0)):
        assert any(line.split() == [status, str(count)] for line in out.splitlines())
    assert any(line.split() == ["Violence", "2"] for line in out.splitlines())
    assert "first errors:" in out and f"report: {report}" in out
    assert len(guard_env.posts()) == 5  # only the readable items reached the guard


def test_an_all_clean_corpus_exits_0_and_screens_each_chunk_concurrently(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "clean"
    root.mkdir()
    (root / "items.jsonl").write_text(
        "".join(json.dumps({"text": f"question {i}"}) + "\n" for i in range(10))
    )
    with OpenAICompatServer(latency=0.05) as server:
        clean_env.setenv("GUARD_BASE_URL", server.base_url)
        clean_env.setenv("GUARD_MODEL", NEMOTRON35)
        assert main(["screen-corpus", str(root), "--chunk-size", "5", "--report", "-"]) == 0
        assert server.max_in_flight > 1
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]  # stdout: report only
    assert [r["line"] for r in lines] == list(range(1, 11))
    assert {r["status"] for r in lines} == {"allowed"}
    assert "screened 10 items" in captured.err


def test_an_agent_without_a_policy_is_an_error_record_not_a_crash(
    guard_env: OpenAICompatServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "agents.yaml"
    policy.write_text("agents:\n  support: {mode: fast}\n")  # no default
    items = tmp_path / "items.jsonl"
    items.write_text(
        json.dumps({"text": "hi", "agent": "support"})
        + "\n"
        + json.dumps({"text": "hi", "agent": "sales"})
        + "\n"
    )
    report = tmp_path / "r.jsonl"
    assert (
        main(["screen-corpus", str(items), "--policy", str(policy), "--report", str(report)]) == 1
    )
    first, second = _report(report)
    assert first["status"] == "allowed" and first["policy"] == "support"
    assert second["status"] == "error" and "no policy for agent 'sales'" in str(second["error"])


@pytest.mark.parametrize("layout", ["empty", "other-files", "blank-jsonl", "missing"])
def test_nothing_to_screen_is_a_clear_message_and_exit_2(
    guard_env: OpenAICompatServer, tmp_path: Path, layout: str, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "corpus"
    if layout != "missing":
        root.mkdir()
    if layout == "other-files":
        (root / "data.csv").write_text("a,b")
    if layout == "blank-jsonl":
        (root / "items.jsonl").write_text("\n  \n")
    assert main(["screen-corpus", str(root)]) == 2
    err = capsys.readouterr().err
    assert "no such file or folder" in err if layout == "missing" else "nothing to screen" in err
    assert guard_env.posts() == []


def test_an_unwritable_report_path_exits_2(
    guard_env: OpenAICompatServer, corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["screen-corpus", str(corpus), "--report", str(corpus)]) == 2
    assert "cannot write the report" in capsys.readouterr().err


# Python leaves SIGINT ignored in a child whose parent ignores it (a background job of a
# non-interactive shell, as CI often runs). The child re-arms the default Ctrl-C handler,
# as an interactive terminal would have it, then runs the CLI module exactly as -m does.
_AS_FROM_A_TERMINAL = (
    "import runpy, signal, sys; "
    "signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv = ['guard-core', *sys.argv[1:]]; "
    "runpy.run_module('guard_core.cli', run_name='__main__', alter_sys=True)"
)


def test_ctrl_c_mid_corpus_leaves_a_valid_partial_report_and_exits_130(tmp_path: Path) -> None:
    items = tmp_path / "items.jsonl"
    items.write_text(
        "".join(
            json.dumps({"text": f"item {i}" + (" bomb" if i % 5 == 0 else "")}) + "\n"
            for i in range(60)
        )
    )
    report = tmp_path / "report.jsonl"
    with OpenAICompatServer(latency=0.3) as server:
        child = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _AS_FROM_A_TERMINAL,
                "screen-corpus",
                str(items),
                "--chunk-size",
                "4",
                "--report",
                str(report),
            ],
            env=child_env(GUARD_BASE_URL=server.base_url),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 30
            while not (report.exists() and report.stat().st_size) and child.poll() is None:
                assert time.monotonic() < deadline, "the first chunk never reached the report"
                time.sleep(0.02)
            child.send_signal(signal.SIGINT)
            _, err = child.communicate(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
    assert child.returncode == 130, err
    assert "interrupted after" in err and "complete lines" in err and "Traceback" not in err
    lines = report.read_text().splitlines()
    assert 4 <= len(lines) < 60 and len(lines) % 4 == 0  # whole chunks only
    records = [json.loads(line) for line in lines]
    assert [r["line"] for r in records] == list(range(1, len(lines) + 1))
    assert records[0]["status"] == "blocked"  # item 0 holds "bomb"
    assert report.read_text().endswith("}\n")  # no half-written last line


def test_one_file_one_item_and_blocks_without_a_category_read_as_english(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Content Safety Reasoning 4B (the default model) answers only safe or unsafe: a block
    # names no category, and the summary says so in words, not "(none given)"
    root = tmp_path / "one"
    root.mkdir()
    (root / "recipe.txt").write_text("how do I build a bomb?")
    (root / "notes.csv").write_text("not screened")
    with OpenAICompatServer() as server:
        clean_env.setenv("GUARD_BASE_URL", server.base_url)
        assert main(["screen-corpus", str(root)]) == 1
    out = capsys.readouterr().out
    assert "screened 1 item from 1 file in " in out and "(1 file of other types left out)" in out
    assert "(none given)" not in out and "1 items" not in out and "1 files" not in out
    assert any(
        line.split() == ["(the", "model", "named", "no", "category)", "1"]
        for line in out.splitlines()
    ), out


def test_nothing_to_screen_counts_one_other_file_in_the_singular(
    guard_env: OpenAICompatServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "data.csv").write_text("a,b")
    assert main(["screen-corpus", str(tmp_path)]) == 2
    assert "(1 file of other types)" in capsys.readouterr().err
