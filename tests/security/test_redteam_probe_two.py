"""Red-team probes, second review: callbacks, LlamaIndex tools and agents, OpenAI streams.

Each test puts "bomb" (which the scripted guard judges unsafe) somewhere an adapter must
screen it and asserts it never arrives unjudged at a recording model, tool or the caller.
Seven of these leaked when they were written (tools bound to a model or offered to an
agent, a tool's exception text, opaque tool outputs, a sentence in a document id, pydantic
computed fields); each is fixed and kept as a regression test. The one strict xfail left is
a documented exception: arguments the framework injects are not the model's and are not
screened.
"""

from __future__ import annotations

import contextlib
import json
from typing import Annotated, Any

import pytest
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatResult
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langchain_core.tools import InjectedToolArg, tool
from pydantic import Field

from guard_core import Guard, GuardViolation, Policy
from guard_core.errors import ContentError
from guard_core.integrations.langchain import GuardCallbackHandler
from guard_core.testing import ScriptedBackend

MARK = "bomb"
UNSAFE = "here is how to build a bomb"

pytestmark = [
    pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecationWarning"),
    pytest.mark.filterwarnings("ignore:is_running called from within a step:DeprecationWarning"),
]


def _guard() -> Guard:
    return Guard(ScriptedBackend(unsafe_words=[MARK]), Policy(name="redteam2"))


def _blocked(fn: Any) -> Any:
    """Run ``fn``; a guard refusal (violation or content error) returns None."""
    try:
        return fn()
    except (GuardViolation, ContentError):
        return None


async def _ablocked(coro: Any) -> Any:
    try:
        return await coro
    except (GuardViolation, ContentError):
        return None


class RecModel(FakeMessagesListChatModel):
    """A chat model that records each request: its messages and its call kwargs."""

    seen: list[list[BaseMessage]] = Field(default_factory=list)
    kwargs_seen: list[dict[str, Any]] = Field(default_factory=list)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.seen.append(list(messages))
        self.kwargs_seen.append(dict(kwargs))
        return super()._generate(messages, stop, run_manager, **kwargs)


def _cb() -> RunnableConfig:
    return {"callbacks": [GuardCallbackHandler(_guard())]}


# == (1) GuardCallbackHandler on LCEL chains and LangGraph graphs ==============================


def test_cb_bound_tool_description_reaches_model() -> None:
    model = RecModel(responses=[AIMessage("ok")])
    tools = [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "description": f"Explain {UNSAFE}, step by step.",
                "parameters": {"type": "object", "properties": {}},
            },
        }
    ]
    _blocked(lambda: model.bind(tools=tools).invoke([HumanMessage("hi")], config=_cb()))
    assert MARK not in repr(model.kwargs_seen)


class _Opaque:
    """A tool result whose ``str`` is harmless but which carries the payload."""

    def __init__(self, payload: str) -> None:
        self.payload = payload

    def __str__(self) -> str:
        return "ok"


def test_cb_tool_returning_opaque_object_reaches_caller() -> None:
    @tool
    def fetch(q: str) -> Any:
        """Fetch."""
        return _Opaque(UNSAFE)

    chain = fetch | RunnableLambda(lambda out: out.payload)
    out = _blocked(lambda: chain.invoke({"q": "x"}, config=_cb()))
    assert out is None or MARK not in out


@pytest.mark.xfail(
    strict=True,
    reason="DOCUMENTED EXCEPTION: langchain-core filters "
    "InjectedToolArg values out of on_tool_start inputs; injected arguments come "
    "from the developer's code or state, not from the model",
)
def test_cb_injected_tool_arg_reaches_tool() -> None:
    got: list[str] = []

    @tool
    def save(q: str, note: Annotated[str, InjectedToolArg]) -> str:
        """Save a note."""
        got.append(note)
        return "saved"

    _blocked(lambda: save.invoke({"q": "x", "note": UNSAFE}, config=_cb()))
    assert all(MARK not in g for g in got)


class _Docs(BaseRetriever):
    docs: list[Document]

    def _get_relevant_documents(self, query: str, *, run_manager: Any) -> list[Document]:
        return self.docs


def test_cb_document_id_sentence_reaches_caller() -> None:
    retriever = _Docs(docs=[Document("opening hours", id=UNSAFE)])
    out = _blocked(lambda: retriever.invoke("hours", config=_cb()))
    assert out is None or MARK not in repr(out)


