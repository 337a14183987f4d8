"""GuardNodePostprocessor inside real LlamaIndex query and chat engines (MockEmbedding)."""

from __future__ import annotations

import base64
import logging
from typing import Any

import pytest
from li_support import POISON, RecordingLLM, tiny_png
from llama_index.core import VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.memory import ChatMemoryBuffer
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.schema import ImageNode, MetadataMode, Node, NodeWithScore, TextNode
from llama_index.core.tools import RetrieverTool

from guard_core import Guard, Policy, PolicySet, Verdict
from guard_core.backends import RemoteBackend
from guard_core.errors import ConfigurationError, ContentError
from guard_core.integrations.llama_index import GuardNodePostprocessor
from guard_core.testing import Fault, OpenAICompatServer, ScriptedBackend, ScriptedJudge

logging.getLogger("httpx").setLevel(logging.WARNING)
SAFE = "Green tea is brewed at 80 degrees"
MARKER = (
    "[guard-core: retrieved content withheld: retrieval blocked by policy 'rag' (Manipulation)]"
)


def make_index(nodes: list[Any]) -> VectorStoreIndex:
    return VectorStoreIndex(nodes, embed_model=MockEmbedding(embed_dim=8))


def engine(nodes: list[Any], pp: GuardNodePostprocessor, llm: RecordingLLM) -> Any:
    return make_index(nodes).as_query_engine(llm=llm, node_postprocessors=[pp], similarity_top_k=10)


def test_query_drops_poison_and_unsafe_image(guard: Guard, nodes: list[Any]) -> None:
    llm = RecordingLLM()
    response = engine(nodes, GuardNodePostprocessor(guard), llm).query("how do I brew tea?")
    prompt = llm.prompts[-1]
    assert SAFE in prompt and "kitten" in prompt
    assert "IGNORE PREVIOUS" not in prompt and "forum post" not in prompt
    assert {n.node.node_id for n in response.source_nodes} == {"tea", "coffee", "kitten"}


@pytest.mark.parametrize("action", ["drop", "redact", "flag"])
async def test_aquery_each_action(guard: Guard, nodes: list[Any], action: Any) -> None:
    llm = RecordingLLM()
    response = await engine(nodes, GuardNodePostprocessor(guard, action=action), llm).aquery(
        "how do I brew tea?"
    )
    prompt = llm.prompts[-1]
    assert SAFE in prompt
    by_id = {n.node.node_id: n.node for n in response.source_nodes}
    assert "guard_verdict" not in prompt and "Manipulation" not in prompt.replace(MARKER, "")
    if action == "drop":
        assert set(by_id) == {"tea", "coffee", "kitten"}
        assert "IGNORE PREVIOUS" not in prompt and "withheld" not in prompt
    elif action == "redact":
        assert set(by_id) == {"tea", "poison", "coffee", "kitten", "diagram"}
        assert "IGNORE PREVIOUS" not in prompt and "forum post" not in prompt
        assert MARKER in prompt
        assert by_id["diagram"].image_url is None
        assert by_id["poison"].metadata["guard_verdict"]["decision"] == "redact"
    else:
        assert POISON in prompt  # flag keeps the node, but marks it out of the LLM's sight
        record = by_id["poison"].metadata["guard_verdict"]
        assert record["allowed"] is False and record["categories"] == ["Manipulation"]
        assert record["decision"] == "flag" and record["surface"] == "retrieval"
        assert by_id["diagram"].metadata["guard_verdict"]["surface"] == "image"
        assert "guard_verdict" not in by_id["poison"].get_content(MetadataMode.EMBED)
        assert "guard_verdict" not in by_id["tea"].metadata


def test_index_nodes_are_not_modified(guard: Guard, nodes: list[Any]) -> None:
    pp = GuardNodePostprocessor(guard, action="redact")
    scored = [NodeWithScore(node=n, score=1.0) for n in nodes]
    out = pp.postprocess_nodes(scored, query_str="tea")
    assert nodes[1].text.endswith(POISON) and nodes[1].metadata == {}
    assert nodes[4].image_url is not None
    assert [n.score for n in out] == [1.0] * 5 and out[1].node.node_id == "poison"


@pytest.mark.parametrize("mode", ["context", "condense_plus_context"])
async def test_chat_engines(guard: Guard, nodes: list[Any], mode: Any) -> None:
    llm = RecordingLLM()
    # ChatMemoryBuffer: the default Memory opens an aiosqlite connection it never closes
    chat = make_index(nodes).as_chat_engine(
        chat_mode=mode,
        llm=llm,
        similarity_top_k=10,
        memory=ChatMemoryBuffer.from_defaults(llm=llm),
        node_postprocessors=[GuardNodePostprocessor(guard)],
    )
    chat.chat("how do I brew tea?")
    await chat.achat("and coffee?")
    assert len(llm.prompts) >= 2
    for prompt in llm.prompts:
        assert "IGNORE PREVIOUS" not in prompt and "forum post" not in prompt
    assert SAFE in llm.prompts[-1]


