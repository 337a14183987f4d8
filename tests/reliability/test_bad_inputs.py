"""Bad inputs on every public entry point: a clear error or a documented behaviour, never a
crash deep in a framework, never an unscreened pass.

"Clear error" here means: a guard-core error (``ContentError``, ``ConfigurationError``,
``PolicyError``), or a ``TypeError`` / ``ValueError`` raised deliberately by guard-core or an
adapter (a ``raise`` statement in our code, not an accident in a loop), with a message.
Documented behaviours: empty text has nothing to judge and passes unscreened (``screened``
False, not audited); ``None`` inside a container passes a chain step untouched.
"""

from __future__ import annotations

import asyncio
import json
import linecache
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import pydantic
import pytest

from guard_core import Guard, GuardViolation, Item, Policy, PolicySet
from guard_core.audit import MemoryAudit
from guard_core.backends import RemoteBackend
from guard_core.content import AssistantMessage, Image, RetrievedChunk, ToolCall, ToolResult
from guard_core.errors import ConfigurationError, GuardError, PolicyError
from guard_core.testing import OpenAICompatServer, ScriptedBackend, chat_completion

from .surfaces import N35, tiny_png

TEN_MB = "tea " * (10 * 1024 * 1024 // 4)
NON_UTF8 = b"caf\xe9 bomb".decode("utf-8", "surrogateescape")  # what bad bytes become


def deep(levels: int = 100) -> dict[str, Any]:
    root: dict[str, Any] = {}
    node = root
    for _ in range(levels):
        node["a"] = {}
        node = node["a"]
    return root


def outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    """("returned", value) | ("blocked", GuardViolation) | ("raised", exception)."""
    try:
        return "returned", call()
    except GuardViolation as exc:
        return "blocked", exc
    except Exception as exc:
        return "raised", exc


def assert_clear_error(exc: BaseException, *words: str) -> None:
    assert isinstance(exc, GuardError | TypeError | ValueError), repr(exc)
    assert not isinstance(exc, RecursionError | UnicodeError), repr(exc)
    frame = traceback.extract_tb(exc.__traceback__)[-1]
    assert frame.lineno is not None
    if not isinstance(exc, pydantic.ValidationError):  # Policy is a documented pydantic model
        assert "site-packages" not in frame.filename, f"crashed in a framework: {frame}"
        line = linecache.getline(frame.filename, frame.lineno).strip()
        assert line.startswith("raise"), (
            f"not a deliberate error: {frame.filename}:{frame.lineno}: {line} ({exc!r})"
        )
    message = str(exc)
    assert len(message) > 15, message
    for word in words:
        assert word in message, (word, message)


@pytest.fixture
def backend() -> ScriptedBackend:
    return ScriptedBackend()


@pytest.fixture
def audit() -> MemoryAudit:
    return MemoryAudit()


@pytest.fixture
def guard(backend: ScriptedBackend, audit: MemoryAudit) -> Guard:
    return Guard(backend, Policy(name="strict"), audit=audit)


@pytest.fixture
def lenient(backend: ScriptedBackend, audit: MemoryAudit) -> Guard:
    return Guard(backend, Policy(name="lenient", on_error="allow"), audit=audit)


# -- core: Guard.check / acheck / check_many / acheck_many -----------------------------------


def _all_entry_points(guard: Guard, value: Any) -> list[tuple[str, Any]]:
    async def both() -> list[Any]:
        return [await guard.acheck(value), await guard.acheck_many([value])]

    return [
        outcome(lambda: guard.check(value)),
        outcome(lambda: guard.check_many([value])),
        outcome(lambda: asyncio.run(both())),
    ]


def _flat(value: Any) -> list[Any]:
    if isinstance(value, list):
        return [v for part in value for v in _flat(part)]
    return [value]


@pytest.mark.parametrize(
    "value",
    [None, b"caf\xe9", 42, object(), ["a list"]],
    ids=["none", "bytes", "int", "object", "list"],
)
def test_core_refuses_what_is_not_screenable(guard: Guard, value: Any) -> None:
    for kind, result in _all_entry_points(guard, value):
        assert kind == "raised", result
        assert_clear_error(result, "cannot screen", "pass a str")


def test_core_refuses_a_lone_str_to_check_many(guard: Guard) -> None:
    kind, exc = outcome(lambda: guard.check_many("hello"))  # a str is a Sequence[str]
    assert kind == "raised"
    assert_clear_error(exc, "use check()")


@pytest.mark.parametrize("text", ["", "   \n\t"], ids=["empty", "whitespace"])
def test_empty_text_has_nothing_to_judge(
    guard: Guard, backend: ScriptedBackend, audit: MemoryAudit, text: str
) -> None:
    for kind, result in _all_entry_points(guard, text):
        assert kind == "returned"
        for v in _flat(result):
            assert v.allowed and not v.screened and v.error is None
    assert not backend.requests and not audit.records


_TEN_MB_ITEMS: dict[str, Callable[[], Item | str]] = {
    "input": lambda: TEN_MB + " bomb",
    "output": lambda: AssistantMessage(TEN_MB + " bomb", context="hi"),
    "tool_call": lambda: ToolCall("shell", {"command": TEN_MB + " bomb"}),
    "tool_result": lambda: ToolResult("fetch", TEN_MB + " bomb"),
    "retrieval": lambda: RetrievedChunk(TEN_MB + " bomb"),
    "image": lambda: Image(data=tiny_png(), caption=TEN_MB + " bomb"),
}


@pytest.mark.parametrize("surface", list(_TEN_MB_ITEMS))
@pytest.mark.parametrize("which", ["guard", "lenient"])
def test_ten_megabytes_is_refused_never_passed(
    request: pytest.FixtureRequest,
    surface: str,
    which: str,
    backend: ScriptedBackend,
    audit: MemoryAudit,
) -> None:
    """Over the windowing limit: blocked with a reason saying what to do, even under
    ``on_error: allow`` (that is for guard failures; padding must not be a way past)."""
    guard: Guard = request.getfixturevalue(which)
    verdict = guard.check(_TEN_MB_ITEMS[surface]())
    assert not verdict.allowed
    assert verdict.error is not None and "ContentError" in verdict.error
    assert "split it before screening" in verdict.error
    assert not backend.requests  # refused whole: no part of it was half-screened
    assert [r["allowed"] for r in audit.records] == [False]


@pytest.mark.parametrize("on_error", ["block", "allow"])
def test_non_utf8_text_is_screened_or_refused(on_error: str) -> None:
    with OpenAICompatServer() as server:
        backend = RemoteBackend.vllm(server.base_url, N35, max_retries=0)
        guard = Guard(backend, Policy(on_error=on_error))  # type: ignore[arg-type]
        kind, result = outcome(lambda: guard.check(NON_UTF8))
        guard.close()
    if kind == "raised":
        assert_clear_error(result, "UTF-8")
    else:
        assert kind == "returned"
        assert not result.allowed and result.error is None  # judged: it says "bomb"


def test_bytes_never_reach_the_guard_as_text(guard: Guard) -> None:
    kind, exc = outcome(lambda: ToolResult("fetch", b"caf\xe9"))  # type: ignore[arg-type]
    assert kind == "raised"
    assert_clear_error(exc, "must be a str", "bytes")


@pytest.mark.parametrize(
    "arguments",
    [
        deep(100),
        json.dumps(deep(100)),
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 100_000 + "1" + "}" * 100_000,
    ],
    ids=["dict", "json", "json-list-100k", "json-object-100k"],
)
def test_deeply_nested_tool_arguments_are_refused(arguments: Any) -> None:
    kind, exc = outcome(lambda: ToolCall("shell", arguments))
    assert kind == "raised"
    assert_clear_error(exc, "nest deeper than 32 levels")


def test_self_referencing_tool_arguments_are_refused() -> None:
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    kind, exc = outcome(lambda: ToolCall("shell", cyclic))
    assert kind == "raised"
    assert_clear_error(exc, "nest deeper")


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        ("rm -rf /", ("not valid JSON", "pass a dict")),
        ("{'single': 'quotes'}", ("not valid JSON",)),
        ("[1, 2]", ("must be a JSON object", "list")),
        ("null", ("must be a JSON object",)),
        ('"a string"', ("must be a JSON object", "str")),
        ("{" * 50_000, ("not valid JSON",)),
    ],
    ids=["shell", "python-repr", "list", "null", "string", "unclosed"],
)
def test_non_json_tool_argument_strings_are_refused(arguments: str, words: tuple[str, ...]) -> None:
    kind, exc = outcome(lambda: ToolCall("shell", arguments))
    assert kind == "raised"
    assert_clear_error(exc, *words)


