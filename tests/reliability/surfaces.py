"""Every surface a user meets guard-core through, as one driver each: core, LangChain
(runnable, document step, callback handler, agent middleware), LlamaIndex (node
postprocessor, tools) and the OpenAI client wrapper; each sync and async.

A driver builds a guard over a given :class:`RemoteBackend` (a real loopback server plays
the guard model), pushes harmless or hostile content through the real framework object and
reports whether the content got where it was going (``passed``) and what the caller was
told (``reason``). The reliability and security suites share these drivers.
"""

from __future__ import annotations

import asyncio
import base64
import struct
import zlib
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from guard_core import Guard, GuardViolation, Policy
from guard_core.audit import MemoryAudit
from guard_core.backends import RemoteBackend
from guard_core.content import (
    SURFACES,
    AssistantMessage,
    Image,
    Item,
    RetrievedChunk,
    ToolCall,
    ToolResult,
    UserMessage,
)
from guard_core.testing import OpenAICompatServer, chat_completion

N35 = "nvidia/nemotron-3.5-content-safety"
CSR = "nvidia/Nemotron-Content-Safety-Reasoning-4B"
NEMOGUARD = "nvidia/llama-3.1-nemoguard-8b-content-safety"
MAIN = "main-model"
MAIN_ANSWER = "Green tea is brewed at 80 degrees."

PolicyKind = Literal["block", "allow", "flag"]


def tiny_png() -> bytes:
    """A real 1x1 RGB PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\x10\x20\x30"))
        + chunk(b"IEND", b"")
    )


def png_data_url() -> str:
    return "data:image/png;base64," + base64.b64encode(tiny_png()).decode()


def policy(kind: PolicyKind, **fields: Any) -> Policy:
    """``block``: the default policy; ``allow``: ``on_error="allow"``; ``flag``: the default
    ``on_error`` with every surface's action set to ``flag``."""
    if kind == "allow":
        return Policy(name="rel", on_error="allow", **fields)
    if kind == "flag":
        return Policy(name="rel", actions={s: "flag" for s in SURFACES}, **fields)
    return Policy(name="rel", **fields)


@dataclass
class Result:
    """What happened to the content pushed through one surface."""

    passed: bool
    reason: str | None = None
    ran: list[str] = field(default_factory=list)


@dataclass
class Ctx:
    """What a driver gets: the backend to judge with, the policy, the audit sink, and the
    healthy main-model server the OpenAI wrapper sends its model calls to."""

    backend: RemoteBackend
    policy: Policy
    audit: MemoryAudit
    main: OpenAICompatServer
    text: str = "How long should green tea brew?"

    def guard(self, **fields: Any) -> Guard:
        chosen = (
            Policy.model_validate({**self.policy.model_dump(), **fields}) if fields else self.policy
        )
        return Guard(self.backend, chosen, audit=self.audit, cache=False)


Sync = Callable[[Ctx], Result]
Async = Callable[[Ctx], Coroutine[Any, Any, Result]]


def _first_blocked(verdicts: Sequence[Any]) -> str | None:
    return next((v.reason for v in verdicts if not v.allowed), None)


# -- core ---------------------------------------------------------------------------------


def core_items(ctx: Ctx) -> list[Item]:
    # distinct texts: identical requests would be sent once and shared
    text = ctx.text
    items: list[Item] = [
        UserMessage(text),
        AssistantMessage(f"Answer: {text}", context="a question"),
        ToolCall("search", {"query": text}, context="a question"),
        ToolResult("search", f"Result: {text}"),
        RetrievedChunk(f"Document: {text}", source="doc-1"),
    ]
    if ctx.backend.family.supports_images:
        items.append(Image(data=tiny_png(), caption=f"Image: {text}"))
    return items


def core_sync(ctx: Ctx) -> Result:
    verdicts = ctx.guard().check_many(core_items(ctx))
    return Result(all(v.allowed for v in verdicts), _first_blocked(verdicts))


async def core_async(ctx: Ctx) -> Result:
    guard = ctx.guard()
    verdicts = await asyncio.gather(*(guard.acheck(i) for i in core_items(ctx)))
    return Result(all(v.allowed for v in verdicts), _first_blocked(verdicts))


