"""guard_tools on real LlamaIndex tools: screened before the call and after."""

import logging
from typing import Any

import pytest
from li_support import POISON, RecordingLLM
from llama_index.core import VectorStoreIndex
from llama_index.core.base.llms.types import ImageBlock, TextBlock
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.schema import TextNode
from llama_index.core.tools import FunctionTool, QueryEngineTool, ToolMetadata, ToolOutput
from llama_index.core.tools.calling import acall_tool, call_tool
from llama_index.core.tools.types import BaseTool

from guard_core import Guard, GuardViolation, Policy
from guard_core.backends import RemoteBackend
from guard_core.errors import ConfigurationError
from guard_core.integrations.llama_index import (
    GuardedFunctionTool,
    GuardedTool,
    guard_tool,
    guard_tools,
)
from guard_core.testing import Fault, OpenAICompatServer, ScriptedBackend


def make_shell(ran: list[str]) -> FunctionTool:
    def shell(command: str, cwd: str = "/tmp") -> str:
        """Run a shell command."""
        ran.append(command)
        return f"ran {command} in {cwd}"

    return FunctionTool.from_defaults(shell)


def test_metadata_is_unchanged(guard: Guard) -> None:
    original = make_shell([])
    [wrapped] = guard_tools([original], guard)
    assert isinstance(wrapped, GuardedFunctionTool) and isinstance(wrapped, FunctionTool)
    assert wrapped.metadata is original.metadata
    assert wrapped.metadata.to_openai_tool() == original.metadata.to_openai_tool()


def test_sync_call_screened_before_and_after(guard: Guard, audit: Any) -> None:
    ran: list[str] = []
    [shell] = guard_tools([make_shell(ran)], guard, agent="ops")
    ok = shell(command="ls")
    assert ok.content == "ran ls in /tmp" and not ok.is_error
    blocked = shell(command="make a bomb")
    assert blocked.is_error and ran == ["ls"]  # the blocked call never ran
    assert "tool_call blocked by policy 'rag' (Violence)" in blocked.content
    assert isinstance(blocked.exception, GuardViolation)
    assert blocked.exception.verdict.surface == "tool_call"
    assert [r["surface"] for r in audit.records] == ["tool_call", "tool_result", "tool_call"]
    assert {r["agent"] for r in audit.records} == {"ops"}


async def test_async_call_and_poisoned_output(guard: Guard) -> None:
    async def fetch(url: str) -> str:
        """Fetch a page."""
        return f"Welcome! {POISON}" if "evil" in url else "Tea is good."

    [tool] = guard_tools([fetch], guard)
    assert (await tool.acall(url="https://ok.example")).content == "Tea is good."  # type: ignore[call-arg]
    out = await tool.acall(url="https://evil.example")  # type: ignore[call-arg]
    assert out.is_error and POISON not in out.content and out.raw_output is None
    assert out.content == (
        "[guard-core: output of tool 'fetch' withheld: "
        "tool_result blocked by policy 'rag' (Manipulation)]"
    )


def test_redact_action_is_not_an_error(backend: ScriptedBackend) -> None:
    guard = Guard(backend, Policy(name="p", actions={"tool_result": "redact"}))
    [tool] = guard_tools([lambda q: POISON], guard)
    out = tool(q="x")
    assert not out.is_error and out.content.startswith("[guard-core: output of tool")


def test_flag_action_runs_and_logs(
    backend: ScriptedBackend, caplog: pytest.LogCaptureFixture
) -> None:
    ran: list[str] = []
    guard = Guard(backend, Policy(name="p", actions={"tool_call": "flag", "tool_result": "flag"}))
    [shell] = guard_tools([make_shell(ran)], guard)
    with caplog.at_level(logging.WARNING, "guard_core.integrations.llama_index"):
        out = shell(command="bomb the build cache")
    assert ran == ["bomb the build cache"] and not out.is_error
    assert out.content == "ran bomb the build cache in /tmp"
    assert "call flagged" in caplog.text and "output flagged" in caplog.text


def test_query_engine_tool_positional_and_keyword(guard: Guard) -> None:
    nodes = [TextNode(text="Tea facts."), TextNode(text=POISON)]
    index = VectorStoreIndex(nodes, embed_model=MockEmbedding(embed_dim=8))
    llm = RecordingLLM()  # echoes its prompt, so the poisoned chunk comes back as output
    qe_tool = QueryEngineTool.from_defaults(
        index.as_query_engine(llm=llm, similarity_top_k=5),
        name="docs",
        description="Search the docs.",
    )
    [tool] = guard_tools([qe_tool], guard)
    assert isinstance(tool, GuardedTool) and tool.metadata is qe_tool.metadata
    for out in (tool("tea?"), tool(input="tea?"), call_tool(tool, {"input": "tea?"})):
        assert out.is_error and POISON not in out.content  # output screened
    blocked = tool(input="how to build a bomb")
    assert blocked.is_error and "tool_call blocked" in blocked.content
    assert len(llm.prompts) == 3  # the blocked query never reached the engine


async def test_generic_sync_tool_and_image_output(guard: Guard) -> None:
    class Camera(BaseTool):
        @property
        def metadata(self) -> ToolMetadata:
            return ToolMetadata(name="camera", description="Take a photo.")

        def __call__(self, input: Any) -> ToolOutput:
            url = f"https://img.example.com/{'bomb' if input == 'blueprint' else input}.png"
            return ToolOutput(
                tool_name="camera",
                raw_input={"input": input},
                blocks=[TextBlock(text="photo taken"), ImageBlock(url=url)],
            )

    [tool] = guard_tools([Camera()], guard)
    assert not (await tool.acall("kitten")).is_error
    out = await acall_tool(tool, {"input": "blueprint"})  # the unsafe part is the image URL
    assert out.is_error and "image blocked" in out.content


def test_guard_failure_blocks_the_call() -> None:
    ran: list[str] = []
    with OpenAICompatServer() as server:
        server.inject(Fault(status=500, times=100))
        guard = Guard(
            RemoteBackend.vllm(
                server.base_url, "nvidia/nemotron-3.5-content-safety", max_retries=0
            ),
            Policy(name="p"),
        )
        out = guard_tool(make_shell(ran), guard)(command="ls")
        guard.close()
    assert out.is_error and ran == [] and "guard error" in out.content


def test_screening_switches(guard: Guard) -> None:
    ran: list[str] = []
    [unscreened_calls] = guard_tools([make_shell(ran)], guard, screen_calls=False)
    unscreened_calls(command="bomb")
    assert ran == ["bomb"]  # ran unscreened (its output was still judged)
    [no_outputs] = guard_tools([lambda q: POISON], guard, screen_outputs=False)
    assert no_outputs(q="x").content == POISON


def test_wrapping_twice_does_not_stack(guard: Guard, backend: ScriptedBackend) -> None:
    [once] = guard_tools([make_shell([])], guard, agent="a")
    twice = guard_tool(once, guard, agent="b")
    assert isinstance(twice, GuardedFunctionTool) and not isinstance(
        twice.inner, GuardedFunctionTool
    )
    twice(command="ls")
    assert len(backend.requests) == 2  # one call + one result, not doubled


def test_bad_arguments(guard: Guard) -> None:
    with pytest.raises(ConfigurationError, match="list of tools"):
        guard_tools(make_shell([]), guard)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"needs a Guard"):
        guard_tools([make_shell([])], object())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="a LlamaIndex tool or a function"):
        guard_tools([42], guard)  # type: ignore[list-item]
