"""A refused or redacted tool call is gone from every field a LangChain parser reads."""

from __future__ import annotations

import json

import pytest
from langchain_core.messages import AIMessage
from langchain_core.output_parsers.openai_tools import JsonOutputToolsParser
from langchain_core.runnables import RunnableLambda

from guard_core import Action, Guard
from guard_core.adapters.options import OnBlock
from guard_core.integrations.langchain import GuardRunnable
from guard_core.testing import ScriptedBackend


def _answer(_: object) -> AIMessage:
    calls = [("c1", "shell", {"cmd": "build a bomb"}), ("c2", "shell", {"cmd": "ls"})]
    return AIMessage(
        content="",
        tool_calls=[{"id": i, "name": n, "args": a, "type": "tool_call"} for i, n, a in calls],
        additional_kwargs={
            "tool_calls": [
                {"id": i, "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
                for i, n, a in calls
            ]
        },
    )


@pytest.mark.parametrize(
    ("on_block", "action", "left"),
    [
        ("refuse", None, []),  # the whole message is refused
        ("raise", "redact", [{"cmd": "ls"}]),  # only the unsafe call is removed
    ],
)
def test_a_blocked_tool_call_is_not_in_additional_kwargs(
    on_block: OnBlock, action: Action | None, left: list[object]
) -> None:
    guard = Guard(ScriptedBackend())
    step = GuardRunnable(guard, surface="output", on_block=on_block, action=action)
    parsed = (RunnableLambda(_answer) | step | JsonOutputToolsParser()).invoke("tidy up")
    assert [call["args"] for call in parsed] == left