# -- LangChain ----------------------------------------------------------------------------


def lc_runnable_sync(ctx: Ctx) -> Result:
    from langchain_core.messages import HumanMessage

    from guard_core.integrations.langchain import GuardRunnable

    step = GuardRunnable(ctx.guard(), surface="input")
    try:
        out = step.invoke([HumanMessage(ctx.text)])
    except GuardViolation as exc:
        return Result(False, str(exc))
    return Result(bool(out) and out[0].content == ctx.text)


async def lc_runnable_async(ctx: Ctx) -> Result:
    from langchain_core.messages import AIMessage

    from guard_core.integrations.langchain import GuardRunnable

    step = GuardRunnable(ctx.guard(), surface="output")
    try:
        out = await step.ainvoke(AIMessage(ctx.text))
    except GuardViolation as exc:
        return Result(False, str(exc))
    return Result(out.content == ctx.text)


def _docs(ctx: Ctx) -> list[Any]:
    from langchain_core.documents import Document

    return [Document(ctx.text, metadata={"source": "a"}), Document("Oolong, 90 degrees.")]


def _docs_result(ctx: Ctx, out: list[Any]) -> Result:
    # passed: both documents reach the prompt as they were (a flag mark does not stop them)
    kept = [d.page_content for d in out] == [d.page_content for d in _docs(ctx)]
    return Result(
        kept,
        next((d.metadata["guard_core"]["reason"] for d in out if "guard_core" in d.metadata), None),
    )


def lc_documents_sync(ctx: Ctx) -> Result:
    from guard_core.integrations.langchain import GuardRunnable

    step = GuardRunnable(ctx.guard(), surface="retrieval")
    try:
        return _docs_result(ctx, step.invoke(_docs(ctx)))
    except GuardViolation as exc:
        return Result(False, str(exc))


async def lc_documents_async(ctx: Ctx) -> Result:
    from guard_core.integrations.langchain import GuardDocumentFilter

    out = await GuardDocumentFilter(ctx.guard()).atransform_documents(_docs(ctx))
    return _docs_result(ctx, list(out))


def _lookup_tool(ran: list[str]) -> Any:
    from langchain_core.tools import tool

    @tool
    def lookup(query: str) -> str:
        """Look something up in the tea notes."""
        ran.append(query)
        return f"notes about {query}"

    return lookup


def lc_callbacks_sync(ctx: Ctx) -> Result:
    from guard_core.integrations.langchain import GuardCallbackHandler

    ran: list[str] = []
    handler = GuardCallbackHandler(ctx.guard())
    try:
        out = _lookup_tool(ran).invoke({"query": ctx.text}, config={"callbacks": [handler]})
    except GuardViolation as exc:
        return Result(False, str(exc), ran)
    return Result(bool(ran) and out == f"notes about {ctx.text}", None, ran)


async def lc_callbacks_async(ctx: Ctx) -> Result:
    from guard_core.integrations.langchain import GuardCallbackHandler

    ran: list[str] = []
    handler = GuardCallbackHandler(ctx.guard())
    try:
        out = await _lookup_tool(ran).ainvoke({"query": ctx.text}, config={"callbacks": [handler]})
    except GuardViolation as exc:
        return Result(False, str(exc), ran)
    return Result(bool(ran) and out == f"notes about {ctx.text}", None, ran)


def _agent(ctx: Ctx, ran: list[str], **policy_fields: Any) -> Any:
    from langchain.agents import create_agent
    from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
    from langchain_core.messages import AIMessage

    from guard_core.integrations.langchain import GuardMiddleware

    class Model(FakeMessagesListChatModel):
        def bind_tools(self, tools: Any, **kwargs: Any) -> Model:
            return self

    model = Model(
        responses=[
            AIMessage(
                "", tool_calls=[{"name": "lookup", "args": {"query": ctx.text}, "id": "call_0"}]
            ),
            AIMessage(MAIN_ANSWER),
        ]
    )
    return create_agent(
        model,
        [_lookup_tool(ran)],
        middleware=[GuardMiddleware(ctx.guard(**policy_fields))],
        name="rel",
    )


