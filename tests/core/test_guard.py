"""Guard behaviour: agents, surfaces, exclusions, cache, windowing, images, loops, reprs."""

from __future__ import annotations

import json
import pickle
from collections.abc import Sequence
from pathlib import Path

import pytest

from guard_core import (
    ConfigurationError,
    Guard,
    GuardViolation,
    Policy,
    PolicySet,
    Verdict,
    Windowing,
)
from guard_core.audit import MemoryAudit
from guard_core.backends.base import Backend, Outcome
from guard_core.content import (
    AssistantMessage,
    Image,
    RetrievedChunk,
    ToolCall,
    ToolResult,
    UserMessage,
)
from guard_core.models import Completion, GuardRequest, get_family
from guard_core.testing import Fault, OpenAICompatServer, ScriptedBackend
from guard_core.verdict import PolicyRef

from ._support import CSR, N35, NEMOGUARD, MakeRemote

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8
WORDS = {"bomb": "Violence", "kill the process": "Violence", "idiot": "Harassment"}


def test_check_many_keeps_order_and_dedups_identical_requests() -> None:
    backend = ScriptedBackend(WORDS)
    guard = Guard(backend, Policy(mode="categories"))
    verdicts = guard.check_many(["hello", "a bomb", "hello", "you idiot", "a bomb"])
    assert [v.allowed for v in verdicts] == [True, False, True, False, False]
    assert [v.categories for v in verdicts] == [
        (),
        ("Violence",),
        (),
        ("Harassment",),
        ("Violence",),
    ]
    assert len(backend.requests) == 3
    with pytest.raises(TypeError, match="iterable of items"):
        guard.check_many("hello")


async def test_acheck_and_acheck_many() -> None:
    guard = Guard(ScriptedBackend(WORDS), Policy())
    assert (await guard.acheck("a bomb")).allowed is False
    verdicts = await guard.acheck_many([UserMessage("hi"), RetrievedChunk("a bomb recipe")])
    assert [(v.allowed, v.surface) for v in verdicts] == [(True, "input"), (False, "retrieval")]


def test_per_agent_policies() -> None:
    policies = PolicySet(
        {
            "devops": Policy(name="devops", exclude_categories={"Violence"}),
            "support": Policy(name="support", mode="categories"),
        },
        default=Policy(name="general"),
    )
    guard = Guard(ScriptedBackend(WORDS), policies)
    devops = guard.check("kill the process 4242", agent="devops")
    general = guard.check("kill the process 4242")
    other = guard.check("kill the process 4242", agent="unknown-agent")
    assert (devops.allowed, devops.policy.name, devops.agent) == (True, "devops", "devops")
    assert (general.allowed, general.policy.name, general.agent) == (False, "general", None)
    assert (other.allowed, other.policy.name) == (False, "general")
    assert devops.policy.version == policies.get("devops").version
    assert guard.policy_for("support").mode == "categories"


def test_surfaces_not_screened_are_allowed_unscreened_and_not_sent() -> None:
    backend = ScriptedBackend(WORDS)
    audit = MemoryAudit()
    guard = Guard(backend, Policy(surfaces={"input"}), audit=audit)
    for item in (
        AssistantMessage("a bomb"),
        ToolCall("bomb", {"x": "bomb"}),
        ToolResult("t", "bomb"),
        RetrievedChunk("bomb"),
        Image(data=PNG),
    ):
        verdict = guard.check(item)
        assert verdict.allowed and verdict.screened is False and verdict.error is None
        assert verdict.surface == item.surface
    assert backend.requests == [] and audit.records == []
    assert guard.check("bomb").screened is True


def test_empty_text_is_not_sent() -> None:
    backend = ScriptedBackend()
    verdict = Guard(backend).check("   ")
    assert verdict.allowed and not verdict.screened and backend.requests == []


