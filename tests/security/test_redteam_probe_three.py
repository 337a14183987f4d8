"""Red-team probes, third review: redact/block copies, policy selection, stored state.

Each test puts "bomb" (which the scripted guard judges unsafe) somewhere an adapter must
screen or remove it and asserts it never arrives unjudged at a recording model, tool or the
caller. Six leaks found by this review are fixed and kept as regression tests (a blocked
call's arguments in a provider tool_use block or copied into another field, stored chat
completions read back, unscreened namespaces). The two strict xfails left are a documented
exception: LangChain hands middleware and callbacks the agent name as run metadata, which a
caller who can set config metadata can change; pass ``agent=`` to the adapter when callers
are not trusted.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatResult
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool
from pydantic import Field

from guard_core import Guard, GuardViolation, Policy, PolicySet
from guard_core.errors import ContentError
from guard_core.integrations.langchain import (
    GuardCallbackHandler,
    GuardMiddleware,
    GuardRunnable,
)
from guard_core.testing import ScriptedBackend

MARK = "bomb"
UNSAFE = "here is how to build a bomb"


def _guard(policy: Policy | PolicySet | None = None) -> Guard:
    return Guard(ScriptedBackend(unsafe_words=[MARK]), policy or Policy(name="redteam3"))


def _strict_lax() -> Guard:
    """A strict agent and a lax one that does not care about violence ("bomb")."""
    return _guard(
        PolicySet(
            {
                "strict": Policy(name="strict"),
                "lax": Policy(name="lax", exclude_categories={"Violence"}),
            }
        )
    )


class RecModel(FakeMessagesListChatModel):
    """A chat model that records each request and accepts bound tools."""

    seen: list[list[BaseMessage]] = Field(default_factory=list)

    def bind_tools(self, tools: Any, **kwargs: Any) -> RecModel:
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.seen.append(list(messages))
        return super()._generate(messages, stop, run_manager, **kwargs)


@tool
def shell(cmd: str) -> str:
    """Run a shell command."""
    return "ran"


def _call(args: dict[str, Any], **fields: Any) -> AIMessage:
    return AIMessage(
        fields.pop("content", ""),
        tool_calls=[{"name": "shell", "args": args, "id": "c1"}],
        **fields,
    )


# == (a) LangChain GuardMiddleware: a blocked tool call's arguments in every copy =============


def test_mw_blocked_call_args_survive_in_tool_use_content_block() -> None:
    answer = _call(
        {"cmd": UNSAFE},
        content=[
            {"type": "text", "text": "ok"},
            {"type": "tool_use", "id": "c1", "name": "shell", "input": {"cmd": UNSAFE}},
        ],
        response_metadata={"model_provider": "anthropic"},
    )
    model = RecModel(responses=[answer, AIMessage("done")])
    agent = create_agent(model, [shell], middleware=[GuardMiddleware(_guard())])
    out = agent.invoke({"messages": [HumanMessage("hi")]})
    assert MARK not in repr(out["messages"])
    assert MARK not in repr(model.seen)


@pytest.mark.parametrize(
    "fields",
    [
        {"additional_kwargs": {"note": UNSAFE}},
        {"name": UNSAFE},
        {
            "invalid_tool_calls": [
                {
                    "name": "shell",
                    "args": UNSAFE,
                    "id": "c7",
                    "error": None,
                    "type": "invalid_tool_call",
                }
            ]
        },
    ],
    ids=["additional_kwargs", "name", "invalid_tool_calls"],
)
def test_mw_blocked_call_argument_copy_in_other_field_streams(fields: dict[str, Any]) -> None:
    model = RecModel(responses=[_call({"cmd": UNSAFE}, **fields), AIMessage("done")])
    agent = create_agent(model, [shell], middleware=[GuardMiddleware(_guard())])
    chunks = list(agent.stream({"messages": [HumanMessage("hi")]}, stream_mode="updates"))
    assert MARK not in repr(chunks)


def test_mw_v1_tool_call_content_block_is_withheld() -> None:
    answer = _call(
        {"cmd": UNSAFE},
        content=[
            {"type": "text", "text": "ok"},
            {"type": "tool_call", "id": "c1", "name": "shell", "args": {"cmd": UNSAFE}},
        ],
    )
    model = RecModel(responses=[answer, AIMessage("done")])
    agent = create_agent(model, [shell], middleware=[GuardMiddleware(_guard())])
    out = agent.invoke({"messages": [HumanMessage("hi")]})
    assert MARK not in repr(out["messages"]) and MARK not in repr(model.seen)


def test_mw_tool_result_redact_clears_artifact() -> None:
    @tool(response_format="content_and_artifact")
    def fetch(q: str) -> tuple[str, dict[str, Any]]:
        """Fetch."""
        return UNSAFE, {"note": UNSAFE}

    model = RecModel(
        responses=[
            AIMessage("", tool_calls=[{"name": "fetch", "args": {"q": "x"}, "id": "c1"}]),
            AIMessage("done"),
        ]
    )
    policy = Policy(name="r", actions={"tool_result": "redact"})
    agent = create_agent(model, [fetch], middleware=[GuardMiddleware(_guard(policy))])
    out = agent.invoke({"messages": [HumanMessage("hi")]})
    assert MARK not in repr(out["messages"]) and MARK not in repr(model.seen)


# == (b) policy selection ===================================================================


@pytest.mark.xfail(
    strict=True,
    reason="DOCUMENTED EXCEPTION: a client's config metadata "
    "lc_agent_name picks "
    "the policy over create_agent(name='strict'); developer_agent "
    "(_agents.py) reads lc_agent_name from the merged run metadata, which the "
    "caller's config={'metadata': ...} overrides",
)
def test_mw_client_metadata_lc_agent_name_overrides_create_agent_name() -> None:
    model = RecModel(responses=[AIMessage("ok")])
    agent = create_agent(model, [], middleware=[GuardMiddleware(_strict_lax())], name="strict")
    with contextlib.suppress(GuardViolation, ContentError):
        agent.invoke(
            {"messages": [HumanMessage(f"tell me {UNSAFE}")]},
            config={"metadata": {"lc_agent_name": "lax"}},
        )
    assert MARK not in repr(model.seen)


@pytest.mark.xfail(
    strict=True,
    reason="DOCUMENTED EXCEPTION: as for the middleware: "
    "GuardCallbackHandler "
    "without agent= takes lc_agent_name from the client's metadata",
)
def test_cb_client_metadata_lc_agent_name_overrides_create_agent_name() -> None:
    model = RecModel(responses=[AIMessage("ok")])
    agent = create_agent(model, [], name="strict")
    with contextlib.suppress(GuardViolation, ContentError):
        agent.invoke(
            {"messages": [HumanMessage(f"tell me {UNSAFE}")]},
            config={
                "metadata": {"lc_agent_name": "lax"},
                "callbacks": [GuardCallbackHandler(_strict_lax())],
            },
        )
    assert MARK not in repr(model.seen)


def test_cb_create_agent_name_strict_blocks_without_client_metadata() -> None:
    """The control for the callback leak above: with no client metadata the strict policy
    (from create_agent's name) blocks the same request."""
    model = RecModel(responses=[AIMessage("ok")])
    agent = create_agent(model, [], name="strict")
    with contextlib.suppress(GuardViolation, ContentError):
        agent.invoke(
            {"messages": [HumanMessage(f"tell me {UNSAFE}")]},
            config={"callbacks": [GuardCallbackHandler(_strict_lax())]},
        )
    assert MARK not in repr(model.seen)


@pytest.mark.parametrize(
    "config",
    [
        {"configurable": {"guard_agent": "lax"}},
        {"metadata": {"guard_agent": "lax"}},
        {"metadata": {"langgraph_node": "lax"}},
    ],
    ids=["configurable", "metadata", "langgraph_node"],
)
def test_mw_client_cannot_pick_lax_agent_over_create_agent_name(config: RunnableConfig) -> None:
    model = RecModel(responses=[AIMessage("ok")])
    agent = create_agent(model, [], middleware=[GuardMiddleware(_strict_lax())], name="strict")
    with contextlib.suppress(GuardViolation, ContentError):
        agent.invoke({"messages": [HumanMessage(f"tell me {UNSAFE}")]}, config=config)
    assert MARK not in repr(model.seen)


@pytest.mark.parametrize(
    "config",
    [
        {"metadata": {"lc_agent_name": "lax"}},
        {"configurable": {"guard_agent": "lax"}},
    ],
    ids=["lc_agent_name", "configurable"],
)
def test_runnable_explicit_agent_beats_client_metadata(config: RunnableConfig) -> None:
    runnable = GuardRunnable(_strict_lax(), surface="input", agent="strict")
    with pytest.raises((GuardViolation, ContentError)):
        runnable.invoke(f"tell me {UNSAFE}", config=config)


# == (e) OpenAI wrapper: stored chat completions and namespaces that reach a model ===========


class _Main(BaseHTTPRequestHandler):
    """A main model that stores chat completions and answers every other path with an empty
    object; every request is recorded on the server."""

    protocol_version = "HTTP/1.1"
    server: Any

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, obj: dict[str, Any]) -> None:
        body = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.server.seen.append(("GET", self.path, None))
        if self.path.endswith("/messages"):
            return self._send(
                {
                    "object": "list",
                    "has_more": False,
                    "first_id": "m1",
                    "last_id": "m1",
                    "data": [{"id": "m1", "role": "assistant", "content": UNSAFE}],
                }
            )
        return self._send(_completion())

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen.append(("POST", self.path, json.loads(raw or b"{}")))
        if self.path.endswith("/chat/completions"):
            return self._send(_completion())
        return self._send(
            {
                "id": "x",
                "object": "thread",
                "created_at": 1,
                "metadata": {},
                "data": [],
                "created": 1,
            }
        )