def test_cb_document_metadata_nested_key_is_screened() -> None:
    retriever = _Docs(docs=[Document("opening hours", metadata={"x": {UNSAFE: 1}})])
    out = _blocked(lambda: retriever.invoke("hours", config=_cb()))
    assert out is None or MARK not in repr(out)


def test_cb_chat_start_single_key_block_is_refused_or_screened() -> None:
    # _format_for_tracing rewrites {"note": ...} into {"type": "note", "note": ...} for callbacks
    model = RecModel(responses=[AIMessage("ok")])
    _blocked(lambda: model.invoke([HumanMessage(content=[{"note": UNSAFE}])], config=_cb()))
    assert MARK not in repr(model.seen)


def test_cb_llm_end_tool_call_chunk_args_are_screened() -> None:
    from langchain_core.messages import AIMessageChunk

    model = RecModel(
        responses=[
            AIMessageChunk(
                content="",
                tool_call_chunks=[
                    {"name": "f", "args": json.dumps({"q": UNSAFE}), "id": "c1", "index": 0}
                ],
            )
        ]
    )
    chain = model | RunnableLambda(lambda m: m)
    out = _blocked(lambda: chain.invoke([HumanMessage("hi")], config=_cb()))
    assert out is None or MARK not in repr(out)


def test_cb_graph_tool_dict_input_is_screened() -> None:
    from langgraph.graph import END, START, MessagesState, StateGraph
    from langgraph.prebuilt import ToolNode

    ran: list[str] = []

    @tool
    def shell(command: dict[str, Any]) -> str:
        """Run."""
        ran.append(json.dumps(command))
        return "done"

    graph = StateGraph(MessagesState)
    graph.add_node("tools", ToolNode([shell]))
    graph.add_edge(START, "tools")
    graph.add_edge("tools", END)
    app = graph.compile()
    call = AIMessage(
        "",
        tool_calls=[
            {"name": "shell", "id": "c1", "args": {"command": {"nested": [{UNSAFE: "x"}]}}}
        ],
    )
    _blocked(lambda: app.invoke({"messages": [HumanMessage("hi"), call]}, config=_cb()))
    assert all(MARK not in r for r in ran)


def test_cb_graph_tool_error_message_reaches_caller() -> None:
    from langgraph.graph import END, START, MessagesState, StateGraph
    from langgraph.prebuilt import ToolNode

    @tool
    def fetch(url: str) -> str:
        """Fetch a page."""
        raise RuntimeError(f"server said: {UNSAFE}")

    graph = StateGraph(MessagesState)
    graph.add_node("tools", ToolNode([fetch], handle_tool_errors=True))
    graph.add_edge(START, "tools")
    graph.add_edge("tools", END)
    app = graph.compile()
    call = AIMessage("", tool_calls=[{"name": "fetch", "id": "c1", "args": {"url": "u"}}])
    out = _blocked(lambda: app.invoke({"messages": [HumanMessage("hi"), call]}, config=_cb()))
    assert out is None or MARK not in repr(out["messages"])


async def test_cb_async_chain_answer_is_screened() -> None:
    model = RecModel(responses=[AIMessage("fine", additional_kwargs={"note": UNSAFE})])
    out = await _ablocked(model.ainvoke([HumanMessage("hi")], config=_cb()))
    assert out is None or MARK not in repr(out)


# == (2) LlamaIndex guard_tools and GuardedFunctionAgent =====================================


def _li_events_text(events: list[Any]) -> str:
    return "\n".join(repr(e) for e in events)


async def _li_run(agent: Any, message: str, **kwargs: Any) -> tuple[Any, list[Any]]:
    handler = agent.run(user_msg=message, **kwargs)
    events = [ev async for ev in handler.stream_events()]
    return await handler, events


class _LIScript:
    """A scripted function-calling LLM that records messages and call kwargs (tools)."""

    def __init__(self, *turns: Any) -> None:
        self.turns = list(turns)
        self.seen: list[Any] = []
        self.kwargs: list[dict[str, Any]] = []

    def __call__(self, messages: Any, **kwargs: Any) -> Any:
        from llama_index.core.base.llms.types import ChatMessage

        self.seen.append(list(messages))
        self.kwargs.append(dict(kwargs))
        turn = self.turns.pop(0) if self.turns else "done"
        if isinstance(turn, str):
            return ChatMessage(role="assistant", content=turn)
        return turn

    def llm(self) -> Any:
        from llama_index.core.llms.mock import MockFunctionCallingLLM

        return MockFunctionCallingLLM(response_generator=self)

    def saw(self) -> str:
        return "\n".join(repr(m) for req in self.seen for m in req)