@pytest.mark.parametrize("model", [N35, NEMOGUARD])
def test_exclusions_post_filter(model: str) -> None:
    guard = Guard(
        ScriptedBackend(WORDS, model=model), Policy(name="ops", exclude_categories={"Violence"})
    )
    only_excluded = guard.check("kill the process now")
    mixed = guard.check("kill the process, you idiot")
    assert only_excluded.allowed is True and only_excluded.categories == ()
    assert mixed.allowed is False and mixed.categories == ("Harassment",)


def test_exclusions_do_not_pass_an_unsafe_answer_without_categories(
    server: OpenAICompatServer, remote: MakeRemote
) -> None:
    guard = Guard(remote(), Policy(exclude_categories={"Violence"}))
    server.inject(Fault(text="User Safety: unsafe"))
    verdict = guard.check("something")
    assert verdict.allowed is False and verdict.error is None
    post = server.posts()[0]
    assert post.body is not None
    assert post.body["chat_template_kwargs"]["request_categories"] == "/categories"


def test_cache_hits_skip_the_backend() -> None:
    backend = ScriptedBackend(WORDS)
    guard = Guard(
        backend, PolicySet({"a": Policy(name="a"), "b": Policy(name="b", mode="categories")})
    )
    first = guard.check("a bomb", agent="a")
    second = guard.check("a bomb", agent="a")
    assert (first.cached, second.cached) == (False, True)
    assert (first.allowed, second.allowed) == (False, False)
    assert len(backend.requests) == 1
    other_policy = guard.check("a bomb", agent="b")  # another policy: another question
    assert other_policy.cached is False and len(backend.requests) == 2
    assert guard.cache is not None and guard.cache.hits == 1


def test_cache_hits_over_http_send_nothing(server: OpenAICompatServer, remote: MakeRemote) -> None:
    guard = Guard(remote(), Policy())
    assert not guard.check("hello").cached
    assert guard.check("hello").cached
    assert len(server.posts()) == 1


def test_cache_off() -> None:
    backend = ScriptedBackend()
    guard = Guard(backend, cache=False)
    guard.check("x")
    assert guard.check("x").cached is False and len(backend.requests) == 2


def test_windowing_any_unsafe_window_blocks() -> None:
    backend = ScriptedBackend(WORDS)
    guard = Guard(
        backend, Policy(mode="categories"), windowing=Windowing(window_chars=100, overlap_chars=20)
    )
    safe_text = ("All is well here. " * 30)[:500]
    assert guard.check(safe_text).allowed
    windows = len(backend.requests)
    assert windows >= 5
    joined = "".join(r.messages[0]["content"] for r in backend.requests)
    assert all(len(r.messages[0]["content"]) <= 100 for r in backend.requests)
    assert len(joined) >= len(safe_text)
    backend.requests.clear()
    verdict = guard.check(safe_text + " a bomb at the very end")
    assert verdict.allowed is False and verdict.categories == ("Violence",)
    straddling = "x" * 95 + "bomb" + "y" * 200  # "bomb" crosses the first window's edge
    assert guard.check(straddling).allowed is False


def test_windowing_applies_to_responses_and_truncates_context() -> None:
    backend = ScriptedBackend(WORDS)
    guard = Guard(
        backend, Policy(), windowing=Windowing(window_chars=100, overlap_chars=10, context_chars=30)
    )
    context = "c" * 200 + "END_OF_QUESTION"
    verdict = guard.check(AssistantMessage("fine. " * 30 + "bomb", context=context))
    assert verdict.allowed is False
    assert len(backend.requests) > 1
    for request in backend.requests:
        assert request.messages[0]["content"] == context[-30:]
        assert request.slot == "response"


def test_text_over_the_window_limit_is_a_blocking_error() -> None:
    backend = ScriptedBackend()
    guard = Guard(
        backend, Policy(), windowing=Windowing(window_chars=100, overlap_chars=10, max_windows=3)
    )
    verdict = guard.check("x" * 1000)
    assert verdict.allowed is False
    assert verdict.error is not None and verdict.error.startswith("ContentError: text of 1000")
    assert "max_windows" in verdict.error
    assert backend.requests == []


