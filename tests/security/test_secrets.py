"""A planted API key never shows up anywhere a person or a log can read it.

The guard endpoint is made hostile: it refuses the key, echoes it in error bodies and
headers, and puts it in the model's answer and reasoning. Then every place text comes out
is searched for the key: verdicts (error, reason, repr, notebook HTML / Markdown, dict),
reprs of the guard and backend, the audit file, every log record (all loggers at DEBUG,
the SDK's and the HTTP client's included), exceptions (with their chained causes) raised by
adapters, the probe result and the CLI's output.
"""

from __future__ import annotations

import asyncio
import json
import logging
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from reliability.surfaces import CSR, DRIVERS, N35, Ctx, Driver, run

from guard_core import Guard, GuardViolation, Policy
from guard_core.audit import AuditLog
from guard_core.backends import RemoteBackend
from guard_core.testing import Fault, OpenAICompatServer

KEY = "sk-PLANTED-7f3a9c1e5b2d4f60a8c4"
SECRET_PART = "7f3a9c1e5b2d4f60a8c4"
_ECHO = json.dumps(
    {"error": {"message": f"Incorrect API key provided: {KEY}", "authorization": f"Bearer {KEY}"}}
).encode()

SCENARIOS: dict[str, Fault | None] = {
    "wrong-key-401": None,  # the server wants another key
    "echo-401": Fault(status=401, body=_ECHO, times=100),
    "echo-500": Fault(status=500, body=_ECHO, times=100),
    "echo-429-retry": Fault(status=429, body=_ECHO, headers={"Retry-After": "0"}, times=100),
    "echo-200-non-json": Fault(body=b"<html>" + KEY.encode() + b"</html>", times=100),
    "echo-in-answer": Fault(text=f"User Safety: safe {KEY}\nResponse Safety: safe", times=100),
    "echo-in-answer-line": Fault(text=f"Authorization: Bearer {KEY}", times=100),
    "echo-in-reasoning": Fault(
        text="User Safety: safe\nResponse Safety: safe",
        reasoning=f"The header said Bearer {KEY}.",
        times=100,
    ),
}


def _leaks(*texts: object) -> list[str]:
    return [str(t)[:300] for t in texts if KEY in str(t) or SECRET_PART in str(t)]


@pytest.fixture
def server() -> Iterator[OpenAICompatServer]:
    with OpenAICompatServer(api_key="sk-the-right-one") as srv:
        yield srv


def _prepare(server: OpenAICompatServer, scenario: str) -> None:
    fault = SCENARIOS[scenario]
    if fault is not None:
        server.api_key = None  # the fault answers whatever the key
        server.inject(fault)


def _exception_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


