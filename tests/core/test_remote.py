"""RemoteBackend against the real loopback OpenAI-compatible server: faults, keys, batching."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from guard_core import Guard, Policy
from guard_core.audit import MemoryAudit
from guard_core.backends import RemoteBackend
from guard_core.errors import ConfigurationError
from guard_core.testing import Fault, OpenAICompatServer, ScriptedJudge

from ._support import CSR, N35, NEMOGUARD, MakeRemote

KEY = "nvapi-PLANTED-secret-0123456789"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- HTTP faults ------------------------------------------------------------------------------


def test_500_is_retried_then_answers(server: OpenAICompatServer, remote: MakeRemote) -> None:
    guard = Guard(remote(), Policy())
    server.inject(Fault(status=500, times=2))
    verdict = guard.check("a bomb")
    assert verdict.allowed is False and verdict.error is None
    assert len(server.posts()) == 3


def test_retries_stop_at_the_budget(server: OpenAICompatServer, remote: MakeRemote) -> None:
    guard = Guard(remote(max_retries=2), Policy())
    server.inject(Fault(status=503, times=10))
    verdict = guard.check("hello")
    assert verdict.allowed is False
    assert verdict.error is not None
    assert verdict.error.startswith("BackendHTTPError: HTTP 503 from http://127.0.0.1:")
    assert "server error" in verdict.error and "(after 3 attempts)" in verdict.error
    assert len(server.posts()) == 3


def test_429_retry_after_is_honoured(server: OpenAICompatServer, remote: MakeRemote) -> None:
    guard = Guard(remote(max_retry_wait=5.0), Policy())
    server.inject(Fault(status=429, headers={"Retry-After": "1"}))
    start = time.monotonic()
    verdict = guard.check("hello")
    waited = time.monotonic() - start
    assert verdict.allowed is True and verdict.error is None
    assert waited >= 1.0
    assert len(server.posts()) == 2


def test_429_retry_after_ms_is_honoured(server: OpenAICompatServer, remote: MakeRemote) -> None:
    guard = Guard(remote(max_retry_wait=5.0), Policy())
    server.inject(Fault(status=429, headers={"retry-after-ms": "300"}))
    start = time.monotonic()
    assert guard.check("hello").error is None
    assert time.monotonic() - start >= 0.3


def test_429_retry_after_over_the_cap_fails_fast(
    server: OpenAICompatServer, remote: MakeRemote
) -> None:
    guard = Guard(remote(max_retry_wait=1.0), Policy())
    server.inject(Fault(status=429, headers={"Retry-After": "120"}, times=5))
    start = time.monotonic()
    verdict = guard.check("hello")
    assert time.monotonic() - start < 1.0
    assert verdict.allowed is False
    assert verdict.error is not None and "HTTP 429" in verdict.error
    assert "requests_per_minute" in verdict.error
    assert len(server.posts()) == 1


def test_slow_answer_past_the_timeout(server: OpenAICompatServer, remote: MakeRemote) -> None:
    guard = Guard(remote(timeout=0.3), Policy())
    server.inject(Fault(delay=1.5))
    start = time.monotonic()
    verdict = guard.check("hello")
    assert time.monotonic() - start < 1.2
    assert verdict.allowed is False
    assert verdict.error is not None and "BackendUnavailable" in verdict.error
    assert "within 0.3s" in verdict.error and "raise timeout=" in verdict.error


async def test_slow_answer_past_the_timeout_async(
    server: OpenAICompatServer, remote: MakeRemote
) -> None:
    async with Guard(remote(timeout=0.3), Policy()) as guard:
        server.inject(Fault(delay=1.5))
        start = time.monotonic()
        verdict = await guard.acheck("hello")
        assert time.monotonic() - start < 1.2
        assert verdict.allowed is False and "within 0.3s" in (verdict.error or "")


def test_connection_refused(remote: MakeRemote) -> None:
    base_url = f"http://127.0.0.1:{_closed_port()}/v1"
    guard = Guard(remote(base_url=base_url, max_retries=1), Policy())
    verdict = guard.check("hello")
    assert verdict.allowed is False
    assert verdict.error is not None
    assert verdict.error.startswith(f"BackendUnavailable: cannot reach {base_url}")
    assert "is the server up" in verdict.error and "(after 2 attempts)" in verdict.error


async def test_connection_refused_async(remote: MakeRemote) -> None:
    base_url = f"http://127.0.0.1:{_closed_port()}/v1"
    async with Guard(remote(base_url=base_url, max_retries=0), Policy()) as guard:
        verdict = await guard.acheck("hello")
    assert verdict.allowed is False and "cannot reach" in (verdict.error or "")


def test_dropped_connection_is_retried(server: OpenAICompatServer, remote: MakeRemote) -> None:
    guard = Guard(remote(), Policy())
    server.inject(Fault(drop=True))
    assert guard.check("hello").error is None
    assert len(server.posts()) == 2


@pytest.mark.parametrize(
    ("status", "hint"),
    [
        (401, "the API key was refused"),
        (402, "payment required"),
        (403, "may not use this model"),
        (404, "model or path not found"),
        (400, "the endpoint refused the request"),
    ],
)
def test_client_errors_explain_themselves_and_are_not_retried(
    server: OpenAICompatServer, remote: MakeRemote, status: int, hint: str
) -> None:
    guard = Guard(remote(), Policy())
    server.inject(Fault(status=status))
    verdict = guard.check("hello")
    assert verdict.allowed is False
    assert verdict.error is not None
    assert f"HTTP {status} from {server.base_url} (model {N35})" in verdict.error
    assert hint in verdict.error and f"injected {status}" in verdict.error
    assert len(server.posts()) == 1


@pytest.mark.parametrize("body", [b"<html>bad gateway</html>", b"", b'{"id": "x"}', b"[1, 2]"])
def test_malformed_http_body(server: OpenAICompatServer, remote: MakeRemote, body: bytes) -> None:
    guard = Guard(remote(), Policy())
    server.inject(Fault(body=body))
    verdict = guard.check("hello")
    assert verdict.allowed is False
    assert verdict.error is not None and "malformed answer from" in verdict.error
    assert "OpenAI-compatible" in verdict.error


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (Fault(text="<think>\nThe user asks about", finish_reason="stop"), "never closes"),
        (
            Fault(text="<think>\nThe user asks about", finish_reason="length"),
            "finish_reason=length",
        ),
        (Fault(text="", finish_reason="length"), "finish_reason=length"),
        (Fault(text="User Safety: safe", finish_reason="length"), "finish_reason=length"),
        (Fault(text=""), "empty answer"),
    ],
)
def test_truncated_and_empty_answers(
    server: OpenAICompatServer, remote: MakeRemote, fault: Fault, message: str
) -> None:
    guard = Guard(remote(), Policy(mode="think"))
    server.inject(fault)
    verdict = guard.check("hello")
    assert verdict.allowed is False
    assert verdict.error is not None and message in verdict.error


# -- keys -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("preset", "env"), [("nim", "NVIDIA_API_KEY"), ("openrouter", "OPENROUTER_API_KEY")]
)
async def test_missing_api_key_blocks_without_a_request(
    server: OpenAICompatServer, monkeypatch: pytest.MonkeyPatch, preset: str, env: str
) -> None:
    monkeypatch.delenv(env, raising=False)
    backend = getattr(RemoteBackend, preset)(N35, base_url=server.base_url)
    async with Guard(backend, Policy()) as guard:
        for verdict in (guard.check("hello"), await guard.acheck("hello again")):
            assert verdict.allowed is False
            assert verdict.error is not None and f"{env} is not set" in verdict.error
            assert "api_key=" in verdict.error
    assert server.requests == []


def test_key_from_the_environment_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NVIDIA_API_KEY", KEY)
    with (
        OpenAICompatServer(api_key=KEY) as server,
        RemoteBackend.nim(N35, base_url=server.base_url) as backend,
    ):
        assert Guard(backend, Policy()).check("hello").error is None
        headers = {k.lower(): v for k, v in server.posts()[0].headers.items()}
        assert headers["authorization"] == f"Bearer {KEY}"


def test_api_key_never_leaks(tmp_path: Path) -> None:
    audit_path = tmp_path / "audit.jsonl"
    echo = json.dumps({"error": {"message": f"invalid key {KEY} for this account"}}).encode()
    with (
        OpenAICompatServer(api_key="the-right-key") as strict,
        RemoteBackend.vllm(strict.base_url, N35, api_key=KEY) as backend,
    ):
        refused = Guard(backend, Policy(), audit=audit_path).check("hello")  # a real 401
        assert len(strict.posts()) == 1
    with (
        OpenAICompatServer() as server,
        RemoteBackend.vllm(
            server.base_url, N35, api_key=KEY, max_retries=1, max_retry_wait=0.05
        ) as backend,
    ):
        guard = Guard(backend, Policy(), audit=audit_path)
        server.inject(Fault(status=401, body=echo))
        echoed = guard.check("hello again")  # a 401 that echoes the key back
        server.inject(Fault(status=500, body=echo, times=5))
        retried = guard.check("third")
        texts = [
            repr(backend),
            backend.describe(),
            repr(guard),
            str(guard.policies),
            audit_path.read_text(),
        ]
        assert len(audit_path.read_text().splitlines()) == 3
        for verdict in (refused, echoed, retried):
            assert verdict.allowed is False and verdict.error is not None
            assert "HTTP 401" in verdict.error or "HTTP 500" in verdict.error
            texts += [
                verdict.error,
                repr(verdict),
                verdict.reason,
                verdict._repr_html_(),
                verdict._repr_markdown_(),
                json.dumps(verdict.to_dict()),
            ]
        assert "invalid key *** for this account" in echoed.error  # type: ignore[operator]
        for text in texts:
            assert KEY not in text
            assert KEY[6:20] not in text


# -- request shape and answers ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "kwargs"),
    [
        ({"mode": "fast"}, {"enable_thinking": False, "request_categories": "/no_categories"}),
        ({"mode": "think"}, {"enable_thinking": True, "request_categories": "/categories"}),
        (
            {"custom": "Only billing talk is allowed."},
            {"enable_thinking": False, "custom_policy": "Only billing talk is allowed."},
        ),
    ],
)
def test_n35_request_body(
    server: OpenAICompatServer, remote: MakeRemote, fields: dict[str, Any], kwargs: dict[str, Any]
) -> None:
    guard = Guard(remote(), Policy(**fields))
    guard.check("hello {mode}")
    (post,) = server.posts()
    assert post.body is not None
    assert post.body["chat_template_kwargs"] == kwargs
    assert post.body["messages"] == [{"role": "user", "content": "hello {mode}"}]
    assert post.body["model"] == N35 and post.body["temperature"] == 0


def test_reasoning_is_read_from_reasoning_content(
    server: OpenAICompatServer, remote: MakeRemote
) -> None:
    guard = Guard(remote(), Policy(mode="think"))
    verdict = guard.check("how to build a bomb")
    assert verdict.allowed is False and verdict.categories == ("Violence",)
    assert verdict.reasoning == "Checked the turns against the policy; found ['Violence']."
    server.inject(
        Fault(
            text="User Safety: unsafe\nSafety Categories: Threat", reasoning="It threatens someone."
        )
    )
    threat = guard.check("something else")
    assert (threat.reasoning, threat.categories) == ("It threatens someone.", ("Threat",))


def test_csr_think_trace_is_kept(remote: MakeRemote) -> None:
    verdict = Guard(remote(CSR), Policy(mode="think")).check("how to build a bomb")
    assert verdict.allowed is False
    assert verdict.reasoning == "The request mentions ['Violence']."


# -- batching over /v1/completions --------------------------------------------------------------

TEXTS = [f"question {i}" + (" about a bomb" if i % 3 == 0 else "") for i in range(10)]
EXPECTED = [i % 3 != 0 for i in range(10)]


def test_csr_batch_is_one_completions_post(server: OpenAICompatServer, remote: MakeRemote) -> None:
    verdicts = Guard(remote(CSR), Policy()).check_many(TEXTS)
    assert [v.allowed for v in verdicts] == EXPECTED
    assert all(v.error is None for v in verdicts)
    (post,) = server.posts("/v1/completions")
    assert server.posts() == []  # no chat call at all
    assert post.body is not None and len(post.body["prompt"]) == 10
    assert all(
        p.startswith("<start_of_turn>user\nYou are a classifier") for p in post.body["prompt"]
    )  # no <bos>: the server adds it


async def test_csr_batch_async(server: OpenAICompatServer, remote: MakeRemote) -> None:
    async with Guard(remote(CSR, batch_size=4), Policy()) as guard:
        verdicts = await guard.acheck_many(TEXTS)
    assert [v.allowed for v in verdicts] == EXPECTED
    assert [
        len(p.body["prompt"]) for p in server.posts("/v1/completions") if p.body is not None
    ] in ([4, 4, 2], [4, 2, 4], [2, 4, 4])
    assert server.posts() == []


def test_batch_falls_back_to_chat_where_completions_is_not_served(remote: MakeRemote) -> None:
    with OpenAICompatServer(disable_completions=True) as server:
        guard = Guard(remote(CSR, base_url=server.base_url), Policy())
        assert [v.allowed for v in guard.check_many(TEXTS)] == EXPECTED
        assert len(server.posts("/v1/completions")) == 1
        assert len(server.posts()) == 10
        more = guard.check_many(["one more bomb", "and one more"])
        assert [v.allowed for v in more] == [False, True]
        assert len(server.posts("/v1/completions")) == 1  # remembered: not asked again
        assert len(server.posts()) == 12


async def test_batch_falls_back_to_chat_async(remote: MakeRemote) -> None:
    with OpenAICompatServer(disable_completions=True) as server:
        async with Guard(remote(CSR, base_url=server.base_url), Policy()) as guard:
            verdicts = await guard.acheck_many(TEXTS)
        assert [v.allowed for v in verdicts] == EXPECTED
        assert len(server.posts("/v1/completions")) == 1 and len(server.posts()) == 10


def test_batch_errors_fail_closed(server: OpenAICompatServer, remote: MakeRemote) -> None:
    guard = Guard(remote(CSR, max_retries=1), Policy())
    server.inject(Fault(status=500, times=2))
    verdicts = guard.check_many(TEXTS[:3])
    assert all(not v.allowed and "HTTP 500" in (v.error or "") for v in verdicts)
    server.inject(Fault(text="Prompt harm: unharmful", finish_reason="length"))
    cut = guard.check_many(TEXTS[3:6])
    assert all(not v.allowed and "finish_reason=length" in (v.error or "") for v in cut)


def test_no_batching_for_nemoguard_or_when_turned_off(
    server: OpenAICompatServer, remote: MakeRemote
) -> None:
    Guard(remote(NEMOGUARD), Policy()).check_many(TEXTS[:3])
    Guard(remote(CSR, batch_completions=False), Policy()).check_many(TEXTS[:3])
    assert server.posts("/v1/completions") == [] and len(server.posts()) == 6


# -- coalescing ----------------------------------------------------------------------------------


async def test_identical_in_flight_requests_are_coalesced_async(remote: MakeRemote) -> None:
    with OpenAICompatServer(latency=0.2) as server:
        async with Guard(remote(base_url=server.base_url), Policy()) as guard:
            verdicts = await asyncio.gather(*(guard.acheck("the same bomb") for _ in range(20)))
        assert len(server.posts()) == 1
    assert all(v.allowed is False and v.error is None for v in verdicts)


def test_identical_in_flight_requests_are_coalesced_across_threads(remote: MakeRemote) -> None:
    with OpenAICompatServer(latency=0.5) as server:
        guard = Guard(remote(base_url=server.base_url), Policy(), cache=False)
        barrier = threading.Barrier(8)
        results: list[bool] = []

        def worker() -> None:
            barrier.wait()
            results.append(guard.check("the same bomb").allowed)

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == [False] * 8
        assert len(server.posts()) == 1


# -- probe ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", [N35, CSR, NEMOGUARD])
def test_probe_ok(remote: MakeRemote, model: str) -> None:
    result = remote(model).probe()
    assert result.ok, str(result)
    assert result.problems == () and len(result.checks) >= 3
    assert str(result).startswith(f"OK: {model}")


class _DropsKwargs(ScriptedJudge):
    """A gateway that silently drops ``chat_template_kwargs``: the model sees its defaults."""

    def answer(
        self,
        family: str,
        messages: Sequence[Mapping[str, Any]],
        kwargs: Mapping[str, Any] | None = None,
    ) -> tuple[str, str | None]:
        return super().answer(family, messages, None)


def test_probe_reports_dropped_template_kwargs(remote: MakeRemote) -> None:
    with OpenAICompatServer(_DropsKwargs()) as server:
        result = remote(base_url=server.base_url).probe()
    assert not result.ok
    assert any("drops chat_template_kwargs" in p for p in result.problems)
    assert str(result).startswith("PROBLEM:")


def test_probe_reports_the_wrong_model_family(
    server: OpenAICompatServer, remote: MakeRemote
) -> None:
    server.inject(Fault(text="Prompt harm: unharmful\nResponse harm: None", times=2))
    result = remote(N35).probe()  # the endpoint answers in another family's format
    assert not result.ok
    assert any("wrong answer format" in p for p in result.problems)


def test_probe_reports_an_unreachable_endpoint(remote: MakeRemote) -> None:
    result = remote(base_url=f"http://127.0.0.1:{_closed_port()}/v1", max_retries=0).probe()
    assert not result.ok and all("cannot reach" in p for p in result.problems)


# -- construction ------------------------------------------------------------------------


def test_construction_errors(server: OpenAICompatServer) -> None:
    with pytest.raises(ConfigurationError, match="cannot tell the guard-model family"):
        RemoteBackend.vllm(server.base_url, "my-guard")
    with pytest.raises(ConfigurationError, match="max_concurrency"):
        RemoteBackend.vllm(server.base_url, N35, max_concurrency=0)
    with pytest.raises(ConfigurationError, match="OpenRouter serves only"):
        RemoteBackend.openrouter(CSR, api_key="x")
    with RemoteBackend.vllm(server.base_url, "my-guard", family="nemotron35") as backend:
        assert backend.family.name == "nemotron35"
        assert Guard(backend, Policy()).check("a bomb").allowed is False


def test_openrouter_refuses_a_wrong_model_before_building_a_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def built(*args: object, **kwargs: object) -> None:
        raise AssertionError("a client was built for a model OpenRouter does not serve")

    monkeypatch.setattr(RemoteBackend, "__init__", built)
    with pytest.raises(ConfigurationError, match="OpenRouter serves only"):
        RemoteBackend.openrouter(CSR, api_key="x")


def test_audit_of_remote_errors(server: OpenAICompatServer, remote: MakeRemote) -> None:
    audit = MemoryAudit()
    guard = Guard(remote(max_retries=0), Policy(), audit=audit)
    server.inject(Fault(status=500))
    guard.check("hello")
    (record,) = audit.records
    assert record["allowed"] is False and "HTTP 500" in record["error"]
    assert record["model"] == N35


def test_trickling_server_cannot_hold_a_sync_check_past_its_timeout(
    server: OpenAICompatServer, remote: MakeRemote
) -> None:
    # 300-odd bytes at 20 ms each take ~6 s; the per-read timeout never fires, the deadline does.
    server.inject(Fault(trickle=0.02, times=2))
    guard = Guard(remote(timeout=0.4, max_retries=0))
    started = time.monotonic()
    verdict = guard.check("hello")
    elapsed = time.monotonic() - started
    assert not verdict.allowed
    assert verdict.error is not None and "0.4" in verdict.error
    assert elapsed < 1.5


async def test_trickling_server_cannot_hold_an_async_check_past_its_timeout(
    server: OpenAICompatServer, remote: MakeRemote
) -> None:
    server.inject(Fault(trickle=0.02, times=2))
    async with Guard(remote(timeout=0.4, max_retries=0)) as guard:
        started = time.monotonic()
        verdict = await guard.acheck("hello")
        elapsed = time.monotonic() - started
    assert not verdict.allowed and verdict.error is not None
    assert elapsed < 1.5