def test_an_empty_argument_string_means_no_arguments(guard: Guard) -> None:
    assert ToolCall("ping", "").arguments == {}  # documented: OpenAI sends "" for no args
    assert guard.check(ToolCall("ping", "")).screened


def test_unknown_agents(backend: ScriptedBackend) -> None:
    strict = Guard(backend, PolicySet({"billing": Policy(name="billing")}))
    for call in (
        lambda: strict.check("hi", agent="nobody"),
        lambda: asyncio.run(strict.acheck("hi", agent="nobody")),
    ):
        kind, exc = outcome(call)
        assert kind == "raised"
        assert isinstance(exc, ConfigurationError)
        assert_clear_error(exc, "'nobody'", "known agents: billing")
    assert not backend.requests
    defaulted = Guard(
        backend, PolicySet({"billing": Policy(name="billing")}, default=Policy(name="fallback"))
    )
    assert defaulted.check("a bomb", agent="nobody").policy.name == "fallback"  # documented


@pytest.mark.parametrize(
    ("build", "error", "words"),
    [
        (lambda b: PolicySet({"a": "strict"}), PolicyError, ("must be a Policy",)),  # type: ignore[dict-item]
        (
            lambda b: PolicySet.from_dict({"agents": {"a": {"mode": "slow"}}}),
            PolicyError,
            ("agents.a.mode", "'slow'"),
        ),
        (lambda b: PolicySet.from_dict(None), PolicyError, ("top level",)),  # type: ignore[arg-type]
        (
            lambda b: PolicySet.from_dict({"agents": {"a": "strict"}}),
            PolicyError,
            ("must be a mapping",),
        ),
        (lambda b: Policy.from_dict({"nmae": "x"}), PolicyError, ("nmae",)),
        (lambda b: Policy(mode="slow"), pydantic.ValidationError, ("mode",)),  # type: ignore[arg-type]
        (
            lambda b: Policy(exclude_categories={"Nope"}),
            pydantic.ValidationError,
            ("unknown category 'Nope'",),
        ),
        (lambda b: Policy(on_error="ignore"), pydantic.ValidationError, ("on_error",)),  # type: ignore[arg-type]
        (
            lambda b: Guard(
                ScriptedBackend(model="nvidia/Nemotron-Content-Safety-Reasoning-4B"),
                Policy(mode="categories"),
            ),
            ConfigurationError,
            ("categories",),
        ),
    ],
    ids=[
        "set-of-str",
        "bad-mode-in-file",
        "none",
        "agent-str",
        "typo",
        "mode",
        "category",
        "on-error",
        "mode-for-family",
    ],
)
def test_invalid_policies_are_clear_errors(
    build: Callable[[Any], Any], error: type[BaseException], words: tuple[str, ...]
) -> None:
    kind, exc = outcome(lambda: build(None))
    assert kind == "raised" and isinstance(exc, error), exc
    assert_clear_error(exc, *words)


