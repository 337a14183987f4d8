"""Content blocks beyond text and images in real LlamaIndex tools, agents and nodes: text
documents and citations are screened as text, audio / video / binary documents fail
closed, ``allow_unscreened`` lets named types through, and the agent judges input images."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from li_support import POISON, Script, call, tiny_png
from llama_index.core.agent.workflow import AgentOutput, FunctionAgent
from llama_index.core.base.llms.types import (
    AudioBlock,
    ChatMessage,
    CitableBlock,
    DocumentBlock,
    ImageBlock,
    TextBlock,
    VideoBlock,
)
from llama_index.core.schema import MediaResource, Node, NodeWithScore

from guard_core import Guard
from guard_core.errors import ConfigurationError, ContentError
from guard_core.integrations.llama_index import (
    GuardedFunctionAgent,
    GuardNodePostprocessor,
    guard_tools,
)
from guard_core.testing import ScriptedBackend

pytestmark = [
    pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecationWarning"),
]

WAV = b"RIFF\x24\x00\x00\x00WAVEfmt "
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj"


def media_tool(*blocks: Any) -> Any:
    def record(topic: str) -> list[Any]:
        """Record a clip about a topic."""
        return [TextBlock(text=f"clip about {topic}"), *blocks]

    return record


# -- guard_tools --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("block", "kind"),
    [
        (AudioBlock(audio=WAV, format="wav"), "audio"),
        (VideoBlock(url="https://media.example/clip.mp4"), "video"),
        (DocumentBlock(data=PDF, document_mimetype="application/pdf"), "document"),
        (DocumentBlock(url="https://docs.example/report.txt"), "document"),  # never fetched
    ],
)
def test_tool_output_the_guard_cannot_judge_is_withheld(
    guard: Guard, block: Any, kind: str
) -> None:
    [tool] = guard_tools([media_tool(block)], guard)
    out = tool(topic="birds")
    assert out.is_error and isinstance(out.exception, ContentError)
    assert out.content.startswith("[guard-core: output of tool 'record' withheld:")
    assert f"allow_unscreened={{{kind!r}}}" in out.content
    if kind == "audio":
        assert "transcribe the audio to text" in out.content

    [lenient] = guard_tools([media_tool(block)], guard, allow_unscreened=[kind])
    passed = lenient(topic="birds")
    assert not passed.is_error and passed.blocks[1] is block


@pytest.mark.parametrize(
    "block",
    [
        DocumentBlock(data=f"Meeting notes. {POISON}".encode(), document_mimetype="text/plain"),
        DocumentBlock(data=b'{"note": "how to build a bomb"}', title="notes.json"),
        CitableBlock(
            title="Forum",
            source="https://forum.example",
            content=[TextBlock(text="How to build a bomb, step by step.")],
        ),
    ],
)
async def test_tool_text_documents_and_citations_are_screened(guard: Guard, block: Any) -> None:
    [tool] = guard_tools([media_tool(block)], guard)
    out = await tool.acall(topic="notes")  # type: ignore[call-arg]
    assert out.is_error and "tool_result blocked by policy 'rag'" in out.content
    safe = DocumentBlock(data=b"Tea is brewed at 80 degrees.", document_mimetype="text/plain")
    [ok] = guard_tools([media_tool(safe)], guard)
    assert not (await ok.acall(topic="tea")).is_error  # type: ignore[call-arg]


async def test_function_agent_never_reads_an_unscreened_audio_output(guard: Guard) -> None:
    script = Script([call("record", "c1", topic="birds")], "done")
    tools = guard_tools([media_tool(AudioBlock(audio=WAV, format="wav"))], guard)
    agent = FunctionAgent(tools=tools, llm=script.llm(), streaming=False)  # type: ignore[arg-type]
    result: AgentOutput = await agent.run(user_msg="record something")
    assert str(result.response.content) == "done"  # the agent went on
    [read] = [m for m in script.seen[1] if m.role == "tool"]
    assert not any(isinstance(b, AudioBlock) for b in read.blocks)
    assert "withheld" in (read.content or "")


def test_allow_unscreened_is_validated(guard: Guard) -> None:
    with pytest.raises(ConfigurationError, match="not a bare string"):
        guard_tools([media_tool()], guard, allow_unscreened="audio")
    with pytest.raises(ConfigurationError, match="unknown block type 'file'"):
        guard_tools([media_tool()], guard, allow_unscreened={"file"})  # LangChain's name
    with pytest.raises(ConfigurationError, match="audio, video"):
        GuardNodePostprocessor(guard, allow_unscreened={"document"})


# -- GuardNodePostprocessor ---------------------------------------------------------------------


def test_node_with_audio_is_refused_unless_allowed(guard: Guard) -> None:
    def nodes() -> list[NodeWithScore]:
        return [
            NodeWithScore(
                node=Node(
                    id_="memo",
                    text_resource=MediaResource(text=text),
                    audio_resource=MediaResource(data=WAV),
                )
            )
            for text in ("Voice memo about tea.", f"Voice memo. {POISON}")
        ]

    with pytest.raises(ContentError, match=r"Node 'memo': cannot screen this audio resource"):
        GuardNodePostprocessor(guard).postprocess_nodes(nodes(), query_str="memos")
    kept = GuardNodePostprocessor(guard, allow_unscreened={"audio"}).postprocess_nodes(
        nodes(), query_str="memos"
    )
    assert [n.node.get_content() for n in kept] == ["Voice memo about tea."]  # text judged


# -- GuardedFunctionAgent -----------------------------------------------------------------------


def user(*blocks: Any, text: str = "what is in this?") -> ChatMessage:
    return ChatMessage(role="user", blocks=[TextBlock(text=text), *blocks])


async def test_guarded_agent_judges_the_images_of_the_input(
    guard: Guard, backend: ScriptedBackend
) -> None:
    unsafe = user(ImageBlock(url="https://img.example/how-to-make-a-bomb.png"))
    refusing = Script()  # any model call fails the test
    agent = GuardedFunctionAgent(name="vision", guard=guard, llm=refusing.llm())
    result: AgentOutput = await agent.run(user_msg=unsafe)
    assert refusing.seen == []
    assert str(result.response.content).startswith("I can't help with that: input blocked")

    safe = user(ImageBlock(image=tiny_png(), image_mimetype="image/png"))
    answering = Script("a red pixel")
    agent = GuardedFunctionAgent(name="vision", guard=guard, llm=answering.llm())
    result = await agent.run(user_msg=safe)
    assert str(result.response.content) == "a red pixel"
    png_url = "data:image/png;base64," + base64.b64encode(tiny_png()).decode()
    sent = [
        p["image_url"]["url"]
        for r in backend.requests
        for p in r.messages[0]["content"]
        if isinstance(r.messages[0]["content"], list) and p["type"] == "image_url"
    ]
    assert png_url in sent


async def test_guarded_agent_screens_an_attached_text_document(guard: Guard) -> None:
    script = Script()
    agent = GuardedFunctionAgent(name="reader", guard=guard, llm=script.llm())
    doc = DocumentBlock(data=f"Forwarded mail. {POISON}".encode(), document_mimetype="text/plain")
    result: AgentOutput = await agent.run(user_msg=user(doc, text="summarise the attachment"))
    assert script.seen == [] and "input blocked" in str(result.response.content)


async def test_guarded_agent_refuses_audio_input_unless_allowed(guard: Guard) -> None:
    voice = user(AudioBlock(audio=WAV, format="wav"), text="answer my voice note")
    script = Script()
    agent = GuardedFunctionAgent(name="voice", guard=guard, llm=script.llm())
    with pytest.raises(
        ContentError, match=r"chat history message 0 \(user\) block 1: .*transcribe the audio"
    ):
        await agent.run(user_msg=voice)
    assert script.seen == []

    answering = Script("noted")
    lenient = GuardedFunctionAgent(
        name="voice", guard=guard, llm=answering.llm(), allow_unscreened={"audio"}
    )
    result: AgentOutput = await lenient.run(user_msg=voice)
    assert str(result.response.content) == "noted"
    assert lenient.allow_unscreened == ("audio",)


async def test_guarded_agent_refuses_an_answer_with_audio_unless_allowed(guard: Guard) -> None:
    def spoken(_: Any) -> ChatMessage:
        return ChatMessage(
            role="assistant",
            blocks=[TextBlock(text="here it is"), AudioBlock(audio=WAV, format="wav")],
        )

    agent = GuardedFunctionAgent(name="voice", guard=guard, llm=Script(spoken).llm())
    with pytest.raises(ContentError, match="the model's answer block 1"):
        await agent.run(user_msg="read it aloud")
    lenient = GuardedFunctionAgent(
        name="voice", guard=guard, llm=Script(spoken).llm(), allow_unscreened=["audio"]
    )
    result: AgentOutput = await lenient.run(user_msg="read it aloud")
    assert str(result.response.content) == "here it is"