@pytest.mark.parametrize("scenario", list(SCENARIOS))
@pytest.mark.parametrize("mode", ["fast", "think"])
def test_core_never_shows_the_key(
    scenario: str,
    mode: str,
    server: OpenAICompatServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _prepare(server, scenario)
    caplog.set_level(logging.DEBUG)
    backend = RemoteBackend.vllm(
        server.base_url, N35, api_key=KEY, max_retries=1, max_retry_wait=0.001, timeout=5.0
    )
    audit = AuditLog(tmp_path / "audit.jsonl")
    guard = Guard(backend, Policy(name="p", mode=mode, on_error="block"), audit=audit)  # type: ignore[arg-type]
    verdicts = guard.check_many(["hello", "how do I make tea?"])

    async def async_round() -> Any:
        try:
            return await guard.acheck("and in async?")
        finally:
            await guard.aclose()

    verdicts.append(asyncio.run(async_round()))
    audit.close()
    assert any(f"Bearer {KEY}" in r.headers.values() for r in server.requests), (
        "the key was really sent (the search below is not vacuous)"
    )
    outputs: list[object] = [repr(guard), repr(backend), backend.describe(), str(backend)]
    for v in verdicts:
        outputs += [
            v.error,
            v.reason,
            v.reasoning,
            repr(v),
            v._repr_html_(),
            v._repr_markdown_(),
            json.dumps(v.to_dict()),
        ]
        if not v.allowed:
            with pytest.raises(GuardViolation) as info:
                v.raise_for_block()
            outputs.append(_exception_text(info.value))
    outputs.append((tmp_path / "audit.jsonl").read_text())
    outputs += [r.getMessage() for r in caplog.records]
    outputs += [caplog.text]
    assert not _leaks(*outputs)
    assert all(not v.allowed for v in verdicts) or scenario.startswith("echo-in")


@pytest.mark.parametrize("scenario", ["echo-401", "echo-500", "echo-in-answer-line"])
def test_client_rendered_batches_never_show_the_key(
    scenario: str, server: OpenAICompatServer, caplog: pytest.LogCaptureFixture
) -> None:
    _prepare(server, scenario)
    caplog.set_level(logging.DEBUG)
    backend = RemoteBackend.vllm(server.base_url, CSR, api_key=KEY, max_retries=0)
    guard = Guard(backend, Policy())
    verdicts = guard.check_many(["one", "two", "three"])  # one /v1/completions request
    guard.close()
    assert server.posts("/v1/completions"), "the batched path was taken"
    assert all(not v.allowed for v in verdicts)
    assert not _leaks(*(v.error for v in verdicts), caplog.text)


def test_probe_never_shows_the_key(
    server: OpenAICompatServer, caplog: pytest.LogCaptureFixture
) -> None:
    _prepare(server, "echo-401")
    caplog.set_level(logging.DEBUG)
    backend = RemoteBackend.vllm(server.base_url, N35, api_key=KEY, max_retries=0)
    result = backend.probe()
    backend.close()
    assert not result.ok
    assert not _leaks(str(result), repr(result), caplog.text)


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_no_surface_shows_the_key(
    driver: Driver,
    mode: str,
    server: OpenAICompatServer,
    main: OpenAICompatServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from reliability.surfaces import policy

    from guard_core.audit import MemoryAudit

    _prepare(server, "echo-401")
    caplog.set_level(logging.DEBUG)
    backend = RemoteBackend.vllm(server.base_url, N35, api_key=KEY, max_retries=0)
    audit = MemoryAudit()
    try:
        result = run(driver, mode, Ctx(backend, policy("block"), audit, main))
        outputs: list[object] = [repr(result), result.reason]
    except Exception as exc:  # an adapter that raises: its whole traceback is output too
        outputs = [_exception_text(exc)]
    finally:
        backend.close()
    outputs += [json.dumps(r) for r in audit.records] + [caplog.text]
    assert audit.records
    assert not _leaks(*outputs)


def test_the_cli_never_shows_the_key(
    server: OpenAICompatServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from guard_core.cli import main as cli

    _prepare(server, "echo-401")
    caplog.set_level(logging.DEBUG)
    for name in ("NVIDIA_API_KEY", "OPENROUTER_API_KEY", "GUARD_BACKEND", "GUARD_FAMILY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GUARD_BASE_URL", server.base_url)
    monkeypatch.setenv("GUARD_MODEL", N35)
    monkeypatch.setenv("GUARD_API_KEY", KEY)
    codes = [
        cli(["screen", "hello"]),
        cli(["screen", "hello", "--json"]),
        cli(["screen", '{"cmd": "tidy"}', "--surface", "tool_call", "--tool", "shell"]),
        cli(["probe"]),
    ]
    out, err = capsys.readouterr()
    assert codes == [1, 1, 1, 1]  # blocked / probe problem: the guard could not judge
    assert "HTTP 401" in out + err
    assert not _leaks(out, err, caplog.text)


def test_debug_logs_never_show_a_key_echoed_in_a_header(
    server: OpenAICompatServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.api_key = None
    server.inject(Fault(status=500, body=b"{}", headers={"X-Echo-Authorization": KEY}))
    caplog.set_level(logging.DEBUG)
    guard = Guard(RemoteBackend.vllm(server.base_url, N35, api_key=KEY, max_retries=0), Policy())
    verdict = guard.check("hello")
    guard.close()
    assert not verdict.allowed
    assert not _leaks(caplog.text)


def test_adapter_objects_never_show_the_key(
    server: OpenAICompatServer, main: OpenAICompatServer
) -> None:
    """Reprs and the frameworks' own serialisations (tracing, saving a pipeline)."""
    import openai

    from guard_core.integrations.langchain import (
        GuardCallbackHandler,
        GuardMiddleware,
        GuardRunnable,
    )
    from guard_core.integrations.llama_index import GuardNodePostprocessor, guard_tools
    from guard_core.integrations.openai import guard_openai

    guard = Guard(RemoteBackend.vllm(server.base_url, N35, api_key=KEY), Policy())
    runnable = GuardRunnable(guard)
    pp = GuardNodePostprocessor(guard)
    [tool] = guard_tools([lambda q: q], guard)
    inner = openai.OpenAI(base_url=main.base_url, api_key="sk-main")
    outputs = [
        repr(guard),
        repr(runnable),
        str(runnable),
        repr(GuardMiddleware(guard)),
        repr(GuardCallbackHandler(guard)),
        repr(pp),
        pp.to_json(),
        repr(tool),
        repr(guard_openai(inner, guard)),
        repr(guard.policies),
    ]
    inner.close()
    guard.close()
    assert not _leaks(*outputs)
