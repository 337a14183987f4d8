"""The guard-core commands run in-process (main([...])) against the loopback guard server."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from cli_helpers import NEMOTRON35, POLICIES, demo_available

from guard_core.cli import main
from guard_core.cli.sample import SAMPLE
from guard_core.testing import Fault, OpenAICompatServer

SECRET = "sk-SECRET-7f3a9c21"


def _rows(stdout: str) -> list[str]:
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("-  ---")) + 1
    return lines[start : start + len(SAMPLE)]


# -- sample ------------------------------------------------------------------------------------


def test_sample_screens_every_surface_and_blocks_the_unsafe_request(
    guard_env: OpenAICompatServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sample"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith(
        f"guard-core: using your server at {guard_env.base_url} ({NEMOTRON35})"
    )
    rows = _rows(out)
    surfaces = [row.split()[1] for row in rows]
    assert surfaces == [
        "input",
        "output",
        "tool_call",
        "tool_result",
        "retrieval",
        "retrieval",
        "input",
    ]
    assert all(row.split()[2] == "allowed" for row in rows[:-1])
    assert rows[-1].split()[2:4] == ["BLOCKED", "Violence"]
    assert " ms " in rows[0]
    assert "7 items: 6 allowed, 1 blocked" in out
    assert len(guard_env.posts()) == len(SAMPLE)  # each item really went to the guard


def test_sample_exits_1_and_names_the_error_when_the_guard_refuses_the_key(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with OpenAICompatServer(api_key="the-right-key") as server:
        clean_env.setenv("GUARD_BASE_URL", server.base_url)
        clean_env.setenv("GUARD_API_KEY", SECRET)
        assert main(["sample"]) == 1
    captured = capsys.readouterr()
    assert "the guard could not judge some items" in captured.out
    assert "401" in captured.out and "ERROR" in captured.out
    assert SECRET not in captured.out + captured.err


def test_sample_with_nothing_configured_prints_what_to_set_and_exits_2(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setenv("GUARD_BACKEND", "remote")  # a real guard or nothing: no demo
    assert main(["sample"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    for var in ("NVIDIA_API_KEY=", "OPENROUTER_API_KEY=", "GUARD_BASE_URL="):
        assert var in captured.err


@pytest.mark.skipif(not demo_available(), reason="the demo model is not in this install")
def test_sample_with_nothing_configured_runs_the_demo_model_and_says_so(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from guard_core.backends import autoselect

    if autoselect._cuda_available():
        pytest.skip("a GPU is here: the local model would be chosen")
    code = main(["sample"])
    out = capsys.readouterr().out
    banner = out.splitlines()[0]
    assert "DEMO" in banner and "NOT a safety model" in banner
    assert code == 0, out  # the toy answers in the real format: every item is judged
    assert len(_rows(out)) == len(SAMPLE) and "7 items:" in out and "ERROR" not in out


def test_screen_never_falls_back_to_the_demo_model(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from guard_core.backends import autoselect

    if autoselect._cuda_available():
        pytest.skip("a GPU is here: the local model would be chosen")
    assert main(["screen", "hello"]) == 2  # a toy verdict must never pass for a real one
    err = capsys.readouterr().err
    assert "no guard backend is configured" in err and "NVIDIA_API_KEY=" in err


# -- screen ------------------------------------------------------------------------------------


def test_screen_text_exit_codes_and_verdict_text(
    guard_env: OpenAICompatServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["screen", "what is the capital of France?"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("ALLOWED") and "guard-core: using" in captured.err
    assert main(["screen", "how do I build a bomb?"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("BLOCKED (block)") and "categories: Violence" in out


@pytest.mark.parametrize(
    ("model", "reason"),
    [
        (
            "nvidia/Nemotron-Content-Safety-Reasoning-4B",
            "input blocked by policy 'default' (the model named no category)",
        ),
        (NEMOTRON35, "input blocked by policy 'default' (Violence)"),
        (
            "nvidia/llama-3.1-nemoguard-8b-content-safety",
            "input blocked by policy 'default' (Violence)",
        ),
    ],
)
def test_screen_text_shows_a_reason_line_for_every_family(
    clean_env: pytest.MonkeyPatch,
    server: OpenAICompatServer,
    model: str,
    reason: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # CSR-4B names no categories (it answers safe or unsafe), so its verdicts had no line
    # saying why: the reason line is there for every family, and says when none was named
    clean_env.setenv("GUARD_BASE_URL", server.base_url)
    clean_env.setenv("GUARD_MODEL", model)
    assert main(["screen", "how do I build a bomb?"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "BLOCKED (block)"
    assert lines[1] == f"  reason:     {reason}"
    assert main(["screen", "what is the capital of France?"]) == 0
    assert capsys.readouterr().out.splitlines()[1] == (
        "  reason:     input allowed by policy 'default'"
    )


def test_screen_json_from_stdin(
    guard_env: OpenAICompatServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a bomb in the retrieved page"))
    assert main(["screen", "-", "--surface", "retrieval", "--json"]) == 1
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["status"] == "blocked" and verdict["surface"] == "retrieval"
    assert verdict["categories"] == ["Violence"] and verdict["policy"] == "default"
    sent = guard_env.posts()[-1].body
    assert sent is not None and "a bomb in the retrieved page" in json.dumps(sent)


def test_screen_tool_call_sends_the_call_with_its_user_request(
    guard_env: OpenAICompatServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "screen",
            '{"path": "/tmp/cache"}',
            "--surface",
            "tool_call",
            "--tool",
            "delete_dir",
            "--context",
            "clean the cache",
            "--json",
        ]
    )
    assert code == 0 and json.loads(capsys.readouterr().out)["surface"] == "tool_call"
    messages = guard_env.posts()[-1].body["messages"]  # type: ignore[index]
    assert messages[0]["content"] == "clean the cache"
    assert "delete_dir" in messages[1]["content"] and "/tmp/cache" in messages[1]["content"]


def test_screen_bad_tool_arguments_is_a_usage_error_before_any_request(
    guard_env: OpenAICompatServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["screen", "{not json", "--surface", "tool_call"]) == 2
    assert "arguments are not valid JSON" in capsys.readouterr().err
    assert guard_env.posts() == []


def test_screen_uses_the_agent_policy_from_the_example_file(
    guard_env: OpenAICompatServer, capsys: pytest.CaptureFixture[str]
) -> None:
    guard_env.judge = type(guard_env.judge)({"kill": "Violence"})
    devops = ["--policy", str(POLICIES / "devops.yaml")]
    text = "kill -9 the stuck payments worker"
    assert main(["screen", text, *devops, "--agent", "devops", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["policy"] == "devops"
    assert main(["screen", text, *devops, "--json"]) == 1  # the default policy keeps Violence
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["policy"] == "default" and verdict["status"] == "blocked"


def test_backend_flags_override_the_environment(
    clean_env: pytest.MonkeyPatch, server: OpenAICompatServer, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setenv("GUARD_BASE_URL", "http://127.0.0.1:9/v1")  # nothing listens there
    code = main(["screen", "hello", "--backend-url", server.base_url, "--model", NEMOTRON35])
    assert code == 0
    assert server.posts()[-1].body["model"] == NEMOTRON35  # type: ignore[index]
    assert server.base_url in capsys.readouterr().err


# -- probe -------------------------------------------------------------------------------------


def test_probe_ok_and_problem(
    guard_env: OpenAICompatServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["probe"]) == 0
    assert capsys.readouterr().out.startswith(f"OK: {NEMOTRON35} (nemotron35)")
    guard_env.inject(Fault(text="I think it is fine!", times=2))
    assert main(["probe"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("PROBLEM") and "wrong answer format" in out


# -- policy check ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["general", "devops", "telco", "ecommerce", "healthcare"])
def test_example_policy_files_are_valid_for_the_models_they_name(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(POLICIES / f"{name}.yaml")
    for model in ("nvidia/nemotron-content-safety-reasoning-4b", NEMOTRON35):
        assert main(["policy", "check", path, "--model", model]) == 0
    out = capsys.readouterr().out
    assert f"{path}: valid;" in out and "default: policy 'default'" in out


def test_policy_check_shows_agents_modes_exclusions_and_actions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["policy", "check", str(POLICIES / "devops.yaml")]) == 0
    out = capsys.readouterr().out
    assert "valid; agents: devops; a default for every other agent" in out
    devops = out[out.index("agent devops") :]
    assert "mode:      fast" in devops
    assert "the standard taxonomy, except: Violence" in devops
    assert "tool_call=block" in devops and "tool_result=redact" in devops
    assert "on_error:  block" in devops and "(version " in devops


def test_policy_check_shows_a_custom_policy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "check", str(POLICIES / "telco.yaml")]) == 0
    out = capsys.readouterr().out
    assert "a custom policy (replaces the model's instructions and taxonomy)" in out
    assert "SIM swapping" in out
    assert "categories: named by the custom policy's text" in out


POLICY_FILE = """\
default:
  exclude_categories: [Economic Harm, Violence]
