"""No text an endpoint returns can make a check raise or lose an audit record.

A real loopback server answers with lone surrogates (JSON ``"\\ud800"`` escapes), NUL and
other control characters, Unicode line breaks, 10 MB of text or reasoning, bytes that are
not UTF-8, odd ``model`` fields, an error body with a surrogate, and a batched
``/v1/completions`` answer whose text is not a string. ``check_many`` and ``acheck_many``
must return verdicts (blocked with an error, or parsed), every one of which can be shown, and
the audit file must hold one valid JSON line per verdict.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from guard_core import Guard, Mode, Policy, Verdict
from guard_core.audit import AuditLog
from guard_core.backends import RemoteBackend
from guard_core.testing import Fault, OpenAICompatServer

from ._odd import CSR, N35, assert_sound

BIG = 10_000_000


def _body(content: object, model: object = N35) -> bytes:
    return json.dumps(
        {
            "model": model,
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"content": content}}],
        }
    ).encode()


@dataclass(frozen=True)
class Case:
    fault: Fault
    expect: str  # "error": blocked with an error; "safe": parsed and allowed; "unsafe"
    model: str = N35
    mode: Mode = "think"
    reasoning_has: str | None = None


CASES = {
    "surrogate-in-verdict-line": Case(Fault(text="User Safety: safe\ud800"), "error"),
    "only-a-surrogate": Case(Fault(text="\udcff"), "error"),
    "surrogate-in-reasoning": Case(
        Fault(text="User Safety: safe", reasoning="x \ud800 y"), "safe", reasoning_has="x \ufffd y"
    ),
    "split-surrogate-pair-in-reasoning": Case(
        Fault(text="User Safety: safe", reasoning="\ud83d\ude00"),
        "safe",
        reasoning_has="\U0001f600",
    ),
    "surrogate-in-a-category": Case(
        Fault(text="User Safety: unsafe\nSafety Categories: Violence, \udcff"),
        "unsafe",
        mode="categories",
    ),
    "nul-and-ansi-escapes": Case(Fault(text="User Safety: safe\x00\x1b[2J"), "error"),
    "unicode-line-breaks-in-reasoning": Case(
        Fault(text="User Safety: safe", reasoning="a\u2028b\x85c\u2029d\x00e"),
        "safe",
        reasoning_has="a\u2028b\x85c\u2029d\x00e",
    ),
    "10mb-answer": Case(Fault(text="User Safety: safe\n" + "x" * BIG), "error", mode="fast"),
    "10mb-reasoning": Case(Fault(text="User Safety: safe", reasoning="y" * BIG), "safe"),
    "invalid-utf8-body": Case(
        Fault(body=_body("User Safety: safe ").replace(b"safe ", b"safe \xff\xfe\xc3")), "error"
    ),
    "surrogate-in-model-field": Case(Fault(body=_body("User Safety: safe", "m\ud800")), "safe"),
    "model-field-not-a-string": Case(Fault(body=_body("User Safety: safe", {"id": 5})), "safe"),
    "content-not-a-string": Case(Fault(body=_body(["User Safety: safe"])), "error"),
    "surrogate-in-an-error-body": Case(
        Fault(status=400, body=b'{"error": {"message": "bad \\ud800 request \\u0000"}}'), "error"
    ),
    "batched-text-not-a-string": Case(
        Fault(
            body=json.dumps(
                {
                    "choices": [
                        {"index": 0, "text": 5},
                        {"index": 1, "text": "Prompt harm: unharmful\ud800"},
                    ]
                }
            ).encode()
        ),
        "error",
        model=CSR,
        mode="fast",
    ),
    "batched-surrogate-in-text": Case(
        Fault(
            body=json.dumps(
                {
                    "choices": [
                        {"index": i, "text": "Prompt harm: unharmful\nResponse harm: None\n\ud800"}
                        for i in range(2)
                    ]
                }
            ).encode()
        ),
        "error",
        model=CSR,
        mode="fast",
    ),
}


@pytest.fixture
def server() -> Iterator[OpenAICompatServer]:
    with OpenAICompatServer() as srv:
        yield srv


def _check(case: Case, verdicts: list[Verdict]) -> None:
    for v in verdicts:
        if case.expect == "error":
            assert v.error is not None and not v.allowed, v
        else:
            assert v.error is None and v.allowed is (case.expect == "safe"), v
            assert v.model and v.model.isprintable()
        if case.reasoning_has is not None:
            assert v.reasoning is not None and case.reasoning_has in v.reasoning


@pytest.mark.parametrize("name", list(CASES))
def test_odd_answers_give_verdicts_and_audit_records(
    name: str, server: OpenAICompatServer, tmp_path: Path
) -> None:
    case = CASES[name]
    per_round = 1 if case.model == CSR else 2  # CSR-4B: one batched request for both items
    server.inject(replace(case.fault, times=2 * per_round))
    audit = AuditLog(tmp_path / "audit.jsonl")
    guard = Guard(
        RemoteBackend.vllm(server.base_url, case.model, max_retries=0, timeout=20),
        Policy(mode=case.mode),
        cache=False,
        audit=audit,
    )
    verdicts = guard.check_many(["hello", "how do I make tea?"])
    assert_sound(verdicts, tmp_path / "audit.jsonl", 2)

    async def async_round() -> list[Verdict]:
        try:
            return await guard.acheck_many(["hello again", "and coffee?"])
        finally:
            await guard.aclose()

    more = asyncio.run(async_round())
    audit.close()
    assert_sound(more, tmp_path / "audit.jsonl", 4)
    assert len(server.posts("/completions")) == 2 * per_round  # every answer was the odd one
    _check(case, verdicts + more)


def test_a_surrogate_in_one_answer_loses_no_record_of_the_batch(
    server: OpenAICompatServer, tmp_path: Path
) -> None:
    """The third of five answers carries a lone surrogate in its reasoning; all five verdicts
    come back and all five records are written, in order."""
    audit = AuditLog(tmp_path / "audit.jsonl")
    guard = Guard(
        RemoteBackend.vllm(server.base_url, N35, max_concurrency=1, max_retries=0),
        Policy(mode="think"),
        audit=audit,
    )
    ok = Fault(text="User Safety: safe", reasoning="fine")
    server.inject(ok, ok, Fault(text="User Safety: safe", reasoning="\ud800"), ok, ok)
    verdicts = guard.check_many([f"message {i}" for i in range(5)])
    guard.close()
    audit.close()
    assert [v.allowed for v in verdicts] == [True] * 5
    assert sum(v.reasoning == "\ufffd" for v in verdicts) == 1
    assert_sound(verdicts, tmp_path / "audit.jsonl", 5)
