"""LlamaIndex's schema, enumerated: a release that adds a block type, a block field, a
node field or a message field makes one of these fail, instead of opening a hole."""

from __future__ import annotations

import inspect
import typing
from typing import Any

import pytest
from canaries import MARK, content_block_types, fresh_guard
from hypothesis import given
from hypothesis import strategies as st
from li_support import Script
from llama_index.core.agent.workflow import AgentOutput
from llama_index.core.agent.workflow.base_agent import BaseWorkflowAgent
from llama_index.core.base.llms.types import (
    AudioBlock,
    CacheControl,
    CachePoint,
    ChatMessage,
    ChatResponse,
    CitableBlock,
    CitationBlock,
    DocumentBlock,
    ImageBlock,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
    VideoBlock,
)
from llama_index.core.schema import Document, ImageNode, IndexNode, Node, NodeWithScore, TextNode
from llama_index.core.tools import ToolOutput
from pydantic import BaseModel

from guard_core.errors import ContentError
from guard_core.integrations.llama_index._blocks import BLOCK_FIELDS, read_blocks
from guard_core.integrations.llama_index._nodes import NODE_FIELDS

pytestmark = [pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecationWarning")]
SETTINGS = {
    "tool_call_id",
    "image_mimetype",
    "document_mimetype",
    "video_mimetype",
    "detail",
    "format",
}
WALKED: dict[type, set[str]] = {
    CitationBlock: {"additional_location_info"},
    ThinkingBlock: {"additional_information"},
}
SAMPLES: dict[type, Any] = {
    TextBlock: TextBlock(text="x"),
    ThinkingBlock: ThinkingBlock(content="x"),
    ImageBlock: ImageBlock(url="https://img.example/a.png"),
    AudioBlock: AudioBlock(url="https://media.example/a.wav"),
    VideoBlock: VideoBlock(url="https://media.example/a.mp4"),
    DocumentBlock: DocumentBlock(data=b"x", document_mimetype="text/plain"),
    CitableBlock: CitableBlock(title="t", source="s", content=[TextBlock(text="x")]),
    CitationBlock: CitationBlock(
        title="t", source="s", cited_content=TextBlock(text="x"), additional_location_info={}
    ),
    ToolCallBlock: ToolCallBlock(tool_call_id="c", tool_name="n", tool_kwargs={}),
    CachePoint: CachePoint(cache_control=CacheControl(type="ephemeral")),
}


def test_every_content_block_type_has_a_rule() -> None:
    assert content_block_types() == set(BLOCK_FIELDS) == set(SAMPLES)


@pytest.mark.parametrize(  # (sorted's key is typed from argvalues here: object)
    "kind",
    sorted(BLOCK_FIELDS, key=lambda t: t.__name__),  # type: ignore[attr-defined]
    ids=lambda t: t.__name__,
)
def test_every_block_field_is_read_by_its_rule_or_walked(kind: type[BaseModel]) -> None:
    """A new field is walked as text (next tests) and shows up here to be given a rule."""
    assert set(kind.model_fields) - {"block_type"} == BLOCK_FIELDS[kind] | WALKED.get(kind, set())


def _str_fields(kind: type[BaseModel]) -> list[str]:
    def takes_str(annotation: Any) -> bool:
        return annotation is str or any(takes_str(a) for a in typing.get_args(annotation))

    return [
        n for n, f in kind.model_fields.items() if n != "block_type" and takes_str(f.annotation)
    ]


@given(data=st.data())
def test_a_marker_in_any_string_field_of_any_block_is_screened_or_refused(data: Any) -> None:
    kind = data.draw(st.sampled_from(sorted(BLOCK_FIELDS, key=lambda t: t.__name__)))
    fields = _str_fields(kind)
    if not fields:
        return
    name = data.draw(st.sampled_from(fields))
    block = SAMPLES[kind].model_copy(update={name: MARK})
    try:
        parts = read_blocks([block], "probe")
    except ContentError:
        return  # refused, naming it
    found = (
        parts.text
        + str([i.url for i in parts.images])
        + str([(b.tool_name, b.tool_kwargs) for _, b in parts.calls])
    )
    # ids and settings are not content; a document's path / URL is not read when it has data
    assert MARK in found or name in SETTINGS or (kind is DocumentBlock and name in {"path", "url"})


def test_an_unknown_block_type_is_refused_by_name() -> None:
    class Sticker(TextBlock):
        block_type: str = "sticker"  # type: ignore[assignment]

    with pytest.raises(ContentError, match="'sticker' block"):
        read_blocks([Sticker(text=MARK)], "user message")


def test_a_new_field_on_a_known_block_is_screened() -> None:
    block = TextBlock(text="hello")
    object.__setattr__(block, "__pydantic_extra__", {"caption": MARK})
    assert MARK in read_blocks([block], "probe").text


@pytest.mark.parametrize("kind", [TextNode, ImageNode, Node, Document, IndexNode])
def test_every_node_field_is_known(kind: type[BaseModel]) -> None:
    assert set(kind.model_fields) <= set(NODE_FIELDS)
    assert set(NodeWithScore.model_fields) == {"node", "score"}


def test_message_response_and_tool_output_fields_are_the_ones_screened() -> None:
    assert set(ChatMessage.model_fields) == {"role", "additional_kwargs", "blocks"}
    assert set(ChatResponse.model_fields) == {
        "message",
        "raw",
        "delta",
        "logprobs",
        "additional_kwargs",
    }
    assert set(ToolOutput.model_fields) == {
        "blocks",
        "tool_name",
        "raw_input",
        "raw_output",
        "is_error",
    }


def test_the_other_llm_call_of_an_agent_is_still_where_it_is_overridden() -> None:
    params = list(inspect.signature(BaseWorkflowAgent._get_llm_response).parameters)
    assert params == ["self", "ctx", "llm_input", "llm"]


async def test_early_stopping_generate_is_screened() -> None:
    from li_support import call

    from guard_core.integrations.llama_index import GuardedFunctionAgent

    def search(query: str) -> str:
        """Search."""
        return "results"

    script = Script([call("search", "c1", query="a")], f"final answer {MARK}")
    guard, _, _ = fresh_guard()
    agent = GuardedFunctionAgent(name="ops", guard=guard, tools=[search], llm=script.llm())
    result: AgentOutput = await agent.run(
        user_msg="go", max_iterations=1, early_stopping_method="generate"
    )
    assert MARK not in str(result.response.content)
    assert "I can't help with that" in str(result.response.content)