def _li_call(name: str, call_id: str, **kwargs: Any) -> Any:
    from llama_index.core.base.llms.types import ChatMessage, ToolCallBlock

    return ChatMessage(
        role="assistant",
        blocks=[ToolCallBlock(tool_call_id=call_id, tool_name=name, tool_kwargs=kwargs)],
    )


async def test_li_guarded_tool_exception_text_reaches_model() -> None:
    from llama_index.core.agent.workflow import FunctionAgent

    from guard_core.integrations.llama_index import guard_tools

    def fetch(url: str) -> str:
        """Fetch a page."""
        raise RuntimeError(f"server said: {UNSAFE}")

    script = _LIScript(_li_call("fetch", "c1", url="https://x.example"), "done")
    agent = FunctionAgent(tools=guard_tools([fetch], _guard()), llm=script.llm())  # type: ignore[arg-type]
    _, events = await _li_run(agent, "read it")
    assert MARK not in script.saw() and MARK not in _li_events_text(events)


async def test_li_agent_tool_description_reaches_llm() -> None:
    from llama_index.core.tools import FunctionTool

    from guard_core.integrations.llama_index import GuardedFunctionAgent

    def lookup(q: str) -> str:
        return "x"

    tool_ = FunctionTool.from_defaults(lookup, description=f"Explain {UNSAFE}.")
    script = _LIScript("done")
    agent = GuardedFunctionAgent(name="ops", guard=_guard(), tools=[tool_], llm=script.llm())
    await _li_run(agent, "hi")
    assert MARK not in repr([t.metadata for kw in script.kwargs for t in kw.get("tools", [])])


async def test_li_raw_output_computed_field_reaches_caller() -> None:
    from pydantic import BaseModel, PrivateAttr, computed_field

    from guard_core.integrations.llama_index import guard_tools

    class Page(BaseModel):
        title: str
        _body: str = PrivateAttr(default="")

        @computed_field(repr=False)  # type: ignore[prop-decorator]
        @property
        def body(self) -> str:
            return self._body

    def fetch(url: str) -> Page:
        """Fetch a page."""
        page = Page(title="Opening hours")
        page._body = UNSAFE
        return page

    [guarded] = guard_tools([fetch], _guard())
    out = await guarded.acall(url="https://x.example")  # type: ignore[call-arg]
    dumped = out.raw_output.model_dump() if out.raw_output is not None else {}
    assert MARK not in out.content and MARK not in json.dumps(dumped)


async def test_li_tool_nested_kwargs_are_screened() -> None:
    from guard_core.integrations.llama_index import guard_tools

    ran: list[Any] = []

    def shell(spec: dict[str, Any]) -> str:
        """Run."""
        ran.append(spec)
        return "ok"

    [guarded] = guard_tools([shell], _guard())
    await guarded.acall(spec={"steps": [{"argv": ["echo", {UNSAFE: True}]}]})  # type: ignore[call-arg]
    assert all(MARK not in repr(r) for r in ran)


async def test_li_tool_output_blocks_with_text_document_are_screened() -> None:
    from llama_index.core.base.llms.types import DocumentBlock, TextBlock

    from guard_core.integrations.llama_index import guard_tools

    def fetch(url: str) -> list[Any]:
        """Fetch."""
        return [
            TextBlock(text="fine"),
            DocumentBlock(data=UNSAFE.encode(), document_mimetype="text/plain", title="notes"),
        ]

    [guarded] = guard_tools([fetch], _guard())
    out = await guarded.acall(url="u")  # type: ignore[call-arg]
    assert MARK not in repr(out.blocks) and MARK not in repr(out.raw_output)


async def test_li_agent_prior_memory_turn_is_screened() -> None:
    from llama_index.core.base.llms.types import ChatMessage, TextBlock, ThinkingBlock

    from guard_core.integrations.llama_index import GuardedFunctionAgent

    script = _LIScript("done")
    agent = GuardedFunctionAgent(name="ops", guard=_guard(), llm=script.llm())
    history = [
        ChatMessage(role="user", content="earlier"),
        ChatMessage(
            role="assistant", blocks=[TextBlock(text="fine"), ThinkingBlock(content=UNSAFE)]
        ),
    ]
    await _li_run(agent, "continue", chat_history=history)
    assert MARK not in script.saw()