@pytest.mark.parametrize(
    "args",
    [
        (ScriptedBackend(), {"name": "strict"}),
        (ScriptedBackend(), "strict"),
        (None, Policy()),
        ("http://127.0.0.1:8000/v1", Policy()),
    ],
    ids=["policy-dict", "policy-str", "backend-none", "backend-url"],
)
def test_invalid_guard_arguments_are_clear_errors(args: tuple[Any, Any]) -> None:
    kind, exc = outcome(lambda: Guard(*args))
    assert kind == "raised"
    assert_clear_error(exc)
    assert isinstance(exc, ConfigurationError)


# -- LangChain --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expect", "words"),
    [
        (None, "raised", ("cannot screen a NoneType",)),
        (b"caf\xe9", "raised", ("cannot screen a bytes",)),
        ("", "returned", ()),
        (TEN_MB, "blocked", ("split it before screening",)),
        ({"question": None, "n": 3}, "returned", ()),
    ],
)
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_langchain_runnable(
    guard: Guard,
    backend: ScriptedBackend,
    value: Any,
    expect: str,
    words: tuple[str, ...],
    mode: str,
) -> None:
    from guard_core.integrations.langchain import GuardRunnable

    step = GuardRunnable(guard)
    call = (
        (lambda: step.invoke(value))
        if mode == "sync"
        else (lambda: asyncio.run(step.ainvoke(value)))
    )
    kind, result = outcome(call)
    assert kind == expect, result
    if kind == "raised":
        assert_clear_error(result, *words)
    elif kind == "blocked":
        assert all(w in str(result) for w in words)
    else:
        assert result == value and not backend.requests  # nothing with text to judge


