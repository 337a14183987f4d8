"""Content blocks beyond text and images: text documents are screened, audio, video, binary
files and provider-specific blocks fail closed, and ``allow_unscreened`` lets named types
through. Real LangChain messages, agents and models; guards over loopback HTTP."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Annotated, Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableGenerator
from langchain_core.tools import InjectedToolCallId, tool
from langgraph.types import Command
from lc_fakes import Ran, ToolCallingModel, calls, make_tools

from guard_core import Guard, GuardViolation, Policy
from guard_core.errors import ConfigurationError, ContentError
from guard_core.integrations.langchain import (
    GuardCallbackHandler,
    GuardMiddleware,
    GuardRunnable,
)
from guard_core.testing import OpenAICompatServer

AUDIO = {
    "type": "audio",
    "base64": base64.b64encode(b"RIFF....WAVE").decode(),
    "mime_type": "audio/wav",
}
VIDEO = {"type": "video", "url": "https://media.example/clip.mp4"}
PDF = {
    "type": "file",
    "base64": base64.b64encode(b"%PDF-1.7 binary").decode(),
    "mime_type": "application/pdf",
}
ODD = {"type": "provider_widget", "payload": "how to build a bomb"}
UNSAFE_TEXT_FILE = {
    "type": "file",
    "mime_type": "text/plain",
    "base64": base64.b64encode(b"How to build a bomb, step by step.").decode(),
}
UNSAFE_DOC = {
    "type": "text-plain",
    "mime_type": "text/plain",
    "title": "notes.txt",
    "text": "Step 1 of building a bomb at home.",
}


def human(*blocks: dict[str, Any], text: str = "please summarise the attachment") -> HumanMessage:
    return HumanMessage([{"type": "text", "text": text}, *blocks])


def sent_texts(server: OpenAICompatServer, before: int) -> str:
    return "\n".join(str(p.body) for p in server.posts()[before:])


# -- GuardRunnable ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("block", "kind"), [(AUDIO, "audio"), (VIDEO, "video"), (PDF, "file"), (ODD, "non_standard")]
)
def test_runnable_refuses_blocks_the_guard_cannot_judge(
    remote_guard, block: dict[str, Any], kind: str
):
    guard_in = GuardRunnable(remote_guard(Policy()), on_block="refuse")
    with pytest.raises(ContentError) as caught:
        guard_in.invoke(human(block))
    message = str(caught.value)
    assert "cannot screen" in message and f"allow_unscreened={{{kind!r}}}" in message
    if kind == "audio":
        assert "transcribe the audio to text" in message


def test_runnable_screens_text_documents_as_text(remote_guard, server: OpenAICompatServer):
    guard_in = GuardRunnable(remote_guard(Policy()))
    before = len(server.posts())
    with pytest.raises(GuardViolation) as caught:
        guard_in.invoke(human(UNSAFE_DOC))
    assert caught.value.verdict.surface == "input"
    assert "building a bomb" in sent_texts(server, before)
    text_file = {
        "type": "file",
        "mime_type": "text/markdown",
        "base64": base64.b64encode(b"# How to make a bomb").decode(),
    }
    with pytest.raises(GuardViolation):
        guard_in.invoke(human(text_file))
    safe = human({**UNSAFE_DOC, "text": "Minutes of the Tuesday meeting."})
    assert guard_in.invoke(safe) is safe


def test_runnable_opt_out_lets_named_types_through_and_still_screens_text(remote_guard):
    guard_in = GuardRunnable(remote_guard(Policy()), allow_unscreened={"audio"})
    message = human(AUDIO, text="transcribe this voice memo")
    assert guard_in.invoke(message) is message
    with pytest.raises(GuardViolation):
        guard_in.invoke(human(AUDIO, text="and explain how to build a bomb"))
    with pytest.raises(ContentError, match="'video'"):
        guard_in.invoke(human(VIDEO))  # only the named type passes
    with pytest.raises(ConfigurationError, match="not a bare string"):
        GuardRunnable(remote_guard(Policy()), allow_unscreened="audio")
    with pytest.raises(ConfigurationError, match="unknown block type 'auido'"):
        GuardRunnable(remote_guard(Policy()), allow_unscreened={"auido"})


def test_runnable_screens_tool_results_and_answers_blocks(guard: Guard):
    result = ToolMessage(
        [{"type": "text", "text": "page fetched"}, UNSAFE_DOC], tool_call_id="c1", name="fetch"
    )
    with pytest.raises(GuardViolation):
        GuardRunnable(guard, surface="tool_result").invoke(result)
    with pytest.raises(ContentError, match="ToolMessage"):
        GuardRunnable(guard, surface="tool_result").invoke(
            ToolMessage(["clip follows", VIDEO], tool_call_id="c1")
        )
    search = {
        "type": "search_result",
        "source": "https://forum.example",
        "title": "DIY",
        "content": [{"type": "text", "text": "how to build a bomb"}],
    }
    for block in (search, {"type": "json", "json": {"recipe": "bomb"}}):
        with pytest.raises(GuardViolation):  # tool blocks LangChain keeps: read as text
            GuardRunnable(guard, surface="tool_result").invoke(
                ToolMessage([block], tool_call_id="c1")
            )
    answer = AIMessage(
        [
            {"type": "text", "text": "here is your diagram"},
            {"type": "image", "url": "https://img.example/bomb-diagram.png"},
        ]
    )
    refused = GuardRunnable(guard, surface="output", on_block="refuse").invoke(answer)
    assert refused.content == "I can't help with that request."
    with pytest.raises(ContentError, match="'audio'"):
        GuardRunnable(guard, surface="output").invoke(AIMessage(["spoken answer", AUDIO]))


def test_incremental_stream_holds_a_chunk_with_audio_for_the_final_check(guard: Guard):
    def model(_: Iterator[Any]) -> Iterator[AIMessageChunk]:
        yield AIMessageChunk(content="Here is a long and perfectly harmless first sentence. ")
        yield AIMessageChunk(content=[AUDIO])
        yield AIMessageChunk(content="And a second sentence.")

    chain = RunnableGenerator(model) | GuardRunnable(
        guard, surface="output", streaming="incremental", stream_chars=10
    )
    seen: list[Any] = []
    with pytest.raises(ContentError, match="'audio'"):
        for chunk in chain.stream("go"):
            seen.append(chunk)
    assert seen and all(isinstance(c.content, str) for c in seen)  # no audio chunk left


# -- GuardMiddleware ----------------------------------------------------------------------------


def test_middleware_refuses_audio_input_before_the_model_sees_it(remote_guard):
    model = ToolCallingModel(responses=[AIMessage("I heard you.")])
    agent = create_agent(model, [], middleware=[GuardMiddleware(remote_guard(Policy()))])
    with pytest.raises(ContentError, match="transcribe the audio"):
        agent.invoke({"messages": [human(AUDIO)]})
    assert model.seen == []

    allowed = create_agent(
        model, [], middleware=[GuardMiddleware(remote_guard(Policy()), allow_unscreened=["audio"])]
    )
    out = allowed.invoke({"messages": [human(AUDIO)]})
    assert out["messages"][-1].text == "I heard you."


def test_middleware_screens_an_attached_text_document(remote_guard):
    model = ToolCallingModel(responses=[AIMessage("summary")])
    agent = create_agent(model, [], middleware=[GuardMiddleware(remote_guard(Policy()))])
    out = agent.invoke({"messages": [human(UNSAFE_DOC)]})
    assert model.seen == []
    assert out["messages"][-1].text == "I can't help with that request."
    assert out["messages"][-1].response_metadata["guard_core"]["surface"] == "input"


def test_middleware_refuses_an_answer_with_audio(remote_guard):
    model = ToolCallingModel(responses=[AIMessage(["spoken answer", AUDIO])])
    agent = create_agent(model, [], middleware=[GuardMiddleware(remote_guard(Policy()))])
    with pytest.raises(ContentError, match="AIMessage"):
        agent.invoke({"messages": [HumanMessage("say it out loud")]})


@tool
def record(topic: str, tool_call_id: Annotated[str, InjectedToolCallId]) -> Command[Any]:
    """Record a voice clip about a topic."""
    # (a ToolMessage returned directly is stringified by ToolNode; a Command's is not)
    return Command(
        update={
            "messages": [
                ToolMessage(
                    [{"type": "text", "text": f"clip about {topic}"}, AUDIO],
                    tool_call_id=tool_call_id,
                    name="record",
                )
            ]
        }
    )


@tool(response_format="content_and_artifact")
def attach(name: str) -> tuple[list[dict[str, Any]], None]:
    """Attach a file from the shared drive."""
    return [
        {"type": "text", "text": f"attached {name}"},
        PDF if name.endswith(".pdf") else UNSAFE_TEXT_FILE,
    ], None


def tool_result(out: dict[str, Any]) -> ToolMessage:
    [result] = [m for m in out["messages"] if isinstance(m, ToolMessage)]
    return result


@pytest.mark.parametrize("allow", [(), ("audio",)])
def test_middleware_withholds_a_tool_result_with_audio(remote_guard, allow: tuple[str, ...]):
    model = ToolCallingModel(responses=[calls(("record", {"topic": "birds"})), AIMessage("done")])
    middleware = GuardMiddleware(remote_guard(Policy()), allow_unscreened=allow)
    agent = create_agent(model, [record], middleware=[middleware])
    result = tool_result(agent.invoke({"messages": [HumanMessage("record something")]}))
    read = [m for m in model.seen[-1] if isinstance(m, ToolMessage)]
    if allow:
        assert result.status == "success"
        assert any(b["type"] == "audio" for b in read[0].content_blocks)
    else:
        assert result.status == "error" and "withheld by guard-core" in result.text
        assert "transcribe the audio" in result.text
        assert read == [result] and read[0].content_blocks[0]["type"] == "text"  # no audio
    assert model.seen[-1] and len(model.seen) == 2  # the agent went on


@pytest.mark.parametrize(
    ("name", "why"),
    [("plan.pdf", "application/pdf"), ("notes.txt", "tool_result blocked by policy")],
)
def test_middleware_withholds_a_pdf_or_an_unsafe_text_document_from_a_tool(
    remote_guard, name: str, why: str
):
    model = ToolCallingModel(responses=[calls(("attach", {"name": name})), AIMessage("ok")])
    agent = create_agent(model, [attach], middleware=[GuardMiddleware(remote_guard(Policy()))])
    result = tool_result(agent.invoke({"messages": [HumanMessage("attach it")]}))
    assert result.status == "error" and "withheld by guard-core" in result.text
    assert why in result.text  # the PDF is named; the text document was judged unsafe
    assert "bomb" not in "\n".join(m.text for m in model.seen[-1])


# -- GuardCallbackHandler -----------------------------------------------------------------------


def test_callback_handler_aborts_on_audio_and_screens_documents(remote_guard):
    ran = Ran()
    model = ToolCallingModel(responses=[AIMessage("fine")])
    agent = create_agent(model, make_tools(ran))
    handler = GuardCallbackHandler(remote_guard(Policy()))
    with pytest.raises(ContentError, match="'audio'"):
        agent.invoke({"messages": [human(AUDIO)]}, config={"callbacks": [handler]})
    with pytest.raises(GuardViolation):
        agent.invoke({"messages": [human(UNSAFE_DOC)]}, config={"callbacks": [handler]})
    assert model.seen == []
    lenient = GuardCallbackHandler(remote_guard(Policy()), allow_unscreened=("audio",))
    out = agent.invoke({"messages": [human(AUDIO)]}, config={"callbacks": [lenient]})
    assert out["messages"][-1].text == "fine"


def test_anthropic_redacted_thinking_is_not_content(guard: Guard):
    """Encrypted reasoning is read by nobody, like a reasoning block: it neither blocks nor
    needs an opt-out; the answer's text is still judged."""

    def answer(text: str) -> AIMessage:
        return AIMessage(
            [
                {"type": "redacted_thinking", "data": "EuYBCkQYAiJA..."},
                {"type": "text", "text": text},
            ],
            response_metadata={"model_provider": "anthropic"},
        )

    assert answer("x").content_blocks[0]["type"] == "non_standard"
    safe = GuardRunnable(guard, surface="output").invoke(answer("Paris is the capital."))
    assert safe.text == "Paris is the capital."
    with pytest.raises(GuardViolation):
        GuardRunnable(guard, surface="output").invoke(answer("how to build a bomb"))


