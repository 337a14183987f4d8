"""The CLI as a user runs it: `python -m guard_core.cli` in a child process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import NEMOTRON35, POLICIES, ROOT, child_env, run_cli

from guard_core.testing import OpenAICompatServer

NVIDIA_SECRET = "nvapi-SECRET-from-the-environment-01"
GUARD_SECRET = "sk-SECRET-self-hosted-02"


def test_sample_end_to_end_against_a_server_from_guard_base_url() -> None:
    with OpenAICompatServer() as server:
        done = run_cli(
            "sample", env=child_env(GUARD_BASE_URL=server.base_url, GUARD_MODEL=NEMOTRON35)
        )
        assert len(server.posts()) == 7
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("guard-core: using your server at http://127.0.0.1:")
    assert "7 items: 6 allowed, 1 blocked" in done.stdout
    assert done.stderr == ""


def test_sample_with_the_default_model_speaks_the_csr4b_prompt_format() -> None:
    with OpenAICompatServer() as server:
        done = run_cli("sample", env=child_env(GUARD_BASE_URL=server.base_url))
        prompts = [r.body["messages"][0]["content"] for r in server.posts()]  # type: ignore[index]
    assert done.returncode == 0, done.stderr
    assert len(prompts) == 7 and all(p.endswith("/no_think") for p in prompts)
    assert "(nvidia/Nemotron-Content-Safety-Reasoning-4B)" in done.stdout
    assert "1 blocked" in done.stdout


def test_the_demo_sample_prints_verdicts_and_no_warnings() -> None:
    """What ``scripts/run`` shows on a fresh machine: the local backend's own calls into
    transformers must not print deprecation warnings between the verdicts."""
    done = run_cli("sample", env=child_env(GUARD_BACKEND="demo", PYTHONWARNINGS="default"))
    assert done.returncode == 0, done.stderr
    assert "7 items:" in done.stdout
    for stream in (done.stdout, done.stderr):
        assert "Warning" not in stream and "warn(" not in stream, stream


def test_no_backend_configured_prints_what_to_set_and_exits_2() -> None:
    done = run_cli("sample", env=child_env(GUARD_BACKEND="remote"))
    assert done.returncode == 2
    assert done.stdout == ""
    assert "guard-core: error: GUARD_BACKEND=remote but no server is configured" in done.stderr
    for var in ("NVIDIA_API_KEY=", "OPENROUTER_API_KEY=", "GUARD_BASE_URL=", "GUARD_MODEL="):
        assert var in done.stderr
    assert "Traceback" not in done.stderr


def test_api_keys_are_never_printed_even_when_refused() -> None:
    with OpenAICompatServer(api_key="the-right-key") as server:
        env = child_env(
            GUARD_BASE_URL=server.base_url,
            GUARD_API_KEY=GUARD_SECRET,
            NVIDIA_API_KEY=NVIDIA_SECRET,
            GUARD_MODEL=NEMOTRON35,
        )
        screened = run_cli("screen", "hello", "--json", env=env)
        probed = run_cli("probe", env=env)
        sent = {k.lower(): v for k, v in server.requests[0].headers.items()}
        assert sent["authorization"] == f"Bearer {GUARD_SECRET}"  # the key was really used
    assert screened.returncode == 1 and probed.returncode == 1
    verdict = json.loads(screened.stdout)
    assert verdict["status"] == "error" and "401" in verdict["error"]
    assert "GUARD_API_KEY" in screened.stderr  # the banner names the variable...
    for done in (screened, probed):
        for secret in (GUARD_SECRET, NVIDIA_SECRET):
            assert secret not in done.stdout + done.stderr  # ...never its value


SCRIPT = Path(sys.executable).with_name("guard-core")


@pytest.mark.skipif(not SCRIPT.exists(), reason="the package is not installed with its scripts")
def test_the_console_script_runs_policy_check() -> None:
    done = subprocess.run(
        [str(SCRIPT), "policy", "check", str(POLICIES / "telco.yaml")],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert "agent support" in done.stdout