def _agent_result(out: dict[str, Any], ran: list[str]) -> Result:
    from langchain_core.messages import ToolMessage

    last = out["messages"][-1]
    meta = last.response_metadata.get("guard_core")
    refused = [m for m in out["messages"] if isinstance(m, ToolMessage) and m.status == "error"]
    reason = meta["reason"] if meta else (refused[0].text if refused else None)
    # passed: the tool ran and the model's answer reached the user (flag marks do not count)
    passed = bool(ran) and last.text == MAIN_ANSWER and not refused
    return Result(passed, reason, ran)


def lc_middleware_sync(ctx: Ctx) -> Result:
    from langchain_core.messages import HumanMessage

    ran: list[str] = []
    out = _agent(ctx, ran).invoke({"messages": [HumanMessage(ctx.text)]})
    return _agent_result(out, ran)


async def lc_middleware_async(ctx: Ctx) -> Result:
    from langchain_core.messages import HumanMessage

    ran: list[str] = []
    out = await _agent(ctx, ran).ainvoke({"messages": [HumanMessage(ctx.text)]})
    return _agent_result(out, ran)


_TOOL_SURFACES = frozenset({"tool_call", "tool_result"})


def lc_middleware_tools_sync(ctx: Ctx) -> Result:
    """The middleware's tool wrapper alone: only tool calls and results are screened."""
    from langchain_core.messages import HumanMessage

    ran: list[str] = []
    out = _agent(ctx, ran, surfaces=_TOOL_SURFACES).invoke({"messages": [HumanMessage(ctx.text)]})
    return _agent_result(out, ran)


async def lc_middleware_tools_async(ctx: Ctx) -> Result:
    from langchain_core.messages import HumanMessage

    ran: list[str] = []
    out = await _agent(ctx, ran, surfaces=_TOOL_SURFACES).ainvoke(
        {"messages": [HumanMessage(ctx.text)]}
    )
    return _agent_result(out, ran)


# -- LlamaIndex ---------------------------------------------------------------------------


def _postprocessor(ctx: Ctx, reasons: list[str]) -> Any:
    from guard_core.integrations.llama_index import GuardNodePostprocessor

    def seen(node: Any, verdict: Any) -> None:
        if not verdict.allowed:
            reasons.append(verdict.reason)

    # "flag" keeps unsafe nodes (marked): only a node the guard could not judge is removed
    return GuardNodePostprocessor(ctx.guard(), action="flag", on_verdict=seen)


def _nodes(ctx: Ctx) -> list[Any]:
    from llama_index.core.schema import NodeWithScore, TextNode

    return [
        NodeWithScore(node=TextNode(id_="a", text=ctx.text)),
        NodeWithScore(node=TextNode(id_="b", text="Oolong is brewed at 90 degrees.")),
    ]


def _nodes_result(out: list[Any], reasons: list[str]) -> Result:
    # passed: both nodes reach the prompt with their text (a flag mark does not stop them)
    texts = [n.node.get_content() for n in out]
    return Result(
        len(texts) == 2 and "Oolong is brewed at 90 degrees." in texts,
        reasons[0] if reasons else None,
    )


def li_postprocessor_sync(ctx: Ctx) -> Result:
    reasons: list[str] = []
    out = _postprocessor(ctx, reasons).postprocess_nodes(_nodes(ctx), query_str="tea")
    return _nodes_result(out, reasons)


async def li_postprocessor_async(ctx: Ctx) -> Result:
    reasons: list[str] = []
    out = await _postprocessor(ctx, reasons).apostprocess_nodes(_nodes(ctx), query_str="tea")
    return _nodes_result(out, reasons)


def _li_tool(ctx: Ctx, ran: list[str]) -> Any:
    from guard_core.integrations.llama_index import guard_tools

    def lookup(query: str) -> str:
        """Look something up in the tea notes."""
        ran.append(query)
        return f"notes about {query}"

    [tool] = guard_tools([lookup], ctx.guard())
    return tool


def _tool_result(output: Any, ran: list[str], ctx: Ctx) -> Result:
    ok = not output.is_error and output.content == f"notes about {ctx.text}"
    return Result(bool(ran) and ok, output.content if output.is_error else None, ran)


