"""The canary kit: a recording chat model, and every message type and string-bearing field
of LangChain's own schema with a marker put in it.

A *canary* is a message carrying a unique marker in exactly one field (or several). A
marker holding "bomb" is unsafe to ``ScriptedBackend(unsafe_words=["bomb"])``; one
holding only "zebra" is safe. The property every adapter must keep: a marker reaches the
main model, a tool or the caller only if the guard was asked about it and allowed it.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Callable, Iterator
from typing import Any, cast

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    HumanMessageChunk,
    SystemMessage,
    ToolMessage,
    ToolMessageChunk,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field

from guard_core import Guard, Policy
from guard_core.adapters.boundary import strings_in
from guard_core.testing import ScriptedBackend

Make = Callable[[str], BaseMessage]


class RecordingModel(BaseChatModel):
    """A real chat model: answers from a script (the last answer repeats), records every
    message list it was sent, streams its answer token by token when streamed."""

    answers: list[BaseMessage] = Field(
        default_factory=lambda: [cast(BaseMessage, AIMessage("All fine."))]
    )
    seen: list[list[BaseMessage]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "recording"

    def bind_tools(self, tools: Any, **kwargs: Any) -> RecordingModel:
        return self

    def _next(self, messages: list[BaseMessage]) -> BaseMessage:
        self.seen.append(list(messages))
        return self.answers[min(len(self.seen), len(self.answers)) - 1]

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._next(messages))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        answer = self._next(messages)
        assert isinstance(answer, AIMessage)
        words = answer.text.split(" ") if isinstance(answer.content, str) else [""]
        for index, word in enumerate(words):
            last = index == len(words) - 1
            chunk = AIMessageChunk(
                content=word + ("" if last else " ")
                if isinstance(answer.content, str)
                else answer.content,
                tool_call_chunks=[
                    {
                        "name": c["name"],
                        "args": json.dumps(c["args"]),
                        "id": c["id"],
                        "index": i,
                        "type": "tool_call_chunk",
                    }
                    for i, c in enumerate(answer.tool_calls)
                ]
                if last
                else [],
                additional_kwargs=answer.additional_kwargs if last else {},
                id=answer.id,
            )
            if run_manager is not None:
                run_manager.on_llm_new_token(
                    str(chunk.content), chunk=ChatGenerationChunk(message=chunk)
                )
            yield ChatGenerationChunk(message=chunk)


def scripted_guard(**policy: Any) -> tuple[Guard, ScriptedBackend]:
    backend = ScriptedBackend(unsafe_words=["bomb"])
    return Guard(backend, Policy(name="canary", **policy)), backend


def asked(backend: ScriptedBackend) -> str:
    """Everything the guard was asked about, as one text."""
    return json.dumps([r.messages for r in backend.requests], ensure_ascii=False)


def read_by_model(messages: Any) -> str:
    """What a provider would send of these messages (not their bookkeeping metadata), with
    base64 data decoded: every string a model (or a caller) could read."""
    if isinstance(messages, BaseMessage):
        messages = [messages]
    dumped = [
        m.model_dump(exclude={"response_metadata", "usage_metadata", "id"})
        if isinstance(m, BaseMessage)
        else m
        for m in messages
    ]
    texts = [f.text for f in strings_in(json.loads(json.dumps(dumped, default=str)))]
    for text in list(texts):
        with contextlib.suppress(ValueError):
            texts.append(base64.b64decode(text, validate=True).decode("utf-8", "replace"))
    return "\n".join(texts)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _call(marker: str) -> dict[str, Any]:
    return {"name": "lookup", "args": {"query": marker}, "id": "call_m", "type": "tool_call"}


def _blocks(marker: str) -> dict[str, list[str | dict[Any, Any]]]:
    """One content block of each standard type (and provider text blocks) carrying it."""
    return {
        "text": [{"type": "text", "text": marker}],
        "text-annotation": [
            {
                "type": "text",
                "text": "see source",
                "annotations": [
                    {"type": "citation", "cited_text": marker, "url": "https://a.example"}
                ],
            }
        ],
        "untyped-text": [{"text": marker}],
        "reasoning": [{"type": "reasoning", "reasoning": marker}],
        "refusal": [{"type": "refusal", "refusal": marker}],
        "text-plain": [{"type": "text-plain", "text": marker, "mime_type": "text/plain"}],
        "file-text": [{"type": "file", "base64": _b64(marker), "mime_type": "text/plain"}],
        "image-url": [{"type": "image", "url": f"https://img.example/{marker}.png"}],
        "image-extras": [
            {"type": "image", "url": "https://img.example/a.png", "extras": {"caption": marker}}
        ],
        "tool_call": [{**_call(marker), "id": "call_b"}],
        "invalid_tool_call": [
            {
                "type": "invalid_tool_call",
                "name": "lookup",
                "args": marker,
                "id": "call_i",
                "error": None,
            }
        ],
        "server_tool_call": [
            {
                "type": "server_tool_call",
                "name": "web_search",
                "args": {"query": marker},
                "id": "srv_1",
            }
        ],
        "server_tool_result": [
            {
                "type": "server_tool_result",
                "tool_call_id": "srv_1",
                "status": "success",
                "output": {"page": marker},
            }
        ],
        "input_text": [{"type": "input_text", "text": marker}],
        "json": [{"type": "json", "json": {"deep": [marker]}}],
    }


def canaries() -> dict[str, Make]:
    """Every message type x every string-bearing field, each a maker of a canary."""
    out: dict[str, Make] = {}
    # (the ignores: mypy cannot infer a lambda with a default argument)
    for kind in _blocks(""):
        out[f"human.content[{kind}]"] = lambda m, k=kind: HumanMessage(_blocks(m)[k])  # type: ignore[misc]
        out[f"tool.content[{kind}]"] = lambda m, k=kind: ToolMessage(  # type: ignore[misc]
            _blocks(m)[k], tool_call_id="call_t", name="lookup"
        )
        if kind not in ("image-url", "image-extras"):
            out[f"ai.content[{kind}]"] = lambda m, k=kind: AIMessage(_blocks(m)[k])  # type: ignore[misc]
    out.update(
        {
            "human.content": lambda m: HumanMessage(m),
            "human.name": lambda m: HumanMessage("hello", name=m),
            "human.additional_kwargs": lambda m: HumanMessage("hi", additional_kwargs={"x": [m]}),
            "human-chunk.content": lambda m: HumanMessageChunk(content=m),
            "system.content": lambda m: SystemMessage(m),
            "system.additional_kwargs": lambda m: SystemMessage(
                "be nice", additional_kwargs={"n": m}
            ),
            "ai.content": lambda m: AIMessage(m),
            "ai.tool_calls.args": lambda m: AIMessage("", tool_calls=[_call(m)]),
            "ai.invalid_tool_calls": lambda m: AIMessage(
                "",
                invalid_tool_calls=[
                    {
                        "name": "lookup",
                        "args": m,
                        "id": "c",
                        "error": "bad",
                        "type": "invalid_tool_call",
                    }
                ],
            ),
            "ai.function_call": lambda m: AIMessage(
                "",
                additional_kwargs={
                    "function_call": {"name": "lookup", "arguments": json.dumps({"query": m})}
                },
            ),
            "ai.refusal": lambda m: AIMessage("", additional_kwargs={"refusal": m}),
            "ai.raw_tool_calls": lambda m: AIMessage(
                "",
                additional_kwargs={
                    "tool_calls": [
                        {
                            "id": "c",
                            "type": "function",
                            "function": {"name": "lookup", "arguments": json.dumps({"q": m})},
                        }
                    ]
                },
            ),
            "ai-chunk.content": lambda m: AIMessageChunk(content=m),
            "ai-chunk.tool_call_chunks": lambda m: AIMessageChunk(
                content="",
                tool_call_chunks=[
                    {
                        "name": "lookup",
                        "args": json.dumps({"q": m}),
                        "id": "c",
                        "index": 0,
                        "type": "tool_call_chunk",
                    }
                ],
            ),
            "tool.content": lambda m: ToolMessage(m, tool_call_id="call_t", name="lookup"),
            "tool.artifact": lambda m: ToolMessage(
                "done", tool_call_id="call_t", artifact={"a": m}
            ),
            "tool.additional_kwargs": lambda m: ToolMessage(
                "done", tool_call_id="call_t", additional_kwargs={"k": m}
            ),
            "tool-chunk.artifact": lambda m: ToolMessageChunk(
                content="done", tool_call_id="call_t", artifact=[m]
            ),
        }
    )
    return out
