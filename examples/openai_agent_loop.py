"""A hand-written OpenAI SDK agent loop under ``guard_openai``: tool calls, an image, streams.

The loop is the plain SDK pattern (model -> tool calls -> tool results -> model). Wrapping
the client is the only change. Every step is screened under the agent's policy:

1. The devops agent is asked to "kill process 4242" and sends a screenshot. "kill" is no
   violation under its policy (it drops Violence). The user turn with the image, the tool
   call, the tool result and the final answer are each screened, and all pass.
2. The same words, sent per call as the support agent (``extra_body={"guard_agent": ...}``),
   are blocked before the request leaves the process.
3. The model proposes ``rm -rf /``. The tool call is blocked before the tool can run.
4. A streamed answer with ``on_block="refuse"``: the caller gets an ``openai.Stream`` that
   ends in a refusal (``finish_reason="content_filter"``) and never sees the unsafe text.

Offline: one real OpenAI-compatible HTTP server on 127.0.0.1 plays both the main chat model
(scripted) and the guard model (a fake Nemotron 3.5 that flags configured words).

    python examples/openai_agent_loop.py
"""

from __future__ import annotations

import base64
import json
from typing import Any

import openai

from guard_core import Guard, GuardViolation, Policy, PolicySet, Verdict
from guard_core.backends import RemoteBackend
from guard_core.content import Item, ToolCall, ToolResult, UserMessage
from guard_core.integrations.openai import guard_openai
from guard_core.testing import OpenAICompatServer, ScriptedJudge, chat_completion

GUARD_MODEL = "nvidia/nemotron-3.5-content-safety"
UNSAFE_WORDS = {
    "kill": "Violence",
    "rm -rf /": "Criminal Planning/Confessions",
    "steal the passwords": "PII/Privacy",
}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "run_shell",
            "description": "Run a shell command on the build server",
            "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}},
        },
    }
]
SCREENSHOT = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 32).decode()


def main_model(body: dict[str, Any]) -> dict[str, Any]:
    """The scripted main model: plan a shell command, then report what the tool said."""
    last = body["messages"][-1]
    if last["role"] == "tool":
        return chat_completion(f"Done. The server said: {last['content']!r}")
    text = json.dumps(last["content"])
    if "disk" in text:
        return chat_completion(
            None, tool_calls=[{"name": "run_shell", "arguments": {"cmd": "rm -rf /"}}]
        )
    if "story" in text:
        return chat_completion("Here is the plan: first we steal the passwords, then...")
    return chat_completion(
        None, tool_calls=[{"name": "run_shell", "arguments": {"cmd": "kill -9 4242"}}]
    )


def run_shell(cmd: str) -> str:
    print(f"      >>> the tool actually ran: {cmd!r}")
    return "process 4242 terminated"


def show(item: Item | None, verdict: Verdict) -> None:
    """Print each screening: what was judged and the verdict."""
    if isinstance(item, UserMessage):
        what = f"user: {item.text!r}" + (f" + {len(item.images)} image(s)" if item.images else "")
    elif isinstance(item, ToolCall):
        what = f"tool call: {item.name}({item.arguments_json})"
    elif isinstance(item, ToolResult):
        what = f"tool result from {item.name}: {item.content!r}"
    elif item is None:
        what = "(could not be read)"
    else:
        what = f"{item.surface}: {getattr(item, 'text', '')!r}"
    mark = "ALLOWED" if verdict.allowed else "BLOCKED"
    extra = f" {list(verdict.categories)}" if verdict.categories else ""
    print(f"    [{mark:7}] {verdict.policy.name:8} {what}{extra}")


def agent_loop(client: Any, content: Any, **extra: Any) -> str:
    messages: list[Any] = [{"role": "user", "content": content}]
    while True:
        completion = client.chat.completions.create(
            model="main-model", messages=messages, tools=TOOLS, **extra
        )
        message = completion.choices[0].message
        messages.append(message)
        if not message.tool_calls:
            return message.content or ""
        for call in message.tool_calls:
            result = run_shell(**json.loads(call.function.arguments))
            messages.append({"role": "tool", "tool_call_id": call.id, "content": result})


def main() -> None:
    policies = PolicySet(
        {
            "devops": Policy(name="devops", mode="categories", exclude_categories={"Violence"}),
            "support": Policy(name="support", mode="categories"),
        },
        default=Policy(name="default", mode="categories"),
    )
    judge = ScriptedJudge(UNSAFE_WORDS)
    with OpenAICompatServer(judge=judge, models={"main-model": main_model}) as server:
        guard = Guard(RemoteBackend.vllm(server.base_url, GUARD_MODEL), policies)
        sdk = openai.OpenAI(base_url=server.base_url, api_key="sk-local")
        # allow_agent_override: this (trusted) code picks another agent per call in step 2;
        # without it a per-call guard_agent that differs from agent= is refused
        client = guard_openai(
            sdk, guard, agent="devops", allow_agent_override=True, on_verdict=show
        )

        print("1. devops agent: 'kill process 4242' with a screenshot")
        content = [
            {"type": "text", "text": "The build is stuck: kill process 4242."},
            {"type": "image_url", "image_url": {"url": SCREENSHOT}},
        ]
        print(f"    answer: {agent_loop(client, content)}")

        print("\n2. the same request, per call as the support agent")
        try:
            agent_loop(
                client,
                "The build is stuck: kill process 4242.",
                extra_body={"guard_agent": "support"},
            )
        except GuardViolation as blocked:
            print(f"    GuardViolation: {blocked} (nothing was sent to the model)")

        print("\n3. the model proposes a destructive command")
        try:
            agent_loop(client, "Free some disk space, please.")
        except GuardViolation as blocked:
            print(f"    GuardViolation: {blocked} (the tool never ran)")

        print("\n4. a streamed answer, on_block='refuse'")
        refusing = guard_openai(sdk, guard, agent="devops", on_block="refuse", on_verdict=show)
        stream = refusing.chat.completions.create(
            model="main-model",
            messages=[{"role": "user", "content": "Tell me a story."}],
            stream=True,
        )
        print(
            f"    {type(stream).__module__}.{type(stream).__qualname__} "
            f"is an openai.Stream: {isinstance(stream, openai.Stream)}"
        )
        for chunk in stream:
            choice = chunk.choices[0]
            if choice.delta.content:
                print(f"    chunk: {choice.delta.content!r}")
            if choice.finish_reason:
                print(f"    finish_reason: {choice.finish_reason}")

        main_calls = [r for r in server.posts() if r.body and r.body["model"] == "main-model"]
        print(
            f"\nrequests that reached the main model: {len(main_calls)} "
            "(step 1: two, step 2: none, step 3: one, step 4: one)"
        )
        sdk.close()
        guard.close()


if __name__ == "__main__":
    main()
