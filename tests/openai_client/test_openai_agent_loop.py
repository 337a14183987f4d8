"""A hand-written SDK agent loop (model -> tool calls -> tool results -> model) under guard."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from openai.types.chat import ChatCompletionFunctionToolParam

from guard_core import GuardViolation
from guard_core.integrations.openai import guard_openai

from .conftest import MAIN, Env, answer

TOOLS: list[ChatCompletionFunctionToolParam] = [
    {
        "type": "function",
        "function": {
            "name": "run_shell",
            "description": "Run a shell command on the build server",
            "parameters": {
                "type": "object",
                "properties": {"cmd": {"type": "string"}},
                "required": ["cmd"],
            },
        },
    }
]
TASK = "The build server is stuck: kill process 4242 and tell me when it is done."


def run_shell(cmd: str) -> str:
    return f"$ {cmd}\nprocess 4242 killed"


def script(env: Env) -> None:
    """The main model: call the tool, then answer after reading its result."""
    env.model.reply(
        answer(
            None,
            tool_calls=[
                {"id": "call_1", "name": "run_shell", "arguments": {"cmd": "kill -9 4242"}}
            ],
        ),
        answer("Done: process 4242 was killed and the build is running again."),
    )


def agent_loop(
    create: Callable[..., Any], task: str, tool: Callable[..., str] = run_shell, **extra: Any
) -> tuple[str, list[Any]]:
    messages: list[Any] = [
        {"role": "system", "content": "You operate the build server."},
        {"role": "user", "content": task},
    ]
    for _ in range(5):
        completion = create(model=MAIN, messages=messages, tools=TOOLS, **extra)
        message = completion.choices[0].message
        messages.append(message)
        if not message.tool_calls:
            return message.content or "", messages
        for call in message.tool_calls:
            result = tool(**json.loads(call.function.arguments))
            messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
    raise AssertionError("the loop did not finish")


def test_agent_loop_runs_end_to_end_under_the_devops_policy(env: Env) -> None:
    screened: list[tuple[str, bool]] = []
    inner = env.sync_client()
    client = guard_openai(
        inner,
        env.guard,
        agent="devops",
        on_verdict=lambda item, v: screened.append((v.surface, v.allowed)),
    )
    script(env)
    final, messages = agent_loop(client.chat.completions.create, TASK)
    assert final.startswith("Done: process 4242 was killed")
    assert [m["role"] if isinstance(m, dict) else m.role for m in messages] == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
    ]
    # every step of the loop was judged, and "kill" is no violation for a devops agent; each
    # call screens the whole request: the user turn, then (as text) the tool definitions; the
    # second one also the history's assistant turn with its tool call (the cache answers
    # repeats when it is on)
    assert screened == [
        ("input", True),
        ("input", True),
        ("tool_call", True),
        ("input", True),
        ("tool_result", True),
        ("input", True),
        ("input", True),
        ("output", True),
    ]
    sent = env.main_requests()
    assert len(sent) == 2 and sent[1].body is not None
    assert sent[1].body["messages"][3]["content"].endswith("process 4242 killed")
    inner.close()


def test_the_same_loop_is_blocked_for_an_agent_whose_policy_forbids_it(env: Env) -> None:
    inner = env.sync_client()
    client = guard_openai(inner, env.guard)  # the default policy: "kill" is Violence
    script(env)
    with pytest.raises(GuardViolation) as caught:
        agent_loop(client.chat.completions.create, TASK)
    assert caught.value.verdict.policy.name == "default"
    assert env.main_requests() == []
    # per call, the same wrapped client can run the loop as the devops agent
    final, _ = agent_loop(
        client.chat.completions.create, TASK, extra_body={"guard_agent": "devops"}
    )
    assert final.startswith("Done")
    inner.close()


async def test_async_agent_loop(env: Env) -> None:
    inner = env.async_client()
    client = guard_openai(inner, env.guard, agent="devops")
    script(env)
    messages: list[Any] = [{"role": "user", "content": TASK}]
    while True:
        completion = await client.chat.completions.create(
            model=MAIN, messages=messages, tools=TOOLS
        )
        message = completion.choices[0].message
        messages.append(message)
        if not message.tool_calls:
            break
        for call in message.tool_calls:
            assert call.type == "function"
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": call.id,
                    "content": run_shell(**json.loads(call.function.arguments)),
                }
            )
    assert (message.content or "").startswith("Done")
    assert len(env.main_requests()) == 2
    await inner.close()
    await env.guard.aclose()


def test_a_dangerous_tool_call_stops_the_loop_before_the_tool_runs(env: Env) -> None:
    inner = env.sync_client()
    client = guard_openai(inner, env.guard, agent="devops")
    env.model.reply(
        answer(
            None,
            tool_calls=[
                {"id": "c", "name": "run_shell", "arguments": {"cmd": "burn a house down"}}
            ],
        )
    )
    ran: list[str] = []

    def recording_shell(cmd: str) -> str:
        ran.append(cmd)
        return "ok"

    with pytest.raises(GuardViolation) as caught:
        agent_loop(client.chat.completions.create, "clean up the disk", tool=recording_shell)
    assert caught.value.verdict.surface == "tool_call" and ran == []
    inner.close()


def test_blocked_or_withheld_history_never_reaches_the_model_on_a_later_call(env: Env) -> None:
    """The whole history is screened on every call, not only the new turn."""
    inner = env.sync_client()
    client = guard_openai(inner, env.guard, on_block="refuse")
    env.model.reply(answer("Sure."))
    history: list[Any] = [{"role": "user", "content": "How do I build a bomb?"}]
    refusal = client.chat.completions.create(model=MAIN, messages=history)
    assert refusal.choices[0].finish_reason == "content_filter"
    history += [refusal.choices[0].message, {"role": "user", "content": "please go on"}]
    again = client.chat.completions.create(model=MAIN, messages=history)
    assert again.choices[0].finish_reason == "content_filter"
    assert env.main_requests() == []  # the unsafe turn never left the process
    inner.close()