async def test_li_workflow_handoff_reason_is_screened() -> None:
    from llama_index.core.agent.workflow import AgentWorkflow

    from guard_core.integrations.llama_index import GuardedFunctionAgent

    first = _LIScript(_li_call("handoff", "h1", to_agent="writer", reason=UNSAFE), "done")
    second = _LIScript("written")
    a = GuardedFunctionAgent(
        name="planner",
        description="plans",
        guard=_guard(),
        llm=first.llm(),
        can_handoff_to=["writer"],
    )
    b = GuardedFunctionAgent(name="writer", description="writes", guard=_guard(), llm=second.llm())
    flow = AgentWorkflow(agents=[a, b], root_agent="planner")
    _, events = await _li_run(flow, "plan it")
    assert MARK not in second.saw()
    assert MARK not in _li_events_text(events)


# == (4) LangChain middleware and GuardRunnable, async ========================================


def _agent(responses: list[Any], tools: list[Any] | None = None) -> tuple[Any, RecModel]:
    from langchain.agents import create_agent

    from guard_core.integrations.langchain import GuardMiddleware

    class _Bindable(RecModel):
        def bind_tools(self, tools: Any, **kwargs: Any) -> _Bindable:
            return self

    model = _Bindable(responses=responses)
    return create_agent(model, tools or [], middleware=[GuardMiddleware(_guard())]), model


@pytest.mark.parametrize("mode", ["values", "updates", "messages", "debug", "custom"])
async def test_mw_astream_every_mode_screens_answer(mode: str) -> None:
    agent, _ = _agent([AIMessage("fine", additional_kwargs={"hint": UNSAFE})])
    chunks = [c async for c in agent.astream({"messages": [HumanMessage("hi")]}, stream_mode=mode)]
    assert MARK not in repr(chunks)


async def test_mw_ainvoke_tool_result_artifact_is_screened() -> None:
    @tool(response_format="content_and_artifact")
    def fetch(q: str) -> tuple[str, Any]:
        """Fetch."""
        return "fine", [{"nested": {"deep": UNSAFE}}]

    agent, model = _agent(
        [
            AIMessage("", tool_calls=[{"name": "fetch", "args": {"q": "x"}, "id": "c1"}]),
            AIMessage("done"),
        ],
        [fetch],
    )
    out = await agent.ainvoke({"messages": [HumanMessage("hi")]})
    assert MARK not in repr(out["messages"]) and MARK not in repr(model.seen)


async def test_runnable_abatch_and_astream_output_are_screened() -> None:
    from guard_core.integrations.langchain import GuardRunnable

    runnable = GuardRunnable(_guard(), surface="output")
    outs = await runnable.abatch(
        [AIMessage("fine"), AIMessage("x", additional_kwargs={"k": UNSAFE})], return_exceptions=True
    )
    assert MARK not in repr([o for o in outs if not isinstance(o, Exception)])
    streamed: list[Any] = []
    with contextlib.suppress(GuardViolation, ContentError):
        async for chunk in runnable.astream(AIMessage("y", additional_kwargs={"k": UNSAFE})):
            streamed.append(chunk)
    assert MARK not in repr(streamed)


# == (3) OpenAI wrapper: streams, async, parse, chaining ======================================

MAIN = "main-model"
GUARD_MODEL = "nvidia/nemotron-3.5-content-safety"


class _Env:
    """A loopback server: the scripted judge plus a main model answering from a queue of
    chat completions, raw chat chunk lists ({"chunks": [...]}) or Responses events."""

    def __init__(self) -> None:
        from guard_core.backends import RemoteBackend
        from guard_core.testing import OpenAICompatServer, ScriptedJudge

        self.queue: list[dict[str, Any]] = []
        env = self

        class Server(OpenAICompatServer):
            def _answer(self, path: str, body: dict[str, Any], fault: Any) -> Any:
                if body.get("model") == MAIN and env.queue and "chunks" in env.queue[0]:
                    return 200, env.queue.pop(0)["chunks"], True
                return super()._answer(path, body, fault)

        def handler(body: dict[str, Any]) -> dict[str, Any]:
            from guard_core.testing import chat_completion

            return env.queue.pop(0) if env.queue else chat_completion("Sure.", model=MAIN)

        self.server = Server(judge=ScriptedJudge([MARK]), models={MAIN: handler}).start()
        self.guard = Guard(
            RemoteBackend.vllm(self.server.base_url, GUARD_MODEL, max_retries=0),
            Policy(name="redteam2"),
        )

    def main_bodies(self) -> list[dict[str, Any]]:
        return [
            r.body
            for r in self.server.requests
            if r.body is not None and r.body.get("model") == MAIN
        ]

    def close(self) -> None:
        self.guard.close()
        self.server.stop()