async def test_retriever_query_engine_and_retriever_tool(guard: Guard, nodes: list[Any]) -> None:
    retriever = make_index(nodes).as_retriever(similarity_top_k=10)
    llm = RecordingLLM()
    qe = RetrieverQueryEngine.from_args(
        retriever, llm=llm, node_postprocessors=[GuardNodePostprocessor(guard)]
    )
    qe.query("tea?")
    assert SAFE in llm.prompts[-1] and "IGNORE PREVIOUS" not in llm.prompts[-1]
    tool = RetrieverTool.from_defaults(
        retriever, node_postprocessors=[GuardNodePostprocessor(guard, action="redact")]
    )
    for output in (tool.call("tea?"), await tool.acall("tea?")):
        assert SAFE in output.content and "IGNORE PREVIOUS" not in output.content
        assert MARKER in output.content


def test_policy_action_wins_over_constructor(backend: ScriptedBackend, nodes: list[Any]) -> None:
    policy = Policy(
        name="rag", mode="categories", actions={"retrieval": "redact", "image": "block"}
    )
    pp = GuardNodePostprocessor(Guard(backend, policy), action="flag")
    out = pp.postprocess_nodes([NodeWithScore(node=n) for n in nodes], query_str="tea")
    by_id = {n.node.node_id: n.node for n in out}
    assert "diagram" not in by_id  # image: block means drop
    assert by_id["poison"].get_content() == MARKER  # retrieval: redact


def test_per_agent_policy(backend: ScriptedBackend, nodes: list[Any]) -> None:
    policies = PolicySet(
        {"chemist": Policy(name="chemist", mode="categories", exclude_categories={"Violence"})},
        default=Policy(name="strict", mode="categories"),
    )
    guard = Guard(backend, policies)
    seen: list[Verdict] = []
    pp = GuardNodePostprocessor(guard, agent="chemist", on_verdict=lambda n, v: seen.append(v))
    out = pp.postprocess_nodes([NodeWithScore(node=n) for n in nodes], query_str="tea")
    assert {n.node.node_id for n in out} == {"tea", "coffee", "kitten", "diagram"}
    assert {v.policy.name for v in seen} == {"chemist"}
    assert [v.surface for v in seen] == ["retrieval"] * 4 + ["image", "retrieval", "image"]
    strict = GuardNodePostprocessor(guard).postprocess_nodes(
        [NodeWithScore(node=n) for n in nodes], query_str="tea"
    )
    assert "diagram" not in {n.node.node_id for n in strict}


def test_images_from_path_bytes_and_node_resource(
    guard: Guard, tmp_path: Any, backend: ScriptedBackend
) -> None:
    path = tmp_path / "cat.png"
    path.write_bytes(tiny_png())
    from llama_index.core.schema import MediaResource

    nodes = [
        ImageNode(id_="file", image_path=str(path)),
        Node(
            id_="multi",
            image_resource=MediaResource(data=tiny_png()),
            text_resource=MediaResource(text="a cat"),
        ),
        Node(id_="bad", image_resource=MediaResource(url="https://x.example/bomb.jpg")),  # type: ignore[arg-type]
    ]
    out = GuardNodePostprocessor(guard, action="redact").postprocess_nodes(
        [NodeWithScore(node=n) for n in nodes]
    )
    assert [n.node.node_id for n in out] == ["file", "multi", "bad"]
    assert out[2].node.image_resource is None  # type: ignore[attr-defined]
    sent = [r.messages[0]["content"] for r in backend.requests]
    urls = [
        p["image_url"]["url"]
        for c in sent
        if isinstance(c, list)
        for p in c
        if p.get("type") == "image_url"
    ]
    png_url = "data:image/png;base64," + base64.b64encode(tiny_png()).decode()
    assert urls.count(png_url) == 2 and "https://x.example/bomb.jpg" in urls


def test_unreadable_image_is_a_clear_error(guard: Guard) -> None:
    node = ImageNode(id_="gone", image_path="/nonexistent/cat.png")
    with pytest.raises(ContentError, match=r"ImageNode 'gone': cannot read image file"):
        GuardNodePostprocessor(guard).postprocess_nodes([NodeWithScore(node=node)])


def test_bad_arguments() -> None:
    with pytest.raises(ConfigurationError, match=r"needs a Guard.*guard_core\.Guard"):
        GuardNodePostprocessor(object())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="'drop', 'redact', 'flag'"):
        GuardNodePostprocessor(Guard(ScriptedBackend()), action="block")  # type: ignore[arg-type]