def li_tools_sync(ctx: Ctx) -> Result:
    ran: list[str] = []
    return _tool_result(_li_tool(ctx, ran)(query=ctx.text), ran, ctx)


async def li_tools_async(ctx: Ctx) -> Result:
    ran: list[str] = []
    return _tool_result(await _li_tool(ctx, ran).acall(query=ctx.text), ran, ctx)


# -- OpenAI client ------------------------------------------------------------------------


def _sent(ctx: Ctx) -> int:
    return sum(1 for r in ctx.main.posts() if r.body and r.body.get("model") == MAIN)


_SYNC_CLIENTS: dict[str, Any] = {}


def _main_client(ctx: Ctx) -> Any:
    """One SDK client per main server (making one costs ~20 ms); closed by close_clients."""
    import openai

    url = ctx.main.base_url
    if url not in _SYNC_CLIENTS:
        _SYNC_CLIENTS[url] = openai.OpenAI(base_url=url, api_key="sk-main", max_retries=0)
    return _SYNC_CLIENTS[url]


def close_clients() -> None:
    while _SYNC_CLIENTS:
        _SYNC_CLIENTS.popitem()[1].close()


def openai_sync(ctx: Ctx) -> Result:
    from guard_core.integrations.openai import guard_openai

    before = _sent(ctx)
    client = guard_openai(_main_client(ctx), ctx.guard())
    try:
        answer = client.chat.completions.create(
            model=MAIN, messages=[{"role": "user", "content": ctx.text}]
        )
    except GuardViolation as exc:
        return Result(False, str(exc), ["sent"] * (_sent(ctx) - before))
    return Result(
        answer.choices[0].message.content == MAIN_ANSWER, None, ["sent"] * (_sent(ctx) - before)
    )


async def openai_async(ctx: Ctx) -> Result:
    import openai

    from guard_core.integrations.openai import guard_openai

    before = _sent(ctx)
    inner = openai.AsyncOpenAI(base_url=ctx.main.base_url, api_key="sk-main", max_retries=0)
    try:
        client = guard_openai(inner, ctx.guard())
        answer = await client.chat.completions.create(
            model=MAIN, messages=[{"role": "user", "content": ctx.text}]
        )
    except GuardViolation as exc:
        return Result(False, str(exc), ["sent"] * (_sent(ctx) - before))
    finally:
        await inner.close()
    return Result(
        answer.choices[0].message.content == MAIN_ANSWER, None, ["sent"] * (_sent(ctx) - before)
    )


def main_server() -> OpenAICompatServer:
    """A healthy main chat model for the OpenAI wrapper (never faulted)."""
    return OpenAICompatServer(models={MAIN: lambda body: chat_completion(MAIN_ANSWER)})


@dataclass(frozen=True)
class Driver:
    name: str
    sync: Sync
    asyn: Async


DRIVERS: tuple[Driver, ...] = (
    Driver("core", core_sync, core_async),
    Driver("lc-runnable", lc_runnable_sync, lc_runnable_async),
    Driver("lc-documents", lc_documents_sync, lc_documents_async),
    Driver("lc-callbacks", lc_callbacks_sync, lc_callbacks_async),
    Driver("lc-middleware", lc_middleware_sync, lc_middleware_async),
    Driver("lc-middleware-tools", lc_middleware_tools_sync, lc_middleware_tools_async),
    Driver("li-postprocessor", li_postprocessor_sync, li_postprocessor_async),
    Driver("li-tools", li_tools_sync, li_tools_async),
    Driver("openai", openai_sync, openai_async),
)
BY_NAME = {d.name: d for d in DRIVERS}


def run(driver: Driver, mode: str, ctx: Ctx) -> Result:
    """Run ``driver`` sync or async (the async one in a fresh event loop, closing the
    backend's client for that loop afterwards)."""
    if mode == "sync":
        return driver.sync(ctx)

    async def go() -> Result:
        try:
            return await driver.asyn(ctx)
        finally:
            await ctx.backend.aclose()

    return asyncio.run(go())