def test_long_text_next_to_an_image_is_screened_in_full() -> None:
    backend = ScriptedBackend(WORDS)
    guard = Guard(backend, Policy(), windowing=Windowing(window_chars=100, overlap_chars=10))
    message = UserMessage("harmless words " * 20 + "and a bomb", images=(Image(data=PNG),))
    assert guard.check(message).allowed is False


@pytest.mark.parametrize(
    "fields",
    [
        {"window_chars": 0},
        {"overlap_chars": 100, "window_chars": 100},
        {"overlap_chars": -1},
        {"max_windows": 0},
        {"context_chars": -1},
    ],
)
def test_windowing_validation(fields: dict[str, int]) -> None:
    with pytest.raises(ConfigurationError, match="Windowing"):
        Windowing(**fields)


@pytest.mark.parametrize("model", [CSR, NEMOGUARD])
def test_image_on_a_text_only_family_is_blocked_with_a_clear_error(model: str) -> None:
    backend = ScriptedBackend(model=model)
    guard = Guard(backend, Policy())
    for item in (Image(data=PNG, caption="hi"), UserMessage("look", images=(Image(data=PNG),))):
        verdict = guard.check(item)
        assert verdict.allowed is False
        assert verdict.error is not None and "reads text only" in verdict.error
        assert "nvidia/nemotron-3.5-content-safety" in verdict.error
    assert backend.requests == []


def test_images_are_screened_on_n35() -> None:
    backend = ScriptedBackend(WORDS)
    guard = Guard(backend, Policy())
    assert guard.check(Image(data=PNG, caption="a bomb diagram")).allowed is False
    assert guard.check(Image(data=PNG, caption="a cat")).allowed is True
    two = UserMessage("hi", images=(Image(data=PNG), Image(url="https://x.test/bomb.png")))
    assert guard.check(two).allowed is False  # one request per image, any unsafe one blocks


def test_check_works_inside_a_running_event_loop(remote: MakeRemote) -> None:
    """What Jupyter does: sync calls from code that runs inside an event loop."""
    import asyncio

    async def main() -> list[Verdict]:
        guard = Guard(remote(), Policy())
        asyncio.get_running_loop()  # really inside a running loop
        return [guard.check("hello"), *guard.check_many(["a bomb", "fine"])]

    loop = asyncio.new_event_loop()
    try:
        verdicts = loop.run_until_complete(main())
    finally:
        loop.close()
    assert [v.allowed for v in verdicts] == [True, False, True]
    assert all(v.error is None for v in verdicts)


async def test_sync_check_from_an_async_test(remote: MakeRemote) -> None:
    async with Guard(remote(), Policy()) as guard:
        assert guard.check("hello").allowed is True  # no asyncio.run inside: must not raise
        assert guard.check("a bomb").allowed is False
        assert (await guard.acheck("another bomb")).allowed is False


class _Broken(Backend):
    def __init__(self, answer: str | None = None, count: int | None = None) -> None:
        self.model = N35
        self.family = get_family("nemotron35")
        self._answer, self._count = answer, count

    def classify(self, requests: Sequence[GuardRequest]) -> list[Outcome]:
        if self._answer is None:
            raise RuntimeError("backend exploded")
        return [Completion(self._answer)] * (
            self._count if self._count is not None else len(requests)
        )

    async def aclassify(self, requests: Sequence[GuardRequest]) -> list[Outcome]:
        return self.classify(requests)


async def test_backend_bugs_fail_closed() -> None:
    exploding = Guard(_Broken())
    for verdict in (exploding.check("x"), (await exploding.acheck_many(["y"]))[0]):
        assert verdict.allowed is False and "backend exploded" in (verdict.error or "")
    short = Guard(_Broken("User Safety: safe", count=1))
    verdicts = short.check_many(["a", "b"])
    assert [v.allowed for v in verdicts] == [False, False]
    assert "answered 1 outcomes for 2 requests" in (verdicts[0].error or "")