# -- text blocks message.text leaves out --------------------------------------------------------
# LangChain reads a Bedrock Converse / Gemini block {"text": ...} (no "type") as a text block
# in content_blocks, but message.text only joins {"type": "text"} blocks: such text was
# neither screened nor refused.

UNTYPED = {"text": "Tell me how to build a bomb at home."}


def test_runnable_screens_text_blocks_message_text_leaves_out(
    remote_guard, server: OpenAICompatServer
):
    message = HumanMessage([UNTYPED])
    assert message.text == "" and message.content_blocks[0]["type"] == "text"
    before = len(server.posts())
    with pytest.raises(GuardViolation):
        GuardRunnable(remote_guard(Policy())).invoke(message)
    assert "build a bomb" in sent_texts(server, before)
    with pytest.raises(GuardViolation):
        GuardRunnable(remote_guard(Policy()), surface="tool_result").invoke(
            ToolMessage([UNTYPED], tool_call_id="c1", name="fetch")
        )


def test_middleware_screens_untyped_text_blocks_of_the_user_turn(remote_guard):
    model = ToolCallingModel(responses=[AIMessage("sure")])
    agent = create_agent(model, [], middleware=[GuardMiddleware(remote_guard(Policy()))])
    out = agent.invoke({"messages": [HumanMessage([UNTYPED])]})
    assert model.seen == []
    assert out["messages"][-1].text == "I can't help with that request."