def test_langchain_runnable_refuses_unusable_images_and_tool_calls(guard: Guard) -> None:
    from langchain_core.messages import AIMessage, HumanMessage

    from guard_core.integrations.langchain import GuardRunnable

    image = HumanMessage(
        content=[{"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}]
    )
    kind, exc = outcome(lambda: GuardRunnable(guard).invoke(image))
    assert kind == "raised"
    assert_clear_error(exc, "scheme not allowed")
    call = AIMessage("", tool_calls=[{"name": "shell", "args": deep(), "id": "c1"}])
    kind, exc = outcome(lambda: GuardRunnable(guard, surface="tool_call").invoke(call))
    assert kind == "raised"
    assert_clear_error(exc, "nest deeper")


def test_langchain_unknown_agent(backend: ScriptedBackend) -> None:
    from guard_core.integrations.langchain import GuardRunnable

    guard = Guard(backend, PolicySet({"billing": Policy()}))
    for call in (
        lambda: GuardRunnable(guard, agent="nobody").invoke("hi"),
        lambda: GuardRunnable(guard).invoke(
            "hi", config={"configurable": {"guard_agent": "nobody"}}
        ),
    ):
        kind, exc = outcome(call)
        assert kind == "raised"
        assert_clear_error(exc, "'nobody'")
    assert not backend.requests


@pytest.mark.parametrize(
    "build",
    [
        lambda: __import__("guard_core.integrations.langchain", fromlist=["x"]).GuardRunnable("x"),
        lambda: __import__("guard_core.integrations.langchain", fromlist=["x"]).GuardMiddleware(
            "x"
        ),
        lambda: __import__("guard_core.integrations.langchain", fromlist=["x"]).GuardMiddleware(
            Policy()
        ),
        lambda: __import__(
            "guard_core.integrations.langchain", fromlist=["x"]
        ).GuardCallbackHandler({"name": "x"}),
    ],
    ids=["runnable", "middleware", "middleware-no-backend", "callbacks"],
)
def test_langchain_invalid_construction(build: Callable[[], Any]) -> None:
    kind, exc = outcome(build)
    assert kind == "raised"
    assert_clear_error(exc)


def _agent(guard: Guard, reply: Any) -> Any:
    from langchain.agents import create_agent
    from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
    from langchain_core.messages import AIMessage
    from langchain_core.tools import tool

    from guard_core.integrations.langchain import GuardMiddleware

    class Model(FakeMessagesListChatModel):
        def bind_tools(self, tools: Any, **kwargs: Any) -> Model:
            return self

    @tool
    def shell(command: Any) -> str:
        """Run a command."""
        raise AssertionError("the tool must not run")

    return create_agent(
        Model(responses=[reply, AIMessage("done")]), [shell], middleware=[GuardMiddleware(guard)]
    )


def test_langchain_middleware_bad_inputs(guard: Guard) -> None:
    from langchain_core.messages import AIMessage, HumanMessage

    out = _agent(guard, AIMessage("never")).invoke({"messages": [HumanMessage(TEN_MB)]})
    assert out["messages"][-1].text == "I can't help with that request."
    assert "split it" in out["messages"][-1].response_metadata["guard_core"]["reason"]
    nested = AIMessage("", tool_calls=[{"name": "shell", "args": {"command": deep()}, "id": "c1"}])
    kind, exc = outcome(
        lambda: _agent(guard, nested).invoke({"messages": [HumanMessage("tidy up")]})
    )
    assert kind == "raised"  # the run stops with a clear error; the tool never ran
    assert_clear_error(exc, "nest deeper")


@pytest.mark.parametrize("docs", [None, [None]], ids=["none", "none-element"])
def test_langchain_document_filter_bad_lists(guard: Guard, docs: Any) -> None:
    from guard_core.integrations.langchain import GuardDocumentFilter

    kind, exc = outcome(lambda: GuardDocumentFilter(guard).transform_documents(docs))
    assert kind == "raised"
    assert_clear_error(exc)


# -- LlamaIndex -------------------------------------------------------------------------------


def _nodes(*texts: str) -> list[Any]:
    from llama_index.core.schema import NodeWithScore, TextNode

    return [NodeWithScore(node=TextNode(text=t)) for t in texts]


@pytest.mark.parametrize("action", ["drop", "flag"])
def test_llama_index_postprocessor_bad_nodes(guard: Guard, audit: MemoryAudit, action: str) -> None:
    from guard_core.integrations.llama_index import GuardNodePostprocessor

    pp = GuardNodePostprocessor(guard, action=action)  # type: ignore[arg-type]
    out = pp.postprocess_nodes(_nodes(TEN_MB, "", "Oolong at 90 degrees."), query_str="tea")
    # the 10 MB node cannot be judged: dropped even under "flag"; the empty one has nothing
    # to judge and stays (documented); the normal one is judged and kept
    assert [n.node.get_content() for n in out] == ["", "Oolong at 90 degrees."]
    assert [r["allowed"] for r in audit.records] == [False, True]


@pytest.mark.parametrize("nodes", [None, [None]], ids=["none", "none-element"])
def test_llama_index_postprocessor_bad_lists(guard: Guard, nodes: Any) -> None:
    from guard_core.integrations.llama_index import GuardNodePostprocessor

    kind, exc = outcome(lambda: GuardNodePostprocessor(guard).postprocess_nodes(nodes))
    assert kind == "raised"
    assert_clear_error(exc)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_llama_index_tools_bad_arguments(guard: Guard, backend: ScriptedBackend, mode: str) -> None:
    from guard_core.integrations.llama_index import guard_tools

    ran: list[Any] = []

    def shell(command: Any) -> str:
        """Run a command."""
        ran.append(command)
        return "ok"

    [tool] = guard_tools([shell], guard)

    def call(value: Any) -> Any:
        if mode == "sync":
            return tool(command=value)
        return asyncio.run(tool.acall(command=value))  # type: ignore[call-arg]

    big = call(TEN_MB)
    assert big.is_error and "split it before screening" in big.content and not ran
    kind, exc = outcome(lambda: call(deep()))
    assert kind == "raised" and not ran
    assert_clear_error(exc, "nest deeper")
    # None and bytes are judged as what the model sent ({"command": null} / their str)
    assert not call(None).is_error and not call(b"ls").is_error
    calls = [
        r
        for r in backend.requests
        if len(r.messages) == 2 and r.messages[1]["content"].startswith("calls tool shell")
    ]
    assert ran == [None, b"ls"] and len(calls) == 2


def test_llama_index_unknown_agent_and_bad_guard(backend: ScriptedBackend) -> None:
    from guard_core.integrations.llama_index import GuardNodePostprocessor, guard_tools

    guard = Guard(backend, PolicySet({"billing": Policy()}))
    kind, exc = outcome(
        lambda: GuardNodePostprocessor(guard, agent="nobody").postprocess_nodes(_nodes("tea"))
    )
    assert kind == "raised"
    assert_clear_error(exc, "'nobody'")
    [tool] = guard_tools([lambda q: q], guard, agent="nobody")
    kind, exc = outcome(lambda: tool(q="tea"))
    assert kind == "raised"
    assert_clear_error(exc, "'nobody'")
    for build in (
        lambda: GuardNodePostprocessor("guard"),  # type: ignore[arg-type]
        lambda: guard_tools([lambda q: q], {"name": "x"}),  # type: ignore[arg-type]
        lambda: guard_tools(lambda q: q, guard),  # type: ignore[arg-type]
    ):
        kind, exc = outcome(build)
        assert kind == "raised"
        assert_clear_error(exc)
    assert not backend.requests


# -- OpenAI client ----------------------------------------------------------------------------


@pytest.fixture
def model_server() -> Iterator[tuple[OpenAICompatServer, list[dict[str, Any]]]]:
    """A main model that answers queued completions (then "fine")."""
    queue: list[dict[str, Any]] = []
    with OpenAICompatServer(
        models={"m": lambda body: queue.pop(0) if queue else chat_completion("fine")}
    ) as server:
        yield server, queue


def _sent(server: OpenAICompatServer) -> int:
    return sum(1 for r in server.posts() if r.body and r.body.get("model") == "m")


@pytest.mark.parametrize(
    ("content", "expect", "words"),
    [
        (None, "returned", ()),
        ("", "returned", ()),
        (TEN_MB, "blocked", ("split it before screening",)),
        (b"caf\xe9", "raised", ("must be a dict",)),
        (42, "raised", ("must be a str or a list of parts",)),
        ([None], "raised", ("got NoneType",)),
        (
            [{"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}],
            "raised",
            ("scheme not allowed",),
        ),
        (
            [
                {
                    "type": "image_url",
                    "image_url": {"url": "data:image/png;base64," + "A" * (28 * 1024 * 1024)},
                }
            ],
            "raised",
            ("over the",),
        ),
    ],
    ids=["none", "empty", "10mb", "bytes", "int", "none-part", "file-url", "huge-data-url"],
)
def test_openai_request_contents(
    guard: Guard, model_server: Any, content: Any, expect: str, words: tuple[str, ...]
) -> None:
    import openai

    from guard_core.integrations.openai import guard_openai

    server, _ = model_server
    inner = openai.OpenAI(base_url=server.base_url, api_key="sk-main", max_retries=0)
    client = guard_openai(inner, guard)
    kind, result = outcome(
        lambda: client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": content}]
        )
    )
    inner.close()
    assert kind == expect, result
    if kind == "raised":
        assert_clear_error(result, *words)
    if kind == "blocked":
        assert all(w in str(result) for w in words)
    if kind != "returned":
        assert _sent(server) == 0, "a request that was not cleared must not be sent"


@pytest.mark.parametrize(
    "arguments",
    [
        "rm -rf /",
        "[1, 2]",
        json.dumps({"command": deep()}),
        "{" * 50_000,
    ],
    ids=["not-json", "list", "deep", "unclosed"],
)
def test_openai_unusable_tool_call_arguments_from_the_model_block(
    guard: Guard, model_server: Any, arguments: str
) -> None:
    import openai

    from guard_core.integrations.openai import guard_openai

    server, queue = model_server
    queue.append(
        chat_completion(None, tool_calls=[{"name": "shell", "arguments": arguments}], model="m")
    )
    inner = openai.OpenAI(base_url=server.base_url, api_key="sk-main", max_retries=0)
    kind, exc = outcome(
        lambda: guard_openai(inner, guard).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "tidy up"}]
        )
    )
    inner.close()
    assert kind == "blocked", exc  # the caller never gets a call it could run
    assert exc.verdict.surface == "tool_call" and "unusable arguments" in str(exc)