class CountingGuard(Guard):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[tuple[str, int]] = []

    def check_many(self, items: Any, *, agent: str | None = None) -> list[Verdict]:
        items = list(items)
        self.calls.append(("check_many", len(items)))
        return super().check_many(items, agent=agent)

    async def acheck_many(self, items: Any, *, agent: str | None = None) -> list[Verdict]:
        items = list(items)
        self.calls.append(("acheck_many", len(items)))
        return await super().acheck_many(items, agent=agent)

    async def acheck(self, item: Any, *, agent: str | None = None) -> Verdict:
        self.calls.append(("acheck", 1))
        return await super().acheck(item, agent=agent)


def fifty() -> list[NodeWithScore]:
    texts = [f"Chunk {i}: tea fact number {i}." for i in range(49)] + [POISON]
    return [NodeWithScore(node=TextNode(id_=f"n{i}", text=t)) for i, t in enumerate(texts)]


async def test_fifty_nodes_one_batch_on_local_style_backend(backend: ScriptedBackend) -> None:
    guard = CountingGuard(backend, Policy(name="rag"))
    out = await GuardNodePostprocessor(guard).apostprocess_nodes(fifty(), query_str="tea")
    assert len(out) == 49
    assert guard.calls == [("acheck_many", 50)]
    assert len(backend.requests) == 50  # all 50 went to the backend in one classify call


async def test_fifty_nodes_concurrent_on_remote_backend() -> None:
    judge = ScriptedJudge({"ignore previous instructions": "Manipulation"})
    with OpenAICompatServer(judge=judge, latency=0.02) as server:
        backend = RemoteBackend.vllm(server.base_url, "nvidia/nemotron-3.5-content-safety")
        guard = CountingGuard(backend, Policy(name="rag"))
        out = await GuardNodePostprocessor(guard).apostprocess_nodes(fifty(), query_str="tea")
        sync_out = GuardNodePostprocessor(guard, action="redact").postprocess_nodes(
            fifty(), query_str="tea"
        )  # cached: no new requests
        await guard.aclose()
    assert [n.node.node_id for n in out] == [f"n{i}" for i in range(49)]
    assert guard.calls == [("acheck_many", 50), ("check_many", 50)]
    assert len(server.posts()) == 50 and server.max_in_flight > 1
    assert sync_out[49].node.get_content().startswith("[guard-core: retrieved content withheld")


@pytest.mark.parametrize("action", ["drop", "redact", "flag"])
def test_guard_failure_never_lets_a_node_through(action: Any) -> None:
    with OpenAICompatServer() as server:
        server.inject(Fault(status=503, times=100))
        backend = RemoteBackend.vllm(
            server.base_url, "nvidia/nemotron-3.5-content-safety", max_retries=0
        )
        guard = Guard(backend, Policy(name="rag"))
        out = GuardNodePostprocessor(guard, action=action).postprocess_nodes(
            [NodeWithScore(node=TextNode(text="harmless tea fact"))], query_str="tea"
        )
        guard.close()
    if action == "redact":
        assert out[0].node.get_content().startswith("[guard-core: retrieved content withheld")
        assert "guard error" in out[0].node.get_content()
    else:
        assert out == []  # flag drops what the guard could not judge: fail closed


def test_on_error_allow_lets_nodes_through() -> None:
    with OpenAICompatServer() as server:
        server.inject(Fault(status=503, times=100))
        backend = RemoteBackend.vllm(
            server.base_url, "nvidia/nemotron-3.5-content-safety", max_retries=0
        )
        guard = Guard(backend, Policy(name="rag", on_error="allow"))
        out = GuardNodePostprocessor(guard).postprocess_nodes(
            [NodeWithScore(node=TextNode(text="harmless tea fact"))]
        )
        guard.close()
    assert len(out) == 1


def test_poison_in_metadata_is_screened(guard: Guard) -> None:
    node = TextNode(id_="m", text="plain tea fact", metadata={"author": POISON})
    hidden = TextNode(
        id_="h",
        text="plain tea fact",
        metadata={"author": POISON},
        excluded_llm_metadata_keys=["author"],
    )
    out = GuardNodePostprocessor(guard).postprocess_nodes(
        [NodeWithScore(node=node), NodeWithScore(node=hidden)]
    )
    # an excluded key is still one MetadataReplacementPostProcessor or a template may read
    assert out == []
    [kept] = GuardNodePostprocessor(guard, action="redact").postprocess_nodes(
        [NodeWithScore(node=hidden)]
    )
    assert set(kept.node.metadata) == {"guard_verdict"} and POISON not in repr(kept.node)


def test_a_flagged_text_never_lets_an_unsafe_image_of_the_same_node_through() -> None:
    """Per node the strongest action over its parts applies (here: the image's drop)."""
    guard = Guard(ScriptedBackend(), Policy(actions={"retrieval": "flag"}))
    node = ImageNode(text="a bomb story", image_url="https://example.com/bomb.png")
    kept = GuardNodePostprocessor(guard, action="drop").postprocess_nodes(
        [NodeWithScore(node=node)], query_str="stories"
    )
    assert kept == []