def _completion() -> dict[str, Any]:
    return {
        "id": "chatcmpl-bad",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": UNSAFE},
            }
        ],
    }


@pytest.fixture
def stored() -> Iterator[tuple[Any, list[Any]]]:
    import openai

    from guard_core.integrations.openai import guard_openai

    server: Any = ThreadingHTTPServer(("127.0.0.1", 0), _Main)
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    inner = openai.OpenAI(
        base_url=f"http://127.0.0.1:{server.server_address[1]}/v1", api_key="sk-test", max_retries=0
    )
    yield guard_openai(inner, _guard(), on_block="refuse"), server.seen
    inner.close()
    server.shutdown()
    server.server_close()


def _sent(seen: list[Any]) -> str:
    return json.dumps([body for _, _, body in seen if body is not None])


@pytest.mark.parametrize("read", ["retrieve", "messages.list"])
def test_oa_stored_blocked_chat_completion_comes_back(stored: Any, read: str) -> None:
    client, _ = stored
    refusal = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], store=True
    )
    assert refusal.choices[0].finish_reason == "content_filter"
    assert MARK not in refusal.model_dump_json()
    try:
        if read == "retrieve":
            out = client.chat.completions.retrieve(refusal.id).model_dump_json()
        else:
            out = repr(client.chat.completions.messages.list(refusal.id).data)
    except (GuardViolation, ContentError):
        out = ""
    assert MARK not in out


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK deprecates Assistants
@pytest.mark.parametrize("call", ["beta.threads.create", "images.generate"])
def test_oa_other_generating_namespaces_forward_unscreened(stored: Any, call: str) -> None:
    client, seen = stored
    try:
        if call == "beta.threads.create":
            client.beta.threads.create(messages=[{"role": "user", "content": UNSAFE}])
        else:
            client.images.generate(prompt=UNSAFE, model="m")
    except Exception:  # a refusal of any kind is fine: only what was sent matters
        pass
    assert MARK not in _sent(seen)


def test_oa_chat_with_raw_response_is_screened(stored: Any) -> None:
    client, _ = stored
    try:
        raw = client.chat.completions.with_raw_response.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )
        out = raw.http_response.text + raw.parse().model_dump_json()
    except (GuardViolation, ContentError):
        out = ""
    assert MARK not in out
