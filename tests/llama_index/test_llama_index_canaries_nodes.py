"""Canaries through GuardNodePostprocessor in a real query engine, built from the node schema.

An unsafe marker goes into each place a node carries a string (text, metadata the LLM
reads, metadata it does not, nested metadata, relationship metadata, an image URL, a
``Node``'s text resource), one at a time and all together, for every node type; a real
``RetrieverQueryEngine`` with a recording LLM (and ``MetadataReplacementPostProcessor``
after the guard, which moves an excluded key into the text) must keep it from the prompt
and from the caller's ``source_nodes``, sync and async alike."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from canaries import MARK, SAFE, asked, fresh_guard
from hypothesis import given, settings
from hypothesis import strategies as st
from li_support import RecordingLLM, visible
from llama_index.core.base.response.schema import Response
from llama_index.core.postprocessor import MetadataReplacementPostProcessor
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import (
    Document,
    ImageNode,
    MediaResource,
    Node,
    NodeRelationship,
    NodeWithScore,
    QueryBundle,
    RelatedNodeInfo,
    TextNode,
)

from guard_core.integrations.llama_index import GuardNodePostprocessor

PLACES = (
    "text",
    "metadata",
    "excluded_metadata",
    "window",
    "nested_metadata",
    "metadata_key",
    "relationship_metadata",
    "image_url",
)
KINDS = {"TextNode": TextNode, "ImageNode": ImageNode, "Document": Document, "Node": Node}


def node(kind: str, places: set[str], i: int) -> Any:
    """A node of ``kind`` with the marker in each of ``places`` (the rest safe)."""

    def s(place: str) -> str:
        return MARK if place in places else f"{SAFE} {place} {i}"

    meta = {
        "author": s("metadata"),
        "secret": s("excluded_metadata"),
        "window": s("window"),
        "tags": [{"note": s("nested_metadata")}],
        s("metadata_key") + " key": 1,
    }
    fields: dict[str, Any] = {
        "id_": f"n{i}",
        "metadata": meta,
        "excluded_llm_metadata_keys": ["secret", "window"],
        "relationships": {
            NodeRelationship.SOURCE: RelatedNodeInfo(
                node_id="doc", metadata={"title": s("relationship_metadata")}
            )
        },
    }
    text = s("text")
    if kind == "Node":
        return Node(text_resource=MediaResource(text=text), **fields)
    if kind == "ImageNode":
        return ImageNode(text=text, image_url=f"https://img.example/{s('image_url')}.png", **fields)
    return KINDS[kind](text=text, **fields)


class Fixed(BaseRetriever):
    """A retriever that returns fresh copies of the same nodes each time."""

    def __init__(self, nodes: list[Any]) -> None:
        super().__init__()
        self.nodes = nodes

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return [NodeWithScore(node=n.model_copy(deep=True), score=1.0) for n in self.nodes]


def query(nodes: list[Any], action: Any, use_async: bool, replace: bool) -> tuple[str, str, Any]:
    guard, backend, _ = fresh_guard()
    llm = RecordingLLM()
    after = [MetadataReplacementPostProcessor(target_metadata_key="window")] if replace else []
    engine = RetrieverQueryEngine.from_args(
        Fixed(nodes),
        llm=llm,
        node_postprocessors=[GuardNodePostprocessor(guard, action=action), *after],
    )
    response = asyncio.run(engine.aquery("tea?")) if use_async else engine.query("tea?")
    assert isinstance(response, Response)  # not streamed
    return visible(llm.prompts), visible(response.response, response.source_nodes), backend


@settings(max_examples=40, deadline=None)
@given(
    kinds=st.lists(st.sampled_from(sorted(KINDS)), min_size=1, max_size=4),
    places=st.sets(st.sampled_from(PLACES), max_size=3),
    action=st.sampled_from(["drop", "redact"]),
    use_async=st.booleans(),
    replace=st.booleans(),
)
def test_a_marker_in_any_node_field_reaches_neither_prompt_nor_caller(
    kinds: list[str], places: set[str], action: Any, use_async: bool, replace: bool
) -> None:
    poisoned = set(range(0, len(kinds), 2))  # every other node
    nodes = [node(k, places if i in poisoned else set(), i) for i, k in enumerate(kinds)]
    prompt, caller, backend = query(nodes, action, use_async, replace)
    assert MARK not in prompt and MARK not in caller
    if places & _carried([kinds[i] for i in poisoned]):
        assert asked(backend, MARK)
    for i, kind in enumerate(kinds):  # a safe node arrives whole
        if i not in poisoned or not places & _carried([kind]):
            assert f"{SAFE} {'window' if replace else 'text'} {i}" in prompt
            assert f"{SAFE} metadata {i}" in prompt


def _carried(kinds: list[str]) -> set[str]:
    """The places these node kinds have (only an ImageNode has an image URL)."""
    return set(PLACES) - (set() if "ImageNode" in kinds else {"image_url"})


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_redact_keeps_no_copy_and_sync_matches_async(kind: str) -> None:
    guard, _, _ = fresh_guard()
    pp = GuardNodePostprocessor(guard, action="redact")
    scored = [NodeWithScore(node=node(kind, set(PLACES), 0), score=0.5)]
    sync = pp.postprocess_nodes(scored, query_str="tea?")
    async_ = asyncio.run(pp.apostprocess_nodes(scored, query_str="tea?"))
    assert [n.node.get_content() for n in sync] == [n.node.get_content() for n in async_]
    [kept] = sync
    assert MARK not in visible(kept) and kept.score == 0.5 and kept.node.node_id == "n0"
    assert set(kept.node.metadata) == {"guard_verdict"}
    assert MARK in visible(scored)  # the index's own node is untouched


def test_a_metadata_value_the_guard_cannot_read_is_refused() -> None:
    guard, _, _ = fresh_guard()
    bad = NodeWithScore(node=TextNode(text="tea", metadata={"blob": b"\x00\x01"}))
    from guard_core.errors import ContentError

    with pytest.raises(ContentError, match=r"TextNode '.*' metadata\.blob: cannot screen raw"):
        GuardNodePostprocessor(guard).postprocess_nodes([bad], query_str="tea?")
