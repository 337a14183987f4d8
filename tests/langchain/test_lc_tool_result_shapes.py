"""Every shape a tool result can take through the middleware is screened (or withheld)."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import ToolMessage
from langgraph.types import Command

from guard_core import Guard
from guard_core.integrations.langchain._agent_steps import (
    normalize_result,
    result_items,
    screen_results,
)
from guard_core.testing import ScriptedBackend

CALL = {"id": "c1", "name": "fetch", "args": {}}


def _screen(result: Any) -> Any:
    guard = Guard(ScriptedBackend())
    shaped = normalize_result(result, CALL)
    groups = result_items(shaped)
    return screen_results(shaped, groups, guard.check_many([i for _, it in groups for i in it]))


def test_a_list_of_tool_messages_is_screened() -> None:
    out = _screen(
        [
            ToolMessage("how to build a bomb", tool_call_id="c1"),
            ToolMessage("fine", tool_call_id="c2"),
        ]
    )
    assert "withheld by guard-core" in out[0].content and out[1].content == "fine"


def test_dict_messages_in_a_command_update_are_screened() -> None:
    out = _screen(
        Command(
            update={
                "messages": [
                    {"role": "tool", "content": "how to build a bomb", "tool_call_id": "c1"}
                ]
            }
        )
    )
    [message] = out.update["messages"]
    assert "bomb" not in message.content


def test_a_result_that_cannot_be_screened_is_withheld() -> None:
    out = _screen({"raw": "how to build a bomb"})
    assert isinstance(out, ToolMessage) and out.status == "error"
    assert "bomb" not in out.content
