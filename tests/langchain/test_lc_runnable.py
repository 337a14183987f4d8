"""GuardRunnable in LCEL chains: pipes, fallbacks, batch, streams, images, documents."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.prompt_values import ChatPromptValue
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda
from lc_fakes import ListRetriever, ToolCallingModel, calls, png_b64

from guard_core import Guard, GuardViolation, Policy, PolicySet
from guard_core.audit import MemoryAudit
from guard_core.errors import ConfigurationError, ContentError
from guard_core.integrations.langchain import GuardRunnable
from guard_core.models import GuardRequest
from guard_core.testing import ScriptedBackend

PROMPT = ChatPromptTemplate.from_messages([("system", "You are terse."), ("human", "{question}")])


class CountingBackend(ScriptedBackend):
    """The scripted guard, counting backend rounds."""

    rounds = 0

    def classify(self, requests: Sequence[GuardRequest]) -> list[Any]:
        self.rounds += 1
        return super().classify(requests)


def test_guards_compose_before_and_after_a_model(guard: Guard, audit: MemoryAudit):
    model = ToolCallingModel(responses=[AIMessage("Paris.")])
    chain = (
        GuardRunnable(guard)
        | PROMPT
        | model
        | GuardRunnable(guard, surface="output", on_block="refuse")
    )

    assert chain.invoke({"question": "capital of France?"}).text == "Paris."
    with pytest.raises(GuardViolation) as caught:
        chain.invoke({"question": "how to build a bomb"})
    assert len(model.seen) == 1  # the unsafe question never reached the model
    assert caught.value.verdict.surface == "input"
    assert [(r["surface"], r["decision"]) for r in audit.records] == [
        ("input", "allow"),
        ("output", "allow"),
        ("input", "block"),
    ]


def test_refuse_returns_the_type_it_was_given(guard: Guard):
    guard_out = GuardRunnable(guard, surface="output", on_block="refuse", refusal="No.")
    refused = guard_out.invoke(AIMessage("bomb instructions", id="m1"))
    assert isinstance(refused, AIMessage) and refused.content == "No." and refused.id == "m1"
    assert refused.response_metadata["guard_core"]["decision"] == "block"
    assert guard_out.invoke("bomb instructions") == "No."
    chunk = guard_out.invoke(AIMessageChunk(content="bomb"))
    assert isinstance(chunk, AIMessageChunk) and chunk.content == "No."
    doc = GuardRunnable(guard, surface="retrieval", on_block="refuse").invoke(Document("bomb"))
    assert isinstance(doc, Document) and doc.page_content == "I can't help with that request."


def test_violation_works_with_fallbacks(guard: Guard):
    model = ToolCallingModel(responses=[AIMessage("answer")])
    chain = (GuardRunnable(guard) | model).with_fallbacks(
        [RunnableLambda(lambda _: AIMessage("Let's talk about something else."))],
        exceptions_to_handle=(GuardViolation,),
    )
    assert chain.invoke("hello").text == "answer"
    assert chain.invoke("burn a house for me").text == "Let's talk about something else."
    assert len(model.seen) == 1


def test_retriever_pipe_drops_redacts_or_flags(guard: Guard):
    docs = [
        Document("Opening hours are 9-5.", metadata={"source": "faq.md"}),
        Document("Step 1 of the bomb: ...", metadata={"source": "forum.html"}),
    ]
    retriever = ListRetriever(docs=docs)

    dropped = (retriever | GuardRunnable(guard, surface="retrieval", action="drop")).invoke("q")
    assert [d.page_content for d in dropped] == ["Opening hours are 9-5."]

    redacted = (retriever | GuardRunnable(guard, surface="retrieval", action="redact")).invoke("q")
    assert redacted[1].page_content.startswith("[redacted by guard-core:")
    assert redacted[1].metadata["source"] == "forum.html"

    flagged = (retriever | GuardRunnable(guard, surface="retrieval", action="flag")).invoke("q")
    assert flagged[1].page_content == docs[1].page_content
    assert flagged[1].metadata["guard_core"]["decision"] == "flag"
    assert "guard_core" not in flagged[0].metadata

    with pytest.raises(GuardViolation):  # the policy's own action (block) for retrieval
        (retriever | GuardRunnable(guard, surface="retrieval")).invoke("q")


def test_policy_action_decides_without_override(backend: ScriptedBackend):
    guard = Guard(backend, Policy(actions={"retrieval": "drop"}))
    out = GuardRunnable(guard, surface="retrieval").invoke([Document("a"), Document("bomb")])
    assert [d.page_content for d in out] == ["a"]
    with pytest.raises(GuardViolation):  # a lone document cannot be dropped: blocked
        GuardRunnable(guard, surface="retrieval").invoke(Document("bomb"))


def test_batch_screens_all_inputs_in_one_round(audit: MemoryAudit):
    backend = CountingBackend()
    guard_in = GuardRunnable(Guard(backend, audit=audit))

    out = guard_in.batch(["hello", "a bomb please", "thanks"], return_exceptions=True)

    assert out[0] == "hello" and out[2] == "thanks"
    assert isinstance(out[1], GuardViolation) and out[1].verdict.surface == "input"
    assert backend.rounds == 1
    with pytest.raises(GuardViolation):
        guard_in.batch(["fine", "burn a house"])


def test_batch_groups_inputs_by_agent(audit: MemoryAudit):
    backend = CountingBackend()
    policies = PolicySet({"a": Policy(name="pa"), "b": Policy(name="pb")}, default=Policy())
    guard_in = GuardRunnable(Guard(backend, policies, audit=audit))
    configs: list[Any] = [
        {"configurable": {"guard_agent": "a"}},
        {"configurable": {"guard_agent": "b"}},
        {"configurable": {"guard_agent": "a"}},
    ]
    assert guard_in.batch(["x", "y", "z"], configs) == ["x", "y", "z"]
    assert backend.rounds == 2
    assert [(r["agent"], r["policy"]) for r in audit.records] == [
        ("a", "pa"),
        ("a", "pa"),
        ("b", "pb"),
    ]


async def test_abatch_and_ainvoke(guard: Guard):
    guard_in = GuardRunnable(guard)
    assert await guard_in.ainvoke("hi") == "hi"
    out = await guard_in.abatch(["ok", "bomb"], return_exceptions=True)
    assert out[0] == "ok" and isinstance(out[1], GuardViolation)


def test_stream_buffers_so_nothing_unscreened_leaves(guard: Guard):
    unsafe = GenericFakeChatModel(messages=iter([AIMessage("sure , here is the bomb recipe")]))
    seen: list[Any] = []
    with pytest.raises(GuardViolation):
        for chunk in (unsafe | GuardRunnable(guard, surface="output")).stream("hi"):
            seen.append(chunk)
    assert seen == []

    safe = GenericFakeChatModel(messages=iter([AIMessage("the museum opens at nine")]))
    chunks = list((safe | GuardRunnable(guard, surface="output")).stream("hi"))
    assert len(chunks) == 1 and chunks[0].content == "the museum opens at nine"


def test_incremental_stream_releases_screened_text_and_aborts_on_a_block(guard: Guard):
    text = "word " * 30 + "and now the bomb part"
    model = GenericFakeChatModel(messages=iter([AIMessage(text)]))
    guard_out = GuardRunnable(guard, surface="output", streaming="incremental", stream_chars=40)
    seen: list[Any] = []
    with pytest.raises(GuardViolation):
        for chunk in (model | guard_out).stream("hi"):
            seen.append(chunk)
    released = "".join(c.content for c in seen)
    assert released and "bomb" not in released and text.startswith(released)

    safe = GenericFakeChatModel(messages=iter([AIMessage("word " * 30)]))
    chunks = list((safe | guard_out).stream("hi"))
    assert len(chunks) > 1 and "".join(c.content for c in chunks) == "word " * 30

    early = GenericFakeChatModel(messages=iter([AIMessage("bomb " + "word " * 30)]))
    refuse = GuardRunnable(
        guard, surface="output", streaming="incremental", stream_chars=20, on_block="refuse"
    )
    assert [c.content for c in (early | refuse).stream("hi")] == ["I can't help with that request."]


async def test_astream_buffered_and_incremental(guard: Guard):
    model = GenericFakeChatModel(messages=iter([AIMessage("a calm answer " * 5)]))
    chunks = [c async for c in (model | GuardRunnable(guard, surface="output")).astream("q")]
    assert len(chunks) == 1
    model = GenericFakeChatModel(messages=iter([AIMessage("a calm answer " * 5 + "bomb")]))
    guard_out = GuardRunnable(guard, surface="output", streaming="incremental", stream_chars=10)
    seen: list[Any] = []
    with pytest.raises(GuardViolation):
        async for chunk in (model | guard_out).astream("q"):
            seen.append(chunk)
    assert seen and "bomb" not in "".join(c.content for c in seen)


def test_images_in_content_blocks_reach_the_guard(guard: Guard, backend: ScriptedBackend):
    message = HumanMessage(
        [
            {"type": "text", "text": "what is in these pictures?"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png_b64()}"}},
            {"type": "image", "base64": png_b64(b"\x00\x00\xff"), "mime_type": "image/png"},
        ]
    )
    assert GuardRunnable(guard).invoke(message) is message
    parts = [
        p
        for r in backend.requests
        for p in r.messages[0]["content"]
        if isinstance(r.messages[0]["content"], list) and p["type"] == "image_url"
    ]
    assert len({p["image_url"]["url"] for p in parts}) == 2
    assert all(p["image_url"]["url"].startswith("data:image/png") for p in parts)

    unsafe = HumanMessage(
        [
            {"type": "text", "text": "and this?"},
            {"type": "image", "url": "https://img.example/bomb.jpg"},
        ]
    )
    with pytest.raises(GuardViolation) as caught:
        GuardRunnable(guard).invoke(unsafe)
    assert caught.value.verdict.surface == "input"
    with pytest.raises(ContentError, match="file id"):
        GuardRunnable(guard).invoke(HumanMessage([{"type": "image", "file_id": "file-1"}]))


def test_prompt_values_and_prompt_variables(guard: Guard):
    redact = GuardRunnable(guard, action="redact")
    value = (PROMPT | redact).invoke({"question": "bomb?"})
    assert isinstance(value, ChatPromptValue)
    assert value.messages[0].content == "You are terse."  # system prompt not screened
    assert isinstance(value.messages[1].content, str)
    assert value.messages[1].content.startswith("[redacted by guard-core:")
    assert redact.invoke({"question": "bomb?", "limit": 3}) == {
        "question": value.messages[1].content,
        "limit": 3,
    }


def test_ai_message_tool_calls(guard: Guard):
    message = calls(("search", {"q": "weather"}), ("shell", {"cmd": "bomb"}), text="Working.")
    with pytest.raises(GuardViolation) as caught:
        GuardRunnable(guard, surface="output").invoke(message)
    assert caught.value.verdict.surface == "tool_call"
    trimmed = GuardRunnable(guard, surface="output", action="redact").invoke(message)
    assert [c["name"] for c in trimmed.tool_calls] == ["search"] and trimmed.text == "Working."
    only_calls = GuardRunnable(guard, surface="tool_call")
    assert only_calls.invoke(calls(("search", {"q": "x"}), text="bomb talk")).text == "bomb talk"
    assert only_calls.invoke([{"name": "search", "args": {"q": "ok"}, "id": "1"}])
    with pytest.raises(GuardViolation):
        only_calls.invoke([{"name": "s", "args": {"q": "bomb"}, "id": "1"}])
    dropped = GuardRunnable(guard, surface="tool_call", action="drop").invoke(
        [{"name": "s", "args": {"q": "bomb"}, "id": "1"}, {"name": "t", "args": {}, "id": "2"}]
    )
    assert [c["id"] for c in dropped] == ["2"]


def test_tool_results_and_message_history(guard: Guard):
    result = ToolMessage("the bomb is in the lobby", tool_call_id="c1", name="news")
    redacted = GuardRunnable(guard, surface="tool_result", action="redact").invoke(result)
    assert redacted.tool_call_id == "c1" and redacted.content.startswith("[redacted")
    history = [HumanMessage("hi"), AIMessage("bomb talk"), HumanMessage("bye")]
    with pytest.raises(GuardViolation) as caught:  # input: every message, each by its role
        GuardRunnable(guard).invoke(history)
    assert caught.value.verdict.surface == "output"
    safe = [HumanMessage("hi"), AIMessage("hello"), HumanMessage("bye")]
    assert GuardRunnable(guard).invoke(safe) == safe
    with pytest.raises(GuardViolation):
        GuardRunnable(guard, surface="output").invoke(history)


def test_callbacks_tags_and_config_flow(guard: Guard, audit: MemoryAudit):
    class Recorder(BaseCallbackHandler):
        def __init__(self) -> None:
            self.starts: list[tuple[str, list[str]]] = []
            self.errors: list[BaseException] = []

        def on_chain_start(self, serialized: Any, inputs: Any, **kwargs: Any) -> None:
            self.starts.append((kwargs["name"], kwargs.get("tags") or []))

        def on_chain_error(self, error: BaseException, **kwargs: Any) -> None:
            self.errors.append(error)

    recorder = Recorder()
    guard_in = GuardRunnable(guard, name="input-guard")
    guard_in.invoke(
        "hi",
        config={
            "callbacks": [recorder],
            "tags": ["prod"],
            "metadata": {"lc_agent_name": "concierge"},
        },
    )
    with pytest.raises(GuardViolation):
        guard_in.invoke(
            "bomb",
            config={
                "callbacks": [recorder],
                "run_name": "renamed",
                "configurable": {"guard_agent": "vip"},
            },
        )
    assert recorder.starts == [("input-guard", ["prod"]), ("renamed", [])]
    assert isinstance(recorder.errors[0], GuardViolation)
    assert [r["agent"] for r in audit.records] == ["concierge", "vip"]


def test_bad_inputs_and_settings_say_what_to_do(guard: Guard):
    with pytest.raises(ContentError, match="surface='output"):
        GuardRunnable(guard).invoke(AIMessage("hello"))
    with pytest.raises(ContentError, match="cannot screen a object"):
        GuardRunnable(guard).invoke(object())
    with pytest.raises(ConfigurationError, match="images are screened"):
        GuardRunnable(guard, surface="image")
    with pytest.raises(ConfigurationError, match="on_block"):
        GuardRunnable(guard, on_block="ignore")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="needs a Guard"):
        GuardRunnable("guard")  # type: ignore[arg-type]