def test_openai_bad_messages_and_agents(
    guard: Guard, backend: ScriptedBackend, model_server: Any
) -> None:
    import openai

    from guard_core.integrations.openai import guard_openai

    server, _ = model_server
    inner = openai.OpenAI(base_url=server.base_url, api_key="sk-main", max_retries=0)
    client = guard_openai(inner, guard)
    for messages, words in ((["hello"], ("must be a dict",)), ([None], ("got NoneType",))):
        kind, exc = outcome(
            lambda m=messages: client.chat.completions.create(model="m", messages=m)  # type: ignore[misc]
        )
        assert kind == "raised"
        assert_clear_error(exc, *words)
    kind, exc = outcome(
        lambda: client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], extra_body={"guard_agent": 5}
        )
    )
    assert kind == "raised"
    assert_clear_error(exc, "guard_agent", "int")
    strict = Guard(backend, PolicySet({"billing": Policy()}))
    kind, exc = outcome(lambda: guard_openai(inner, strict, agent="nobody"))
    assert kind == "raised"
    assert_clear_error(exc, "'nobody'")
    kind, exc = outcome(lambda: guard_openai(inner, "guard"))  # type: ignore[arg-type]
    assert kind == "raised"
    assert_clear_error(exc, "Guard")
    inner.close()
    assert _sent(server) == 0