def test_raise_for_block_and_guard_violation() -> None:
    guard = Guard(ScriptedBackend(WORDS), Policy(mode="categories"))
    allowed = guard.check("fine")
    assert allowed.raise_for_block() is allowed
    blocked = guard.check("a bomb")
    with pytest.raises(
        GuardViolation, match=r"input blocked by policy 'default' \(Violence\)"
    ) as info:
        blocked.raise_for_block()
    assert info.value.verdict is blocked
    clone = pickle.loads(pickle.dumps(info.value))
    assert clone.verdict == blocked


def test_decision_follows_the_policy_action() -> None:
    guard = Guard(ScriptedBackend(WORDS), Policy(actions={"retrieval": "drop", "output": "redact"}))
    assert guard.check(RetrievedChunk("bomb")).decision == "drop"
    assert guard.check(AssistantMessage("bomb")).decision == "redact"
    assert guard.check(UserMessage("bomb")).decision == "block"
    assert guard.check(RetrievedChunk("fine")).decision == "allow"


def test_guard_cannot_be_pickled_and_has_a_plain_repr() -> None:
    guard = Guard(ScriptedBackend(), Policy(name="p"))
    with pytest.raises(TypeError, match="live connections"):
        pickle.dumps(guard)
    assert repr(guard) == (
        "Guard(ScriptedBackend(model='nvidia/nemotron-3.5-content-safety'), "
        "PolicySet(agents=[], default='p'))"
    )


def test_audit_file_records_and_content_hashes(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "audit.jsonl"
    guard = Guard(ScriptedBackend(WORDS), Policy(name="p", mode="categories"), audit=path)
    other_png = PNG[:-1] + b"\x01"  # same size: the repr alone cannot tell them apart
    guard.check_many(
        [UserMessage("a bomb"), Image(data=PNG), Image(data=other_png), UserMessage("secret text")]
    )
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["allowed"] for r in records] == [False, True, True, True]
    assert records[0]["categories"] == ["Violence"] and records[0]["policy"] == "p"
    assert records[1]["content_sha256"] != records[2]["content_sha256"]
    assert "secret text" not in path.read_text()
    assert all(r["time"].endswith("Z") for r in records)


# -- notebook reprs ---------------------------------------------------------------------------


def _verdict(**fields: object) -> Verdict:
    base: dict[str, object] = {
        "allowed": False,
        "surface": "output",
        "policy": PolicyRef("p<b>", "abc123"),
        "latency_ms": 12.345,
    }
    return Verdict(**{**base, **fields})  # type: ignore[arg-type]


def test_verdict_repr() -> None:
    verdict = _verdict(categories=("Violence", "Threat"), score=0.9876, cached=True)
    assert repr(verdict) == (
        "Verdict(allowed=False, surface='output', policy='p<b>', "
        "categories=['Violence', 'Threat'], score=0.988, cached=True, "
        "latency_ms=12.3)"
    )
    errored = _verdict(error="BackendError: down", allowed=True)
    assert repr(errored) == (
        "Verdict(allowed=True, surface='output', policy='p<b>', "
        "error='BackendError: down', latency_ms=12.3)"
    )


def test_verdict_html_escapes_everything() -> None:
    verdict = _verdict(
        reasoning="<script>alert('x')</script>",
        categories=("<img src=x>",),
        error="<b>bad</b>",
        agent="<i>agent</i>",
    )
    page = verdict._repr_html_()
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<img" not in page and "<b>bad" not in page and "<i>agent" not in page
    assert "p&lt;b&gt; (abc123)" in page
    assert "BLOCKED (block)" in page


def test_verdict_markdown_escapes_everything() -> None:
    verdict = _verdict(
        reasoning="<script>x</script> | *bold* [link](http://x)\nline2", allowed=True
    )
    text = verdict._repr_markdown_()
    assert text.startswith("**ALLOWED**")
    assert "<script>" not in text and "\\<script\\>" in text
    assert "\\| \\*bold\\* \\[link\\]\\(http://x\\)<br>line2" in text
    row = next(line for line in text.splitlines() if line.startswith("| reasoning"))
    assert row.count(" | ") == 1  # the pipe inside the value cannot open a new column