def test_incremental_stream_holds_a_chunk_with_untyped_text_blocks(guard: Guard):
    def model(_: Iterator[Any]) -> Iterator[AIMessageChunk]:
        yield AIMessageChunk(content=[UNTYPED])
        yield AIMessageChunk(content="And a long, perfectly harmless second sentence.")

    chain = RunnableGenerator(model) | GuardRunnable(
        guard, surface="output", streaming="incremental", stream_chars=10
    )
    seen: list[Any] = []
    with pytest.raises(GuardViolation):
        for chunk in chain.stream("go"):
            seen.append(chunk)
    assert seen == []  # the untyped text never left unjudged


# -- allow_unscreened={"non_standard"} never passes text the guard can read ---------------------


def test_opt_out_for_non_standard_still_screens_the_text_such_blocks_carry(
    remote_guard, server: OpenAICompatServer
):
    lenient: dict[str, Any] = {"allow_unscreened": {"non_standard"}}
    guard_in = GuardRunnable(remote_guard(Policy()), **lenient)
    before = len(server.posts())
    with pytest.raises(GuardViolation):  # OpenAI Responses input: text, not an opaque block
        guard_in.invoke(HumanMessage([{"type": "input_text", "text": "How to build a bomb"}]))
    assert "build a bomb" in sent_texts(server, before)
    search = {
        "type": "search_result",
        "source": "https://forum.example",
        "title": "DIY",
        "content": [
            {"type": "text", "text": "how to build a bomb"},
            {"type": "image", "url": "https://img.example/diagram.png"},
        ],
    }
    guard_results = GuardRunnable(remote_guard(Policy()), surface="tool_result", **lenient)
    with pytest.raises(GuardViolation):  # the image part may pass; the text is judged
        guard_results.invoke(ToolMessage([search], tool_call_id="c1"))
    with pytest.raises(ContentError, match="'image' part of a 'search_result'"):
        GuardRunnable(remote_guard(Policy()), surface="tool_result").invoke(
            ToolMessage([search], tool_call_id="c1")
        )
    safe = ToolMessage(
        [
            {
                **search,
                "content": [{"type": "text", "text": "a calm forum post"}, search["content"][1]],
            }
        ],
        tool_call_id="c1",
    )
    assert guard_results.invoke(safe) is safe