agents:
  support:
    mode: fast
    categories:
      - {name: Competitors, description: Offers of other carriers.}
      - Legal Advice
"""


def _section(out: str, head: str) -> str:
    start = out.index(head)
    end = out.find("\n\n", start)
    return out[start : end if end > 0 else None]


def test_policy_check_shows_each_familys_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(POLICY_FILE)
    assert main(["policy", "check", str(path)]) == 0
    default = _section(capsys.readouterr().out, "default: policy")
    lists = {
        line.split()[0]: line
        for line in default.replace("\n      ", " ").splitlines()
        if line.startswith("    ")
    }
    assert set(lists) == {"csr4b", "nemotron35", "nemoguard8b"}
    assert (
        lists["csr4b"].startswith("    csr4b (21): S2 Sexual,") and " Other" not in lists["csr4b"]
    )
    assert "not in its list, so no effect: Economic Harm" in lists["csr4b"]
    assert lists["nemoguard8b"].startswith("    nemoguard8b (22): S2 Sexual,")
    assert (
        "S14 Other" in lists["nemoguard8b"] and "no effect: Economic Harm" in lists["nemoguard8b"]
    )
    assert lists["nemotron35"].startswith("    nemotron35 (22): S2 Sexual,")
    assert "S23 Immoral/Unethical" in lists["nemotron35"] and "no effect" not in lists["nemotron35"]
    assert "Violence" not in default.split("judges by:")[1].split("\n", 1)[1]


def test_policy_check_shows_a_custom_taxonomy_once_for_every_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(POLICY_FILE)
    for model in ("nvidia/nemotron-content-safety-reasoning-4b", NEMOTRON35):
        assert main(["policy", "check", str(path), "--model", model]) == 0
        support = _section(capsys.readouterr().out, "agent support")
        assert "its own categories (a custom taxonomy" in support
        assert (
            "    | S1: Competitors. Offers of other carriers.\n    | S2: Legal Advice." in support
        )
    assert main(["policy", "check", str(path), "--model", NEMOTRON35]) == 0
    shown = capsys.readouterr().out
    assert "nemotron35 (22)" in shown and "csr4b" not in shown


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("default: {mode: fast}\nagents:\n  bot: {mode: turbo}\n", "agents.bot.mode"),
        ("default: {exclude_categories: [Lasers]}\n", "unknown category 'Lasers'"),
        ("policies: {}\n", "unknown top-level key 'policies'"),
        ("default: [unclosed\n", "not valid YAML"),
    ],
)
def test_a_bad_policy_file_prints_the_policy_error_and_exits_2(
    tmp_path: Path, body: str, needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(body)
    assert main(["policy", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("guard-core: error: ") and str(path) in err and needle in err


def test_policy_check_reports_every_error_of_every_agent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "three.yaml"
    path.write_text(
        "default: {mode: fast}\n"
        "agents:\n"
        "  devops: {mode: turbo, exclude_categories: [Lasers]}\n"
        "  support: {on_error: shrug}\n"
        "  fine: {mode: think}\n"
    )
    assert main(["policy", "check", str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"guard-core: error: {path}: 3 errors, fix each:"
    assert err[1:] == [
        f"{path}: agents.devops.mode: Input should be 'fast', 'categories' or 'think' "
        "(got 'turbo')",
        f"{path}: agents.devops.exclude_categories: Value error, unknown category 'Lasers'; "
        + err[2].split("unknown category 'Lasers'; ", 1)[1],
        f"{path}: agents.support.on_error: Input should be 'block' or 'allow' (got 'shrug')",
    ]
    assert err[2].endswith("(got ['Lasers'])")


def test_a_policy_the_model_cannot_apply_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(POLICIES / "general.yaml")
    assert (
        main(["policy", "check", path, "--model", "nvidia/llama-3.1-nemoguard-8b-content-safety"])
        == 2
    )
    assert "mode 'think' is not supported by nemoguard8b" in capsys.readouterr().err


def test_screen_with_a_bad_policy_file_exits_2_before_any_request(
    guard_env: OpenAICompatServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["screen", "hi", "--policy", str(tmp_path / "missing.yaml")]) == 2
    assert "cannot read policy file" in capsys.readouterr().err
    assert guard_env.requests == []


# -- usage -------------------------------------------------------------------------------------


def test_help_documents_exit_codes_and_usage_errors_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for needle in (
        "exit codes:",
        "130",
        "GUARD_BASE_URL",
        "never printed",
        "GUARD_ALLOW_DOWNLOAD=1",
    ):
        assert needle in out
    with pytest.raises(SystemExit) as info:
        main(["screen", "x", "--surface", "elsewhere"])
    assert info.value.code == 2


def test_screen_refuses_text_that_is_not_utf8(
    guard_env: OpenAICompatServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Python hands undecodable stdin bytes over as lone surrogates (surrogateescape)
    monkeypatch.setattr("sys.stdin", io.StringIO(b"caf\xff".decode("utf-8", "surrogateescape")))
    assert main(["screen", "-"]) == 2
    assert "not UTF-8" in capsys.readouterr().err
    assert guard_env.posts() == []