@pytest.fixture
def env() -> Any:
    e = _Env()
    yield e
    e.close()


@pytest.fixture
def client(env: _Env) -> Any:
    import openai

    from guard_core.integrations.openai import guard_openai

    inner = openai.OpenAI(base_url=env.server.base_url, api_key="sk-test", max_retries=0)
    yield guard_openai(inner, env.guard)
    inner.close()


@pytest.fixture
async def aclient(env: _Env) -> Any:
    import openai

    from guard_core.integrations.openai import guard_openai

    inner = openai.AsyncOpenAI(base_url=env.server.base_url, api_key="sk-test", max_retries=0)
    yield guard_openai(inner, env.guard)
    await inner.close()


def _chunk(choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-x",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": MAIN,
        "choices": choices,
        **extra,
    }


def _delta(index: int, finish: str | None = None, **delta: Any) -> dict[str, Any]:
    return {"index": index, "delta": delta, "finish_reason": finish}


def _user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def _drain(stream: Any) -> str:
    out = []
    with contextlib.suppress(GuardViolation, ContentError):
        for chunk in stream:
            out.append(chunk.model_dump_json())
    return "\n".join(out)


async def _adrain(stream: Any) -> str:
    out = []
    with contextlib.suppress(GuardViolation, ContentError):
        async for chunk in stream:
            out.append(chunk.model_dump_json())
    return "\n".join(out)


def test_oa_stream_n2_second_choice_split_over_chunks(env: _Env, client: Any) -> None:
    env.queue.append(
        {
            "chunks": [
                _chunk(
                    [
                        _delta(0, role="assistant", content="fine"),
                        _delta(1, role="assistant", content="here is how to build a bo"),
                    ]
                ),
                _chunk([_delta(1, content="mb")]),
                _chunk([_delta(0, "stop"), _delta(1, "stop")]),
            ]
        }
    )
    stream = _blocked(
        lambda: client.chat.completions.create(model=MAIN, messages=_user("hi"), n=2, stream=True)
    )
    texts: dict[int, str] = {}
    with contextlib.suppress(GuardViolation, ContentError):
        for chunk in stream or ():
            for choice in chunk.choices:
                texts[choice.index] = texts.get(choice.index, "") + (choice.delta.content or "")
    assert MARK not in repr(texts)


async def test_oa_async_stream_tool_args_split_and_reindexed(env: _Env, aclient: Any) -> None:
    env.queue.append(
        {
            "chunks": [
                _chunk(
                    [
                        _delta(
                            0,
                            role="assistant",
                            tool_calls=[
                                {
                                    "index": 0,
                                    "id": "c1",
                                    "type": "function",
                                    "function": {"name": "shell", "arguments": '{"cmd": "bo'},
                                }
                            ],
                        )
                    ]
                ),
                _chunk([_delta(0, tool_calls=[{"index": 0, "function": {"arguments": 'mb"}'}}])]),
                _chunk([_delta(0, "tool_calls")]),
            ]
        }
    )
    stream = await _ablocked(
        aclient.chat.completions.create(model=MAIN, messages=_user("hi"), stream=True)
    )
    args = ""
    if stream is not None:
        with contextlib.suppress(GuardViolation, ContentError):
            async for chunk in stream:
                for choice in chunk.choices:
                    for call in choice.delta.tool_calls or ():
                        args += (call.function and call.function.arguments) or ""
    assert MARK not in args.replace('"', "")


def test_oa_stream_options_usage_chunk_extra_is_screened(env: _Env, client: Any) -> None:
    env.queue.append(
        {
            "chunks": [
                _chunk([_delta(0, role="assistant", content="fine")]),
                _chunk([_delta(0, "stop")]),
                _chunk(
                    [],
                    usage={
                        "prompt_tokens": 1,
                        "completion_tokens": 1,
                        "total_tokens": 2,
                        "note": UNSAFE,
                    },
                ),
            ]
        }
    )
    out = _blocked(
        lambda: _drain(
            client.chat.completions.create(
                model=MAIN,
                messages=_user("hi"),
                stream=True,
                stream_options={"include_usage": True},
            )
        )
    )
    assert out is None or MARK not in out


def _events(*events: dict[str, Any]) -> dict[str, Any]:
    return {"object": "events", "events": list(events)}


def _resp(output: list[Any], rid: str = "resp_1") -> dict[str, Any]:
    return {
        "id": rid,
        "object": "response",
        "created_at": 1,
        "model": MAIN,
        "status": "completed",
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
    }


