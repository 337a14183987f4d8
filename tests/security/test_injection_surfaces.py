"""The injection corpus through every surface (core, LangChain, LlamaIndex, OpenAI wrapper)
and every guard-model family, over real HTTP to a loopback guard.

For each entry: every request the guard endpoint receives has exactly the structure a
harmless text gets (no forged control token, no extra delimiter, raw ``/v1/completions``
prompts included); the guard's answer is read as given (the scripted guard says "unsafe",
the input's fake "safe" lines change nothing): no verdict is an error, content with the
payload is blocked.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from functools import cache

import pytest
from reliability.surfaces import CSR, DRIVERS, N35, NEMOGUARD, Ctx, Driver, policy

from guard_core import Policy
from guard_core.audit import MemoryAudit
from guard_core.backends import RemoteBackend
from guard_core.content import AssistantMessage, UserMessage
from guard_core.models import get_family
from guard_core.screening import Windowing, plan
from guard_core.testing import OpenAICompatServer, ScriptedJudge

from .corpus import CORPUS, LONG_ENTRIES, UNSAFE, Entry, request_texts, structure

MODELS = {"csr4b": CSR, "nemoguard8b": NEMOGUARD, "nemotron35": N35}
# flag keeps a judged-unsafe node, marked (the driver uses it to see unjudged nodes dropped)
_KEEPS_FLAGGED = {"li-postprocessor"}


@cache
def _allowed_structures(family_name: str) -> list[Counter[str]]:
    """What a harmless exchange's request texts look like, in every form sent."""
    family = get_family(family_name)
    out = []
    for item in (UserMessage("What is tea?"), AssistantMessage("Tea.", context="What is tea?")):
        for request in plan(item, Policy(), None, family, Windowing()).requests:
            if family.renders_prompt:
                assert request.prompt is not None
                out.append(structure(family_name, request.prompt))
                if family_name == "csr4b":  # sent pre-templated to /v1/completions
                    out.append(structure(family_name, family.raw_prompt(request)))
            else:
                out += [
                    structure(family_name, t)
                    for t in request_texts({"messages": list(request.messages)})
                ]
    return out


def _check(
    entry: Entry,
    driver: Driver,
    family_name: str,
    result: object,
    audit: MemoryAudit,
    bodies: list[dict[str, object]],
) -> None:
    allowed = _allowed_structures(family_name)
    assert bodies, "the guard was asked"
    for body in bodies:
        for text in request_texts(body):
            assert structure(family_name, text) in allowed, (
                f"forged structure: {structure(family_name, text)} not in {allowed}"
            )
    errors = [r["error"] for r in audit.records if r["error"]]
    assert not errors, errors
    assert any(not r["allowed"] for r in audit.records), "the payload was judged unsafe"
    if driver.name not in _KEEPS_FLAGGED:
        assert not result.passed, result  # type: ignore[attr-defined]


def _params() -> list[object]:
    return [
        pytest.param(d, f, mode, id=f"{d.name}-{f}-{mode}")
        for d in DRIVERS
        for f in MODELS
        for mode in ("sync", "async")
        if mode == "sync" or f == "nemotron35" or d.name == "core"
    ]


@pytest.mark.parametrize(("driver", "family_name", "mode"), _params())
def test_corpus(
    driver: Driver, family_name: str, mode: str, main: OpenAICompatServer, subtests: pytest.Subtests
) -> None:
    entries = CORPUS + LONG_ENTRIES if mode == "sync" else CORPUS
    with OpenAICompatServer(judge=ScriptedJudge(UNSAFE)) as server:
        backend = RemoteBackend.vllm(server.base_url, MODELS[family_name], max_retries=0)

        def prepare(entry: Entry) -> tuple[Ctx, int]:
            return Ctx(backend, policy("block"), MemoryAudit(), main, text=entry.text), len(
                server.requests
            )

        def finish(entry: Entry, ctx: Ctx, result: object, before: int) -> None:
            bodies = [r.body for r in server.requests[before:] if r.body is not None]
            with subtests.test(entry=entry.name):
                _check(entry, driver, family_name, result, ctx.audit, bodies)

        try:
            if mode == "sync":
                for entry in entries:
                    ctx, before = prepare(entry)
                    finish(entry, ctx, driver.sync(ctx), before)
            else:

                async def all_entries() -> None:
                    try:
                        for entry in entries:
                            ctx, before = prepare(entry)
                            finish(entry, ctx, await driver.asyn(ctx), before)
                    finally:
                        await backend.aclose()

                asyncio.run(all_entries())
        finally:
            backend.close()
