"""The fault matrix: every endpoint fault x every surface x sync/async x policy.

- default policy (``on_error: block``): nothing passes; the caller is told why (the reason
  names the guard error and what to do); every verdict is audited as a blocked error.
- ``on_error: allow``: everything passes; every verdict is audited as an allowed error.
- every action ``flag`` (still ``on_error: block``): a flag marks judged content; content
  the guard could not judge must not pass.
- retries stop at their budget: each guard request makes exactly ``max_retries + 1`` POSTs
  for a retryable fault and one for any other.

One test per surface, mode and policy runs every fault case as a subtest (one failure
report per case), over one faultable loopback server, so the ~1,000 cases take seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from guard_core.audit import MemoryAudit
from guard_core.backends import RemoteBackend
from guard_core.testing import OpenAICompatServer

from .faults import CASES, MAX_RETRIES, SLOW_TIMEOUT, TIMEOUT, Case, closed_port
from .surfaces import DRIVERS, N35, Ctx, Driver, PolicyKind, Result, policy

# GuardDocumentFilter drops what it cannot clear without raising (documented): the reason
# is in the verdict and the audit record, which every case checks.
_SILENT_DROP = {("lc-documents", "async")}
# Under an action "flag", content the guard could not judge must still be blocked.
_FLAG_CASES = ("timeout", "http-503", "malformed-disagreeing-lines")


@dataclass
class Endpoints:
    """Faultable guard servers, and a URL where nothing listens.

    Slow cases get their own server: a request the client gave up on may be recorded
    late, so only the other server's requests are counted."""

    server: OpenAICompatServer
    slow: OpenAICompatServer
    refused_url: str

    def reset(self, case: Case) -> None:
        for server in (self.server, self.slow):
            with server._lock:  # leftover faults of the previous case must not leak
                server._faults.clear()
        if case.fault is not None:
            (self.slow if case.timeout == SLOW_TIMEOUT else self.server).inject(case.fault)

    def posts(self) -> int:
        return sum(1 for r in self.server.requests if r.body is not None)


@pytest.fixture(scope="module")
def endpoints() -> Iterator[Endpoints]:
    with OpenAICompatServer() as server, OpenAICompatServer() as slow:
        yield Endpoints(server, slow, f"http://127.0.0.1:{closed_port()}/v1")


def _backends(endpoints: Endpoints) -> dict[str, RemoteBackend]:
    def make(url: str, timeout: float) -> RemoteBackend:
        return RemoteBackend.vllm(
            url,
            N35,
            timeout=timeout,
            connect_timeout=1.0,
            max_retries=MAX_RETRIES,
            max_retry_wait=0.001,
        )

    return {
        "normal": make(endpoints.server.base_url, TIMEOUT),
        "slow": make(endpoints.slow.base_url, SLOW_TIMEOUT),
        "refused": make(endpoints.refused_url, TIMEOUT),
    }


def _pick(backends: dict[str, RemoteBackend], case: Case) -> RemoteBackend:
    if case.fault is None:
        return backends["refused"]
    return backends["slow" if case.timeout == SLOW_TIMEOUT else "normal"]


def check_case(
    case: Case,
    driver: Driver,
    mode: str,
    kind: PolicyKind,
    result: Result,
    audit: MemoryAudit,
    posts: int | None,
) -> None:
    """Everything one fault case must satisfy on one surface."""
    assert audit.records, "every screening is audited"
    for record in audit.records:
        assert record["error"] is not None, record
        for needle in case.expect:
            assert needle in record["error"], (needle, record["error"])
        assert record["allowed"] is (kind == "allow")
    if posts is not None:
        # retries stop at their budget: one request per verdict, each 1 + retries at most
        assert posts == case.attempts * len(audit.records), (posts, len(audit.records))
    if kind == "allow":
        assert result.passed, f"on_error=allow must let content through: {result}"
        return
    assert not result.passed, f"content passed although the guard failed: {result}"
    if result.reason is None:
        assert (driver.name, mode) in _SILENT_DROP, "a block must say why"
    else:
        assert "guard error" in result.reason, result.reason
        for needle in case.expect:
            assert needle in result.reason, (needle, result.reason)
    if driver.name in ("lc-callbacks", "lc-middleware-tools", "li-tools", "openai"):
        assert not result.ran, "a tool or model call the guard could not clear must not run"


def _cases(driver: Driver, mode: str, names: tuple[str, ...] | None = None) -> list[Case]:
    return [
        c
        for c in CASES
        if not (c.async_only and mode == "sync")
        and not (c.core_only and driver.name != "core")
        and (names is None or c.name in names)
    ]


def run_cases(
    driver: Driver,
    mode: str,
    kind: PolicyKind,
    endpoints: Endpoints,
    main: OpenAICompatServer,
    cases: list[Case],
    subtests: pytest.Subtests,
) -> None:
    backends = _backends(endpoints)

    def prepare(case: Case) -> tuple[Ctx, int]:
        endpoints.reset(case)
        ctx = Ctx(_pick(backends, case), policy(kind), MemoryAudit(), main)
        return ctx, endpoints.posts()

    def finish(case: Case, ctx: Ctx, result: Result, before: int) -> None:
        counted = case.fault is not None and case.timeout != SLOW_TIMEOUT
        posts = endpoints.posts() - before if counted else None
        with subtests.test(case=case.name):
            check_case(case, driver, mode, kind, result, ctx.audit, posts)

    try:
        if mode == "sync":
            for case in cases:
                ctx, before = prepare(case)
                finish(case, ctx, driver.sync(ctx), before)
        else:

            async def all_cases() -> None:
                try:
                    for case in cases:
                        ctx, before = prepare(case)
                        finish(case, ctx, await driver.asyn(ctx), before)
                finally:
                    for backend in backends.values():
                        await backend.aclose()

            asyncio.run(all_cases())
    finally:
        for backend in backends.values():
            backend.close()


@pytest.mark.parametrize("kind", ["block", "allow"])
@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_every_fault(
    driver: Driver,
    mode: str,
    kind: PolicyKind,
    endpoints: Endpoints,
    main: OpenAICompatServer,
    subtests: pytest.Subtests,
) -> None:
    run_cases(driver, mode, kind, endpoints, main, _cases(driver, mode), subtests)


def _flag_params() -> list[object]:
    return [
        pytest.param(d, mode, id=f"{d.name}-{mode}") for d in DRIVERS for mode in ("sync", "async")
    ]


@pytest.mark.parametrize(("driver", "mode"), _flag_params())
def test_flag_action_never_passes_unjudged_content(
    driver: Driver, mode: str, endpoints: Endpoints, main: OpenAICompatServer
) -> None:
    failures: list[str] = []

    class Collect:
        """Subtests stand-in: collects failures so one xfail covers the surface."""

        def test(self, **kwargs: object) -> _Catch:
            return _Catch(failures, str(kwargs))

    run_cases(driver, mode, "flag", endpoints, main, _cases(driver, mode, _FLAG_CASES), Collect())  # type: ignore[arg-type]
    assert not failures, "\n".join(failures)


class _Catch:
    def __init__(self, failures: list[str], label: str) -> None:
        self.failures, self.label = failures, label

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> bool:
        if isinstance(exc, AssertionError):
            self.failures.append(f"{self.label}: {exc}")
            return True
        return False