def _msg_item(text: str, iid: str = "msg_1") -> dict[str, Any]:
    return {
        "type": "message",
        "id": iid,
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


async def test_oa_async_responses_stream_unknown_event_is_screened(env: _Env, aclient: Any) -> None:
    final = _resp([_msg_item("fine")])
    env.queue.append(
        _events(
            {
                "type": "response.created",
                "response": {**final, "status": "in_progress", "output": []},
            },
            {
                "type": "response.output_text.delta",
                "output_index": 0,
                "item_id": "msg_1",
                "content_index": 0,
                "delta": "fine",
                "logprobs": [],
            },
            {
                "type": "response.custom_tool_call_input.delta",
                "output_index": 0,
                "item_id": "ct_1",
                "delta": UNSAFE,
            },
            {"type": "response.completed", "response": final},
        )
    )
    stream = await _ablocked(aclient.responses.create(model=MAIN, input="hi", stream=True))
    out = "" if stream is None else await _adrain(stream)
    assert MARK not in out


def test_oa_responses_stream_helper_done_text_differs_from_deltas(env: _Env, client: Any) -> None:
    final = _resp([_msg_item("fine")])
    env.queue.append(
        _events(
            {
                "type": "response.created",
                "response": {**final, "status": "in_progress", "output": []},
            },
            {
                "type": "response.output_text.delta",
                "output_index": 0,
                "item_id": "msg_1",
                "content_index": 0,
                "delta": "fine",
                "logprobs": [],
            },
            {
                "type": "response.output_text.done",
                "output_index": 0,
                "item_id": "msg_1",
                "content_index": 0,
                "text": UNSAFE,
                "logprobs": [],
            },
            {"type": "response.completed", "response": final},
        )
    )

    def run() -> str:
        with client.responses.stream(model=MAIN, input="hi") as stream:
            events = [e.model_dump_json() for e in stream]
            return "\n".join(events) + stream.get_final_response().model_dump_json()

    out = _blocked(run)
    assert out is None or MARK not in out


def test_oa_previous_response_id_after_blocked_stream_is_refused(env: _Env, client: Any) -> None:
    bad = _resp([_msg_item(UNSAFE)], rid="resp_bad")
    env.queue.append(
        _events(
            {
                "type": "response.created",
                "response": {**bad, "status": "in_progress", "output": []},
            },
            {
                "type": "response.output_text.delta",
                "output_index": 0,
                "item_id": "msg_1",
                "content_index": 0,
                "delta": UNSAFE,
                "logprobs": [],
            },
            {"type": "response.completed", "response": bad},
        )
    )
    _drain(client.responses.create(model=MAIN, input="hi", stream=True))
    before = len(env.main_bodies())
    with pytest.raises(ContentError):
        client.responses.create(model=MAIN, input="go on", previous_response_id="resp_bad")
    with pytest.raises(ContentError):
        client.responses.create(model=MAIN, input=[{"type": "item_reference", "id": "msg_1"}])
    assert len(env.main_bodies()) == before


async def test_oa_async_chat_parse_pydantic_answer_is_screened(env: _Env, aclient: Any) -> None:
    from pydantic import BaseModel

    from guard_core.testing import chat_completion

    class Answer(BaseModel):
        answer: str

    env.queue.append(chat_completion(json.dumps({"answer": UNSAFE}), model=MAIN))
    out = await _ablocked(
        aclient.chat.completions.parse(model=MAIN, messages=_user("hi"), response_format=Answer)
    )
    assert out is None or MARK not in out.model_dump_json()


def test_oa_responses_parse_answer_is_screened(env: _Env, client: Any) -> None:
    from pydantic import BaseModel

    class Answer(BaseModel):
        answer: str

    env.queue.append(_resp([_msg_item(json.dumps({"answer": UNSAFE}))]))
    out = _blocked(lambda: client.responses.parse(model=MAIN, input="hi", text_format=Answer))
    assert out is None or MARK not in out.model_dump_json()


async def test_oa_async_conversation_blocked_then_reused_is_refused(
    env: _Env, aclient: Any
) -> None:
    env.queue.append(_resp([_msg_item(UNSAFE)], rid="resp_c1"))
    await _ablocked(aclient.responses.create(model=MAIN, input="hi", conversation="conv_1"))
    before = len(env.main_bodies())
    with pytest.raises(ContentError):
        await aclient.responses.create(model=MAIN, input="again", conversation={"id": "conv_1"})
    assert len(env.main_bodies()) == before
