"""Redact and block remove every copy (artifact, document metadata, raw provider fields,
refused call arguments), and the sync and async middleware make the same decisions."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from langchain.agents import create_agent
from langchain.agents.middleware import InputAgentState
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool
from lc_canary import RecordingModel, read_by_model, scripted_guard
from lc_fakes import Ran, make_tools

from guard_core.audit import MemoryAudit
from guard_core.integrations.langchain import GuardDocumentFilter, GuardMiddleware, GuardRunnable


def test_a_redacted_tool_result_keeps_no_artifact() -> None:
    guard, _ = scripted_guard(actions={"tool_result": "redact"})
    result = ToolMessage(
        "the bomb recipe",
        tool_call_id="c1",
        name="fetch",
        artifact={"raw": "the bomb recipe"},
        additional_kwargs={"x": "bomb"},
    )
    redacted = GuardRunnable(guard, surface="tool_result").invoke(result)
    assert redacted.tool_call_id == "c1" and redacted.artifact is None
    assert "bomb" not in read_by_model(redacted)


@tool(response_format="content_and_artifact")
def fetch(url: str) -> tuple[str, dict[str, str]]:
    """Fetch a page."""
    return "page text", {"html": "<p>how to build a bomb</p>"}


def test_the_middleware_screens_and_redacts_an_artifact() -> None:
    guard, _ = scripted_guard(actions={"tool_result": "redact"})
    model = RecordingModel(
        answers=[
            AIMessage(
                "", tool_calls=[{"name": "fetch", "args": {"url": "https://a.example"}, "id": "c1"}]
            ),
            AIMessage("done"),
        ]
    )
    out = create_agent(model, [fetch], middleware=[GuardMiddleware(guard)]).invoke(
        {"messages": [HumanMessage("read it")]}
    )
    [result] = [m for m in out["messages"] if isinstance(m, ToolMessage)]
    assert result.text.startswith("[redacted by guard-core") and result.artifact is None
    assert "bomb" not in repr(out) and "bomb" not in repr(model.seen)


def test_document_metadata_is_screened_and_its_copies_removed() -> None:
    guard, _ = scripted_guard(actions={"retrieval": "redact"})
    docs = [
        Document("fine text", metadata={"title": "bomb making", "page": 3}),
        Document("how to build a bomb", metadata={"snippet": "build a bomb", "page": 4}),
        Document("also fine", metadata={"source": "faq.md"}),
    ]
    out = GuardDocumentFilter(guard).transform_documents(docs)
    assert "bomb" not in repr(out)
    assert out[0].metadata["page"] == 3 and "title" not in out[0].metadata
    assert out[2].metadata["source"] == "faq.md"  # allowed metadata stays
    assert GuardDocumentFilter(scripted_guard()[0]).transform_documents(docs) == [docs[2]]


def test_a_redacted_answer_keeps_no_raw_copy() -> None:
    guard, _ = scripted_guard(actions={"output": "redact"})
    answer = AIMessage(
        "a bomb",
        additional_kwargs={
            "refusal": "bomb",
            "function_call": {"name": "f", "arguments": json.dumps({"q": "bomb"})},
        },
    )
    redacted = GuardRunnable(guard, surface="output").invoke(answer)
    assert redacted.text.startswith("[redacted") and "bomb" not in read_by_model(redacted)


def test_a_redacted_history_message_is_sent_and_kept_redacted() -> None:
    guard, _ = scripted_guard(actions={"input": "redact", "output": "redact"})
    model = RecordingModel(answers=[AIMessage("Noted.")])
    history: list[AnyMessage | dict[str, Any]] = [
        SystemMessage("You are terse."),
        HumanMessage("earlier: a bomb", id="h1"),
        AIMessage("earlier bomb answer", id="a1"),
        HumanMessage("and now?", id="h2"),
    ]
    agent = create_agent(model, [], middleware=[GuardMiddleware(guard)])
    out = agent.invoke({"messages": history})
    assert "bomb" not in repr(model.seen) and "bomb" not in repr(out["messages"])
    assert [m.id for m in out["messages"][1:4]] == ["h1", "a1", "h2"]  # replaced in place
    assert out["messages"][-1].text == "Noted."


def _scenario(use_async: bool) -> tuple[list[Any], list[str], list[Any]]:
    guard, backend = scripted_guard()
    audit = MemoryAudit()
    guard.audit = audit
    ran = Ran()
    model = RecordingModel(
        answers=[
            AIMessage(
                "",
                tool_calls=[
                    {"name": "run_shell", "args": {"command": "bomb it"}, "id": "c1"},
                    {"name": "fetch_page", "args": {"url": "https://evil.x"}, "id": "c2"},
                ],
            ),
            AIMessage("All done."),
        ]
    )
    agent = create_agent(model, make_tools(ran), middleware=[GuardMiddleware(guard)])
    turn: InputAgentState = {"messages": [HumanMessage("tidy up", id="u1")]}
    out = asyncio.run(agent.ainvoke(turn)) if use_async else agent.invoke(turn)
    messages = [(type(m).__name__, m.text, getattr(m, "status", None)) for m in out["messages"]]
    decided = [(r["surface"], r["decision"], r["cached"]) for r in audit.records]
    return messages, [str(r.messages) for r in backend.requests], [ran.calls, decided]


def test_sync_and_async_middleware_behave_the_same() -> None:
    sync, asyn = _scenario(False), _scenario(True)
    assert sync == asyn
    messages, _, (calls, _) = sync
    assert calls == [("fetch_page", {"url": "https://evil.x"})]
    assert [s for _, _, s in messages if s] == ["error", "error"]  # blocked call, poison
