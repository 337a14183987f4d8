"""The developer's choice of agent (and so of policy) wins over what a client sends, in
every adapter, unless the adapter is built with ``allow_agent_override=True``."""

from __future__ import annotations

from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from lc_canary import RecordingModel

from guard_core import Guard, GuardViolation, Policy, PolicySet
from guard_core.audit import MemoryAudit
from guard_core.errors import ContentError
from guard_core.integrations.langchain import (
    GuardCallbackHandler,
    GuardDocumentFilter,
    GuardMiddleware,
    GuardRunnable,
)
from guard_core.testing import ScriptedBackend

# "lax" screens nothing a client could use; "strict" is the developer's
POLICIES = PolicySet(
    {
        "strict": Policy(name="strict"),
        "lax": Policy(name="lax", surfaces={"retrieval"}),
        "open": Policy(name="open", surfaces={"input"}),
    },
    default=Policy(name="default"),
)
LAX: RunnableConfig = {"configurable": {"guard_agent": "lax"}}


@pytest.fixture
def policies_guard(audit: MemoryAudit) -> Guard:
    return Guard(ScriptedBackend(), POLICIES, audit=audit)


def test_runnable(policies_guard: Guard, audit: MemoryAudit) -> None:
    with pytest.raises(ContentError, match="cannot pick another agent's policy"):
        GuardRunnable(policies_guard, agent="strict").invoke("a bomb", LAX)
    with pytest.raises(GuardViolation):  # naming the developer's own agent is fine
        GuardRunnable(policies_guard, agent="strict").invoke(
            "a bomb", {"configurable": {"guard_agent": "strict"}}
        )
    lenient = GuardRunnable(policies_guard, agent="strict", allow_agent_override=True)
    assert lenient.invoke("a bomb", LAX) == "a bomb"
    assert GuardRunnable(policies_guard).invoke("a bomb", LAX) == "a bomb"  # nobody named one
    # create_agent(name=...)
    named: RunnableConfig = {"metadata": {"lc_agent_name": "strict"}, **LAX}
    with pytest.raises(ContentError):
        GuardRunnable(policies_guard).invoke("a bomb", named)


def _agent(guard: Guard, **middleware: Any) -> tuple[Any, RecordingModel]:
    model = RecordingModel(answers=[AIMessage("All fine.")])
    agent = create_agent(
        model,
        [],
        middleware=[GuardMiddleware(guard, **middleware)],
        name="strict",
        context_schema=dict,
    )
    return agent, model


def test_middleware_runtime_context_and_configurable(policies_guard: Guard) -> None:
    agent, model = _agent(policies_guard)
    turn = {"messages": [HumanMessage("a bomb")]}
    with pytest.raises(ContentError, match="'strict'"):
        agent.invoke(turn, context={"guard_agent": "lax"})
    with pytest.raises(ContentError):
        agent.invoke(turn, LAX)
    assert model.seen == []  # refused before anything reached the model
    out = agent.invoke(turn, context={"guard_agent": "strict"})
    assert out["messages"][-1].text == "I can't help with that request."
    lenient, model = _agent(policies_guard, allow_agent_override=True)
    out = lenient.invoke(turn, context={"guard_agent": "lax"})
    assert out["messages"][-1].text == "All fine." and len(model.seen) == 1


def test_middleware_agent_argument_beats_the_agent_name(
    policies_guard: Guard, audit: MemoryAudit
) -> None:
    agent, _ = _agent(policies_guard, agent="lax")
    out = agent.invoke({"messages": [HumanMessage("a bomb")]})
    assert out["messages"][-1].text == "All fine."  # the developer chose lax on purpose
    assert {r["policy"] for r in audit.records} <= {"lax"}


def test_callback_handler(policies_guard: Guard) -> None:
    model = RecordingModel()
    asked_lax: RunnableConfig = {"metadata": {"guard_agent": "lax"}}
    with pytest.raises(ContentError):
        model.invoke(
            "a bomb",
            {"callbacks": [GuardCallbackHandler(policies_guard, agent="strict")], **asked_lax},
        )
    lenient = GuardCallbackHandler(policies_guard, agent="strict", allow_agent_override=True)
    assert model.invoke("a bomb", {"callbacks": [lenient], **asked_lax}).text


def test_document_filter(policies_guard: Guard) -> None:
    docs = [Document("how to build a bomb")]
    strict = GuardDocumentFilter(policies_guard, agent="strict")
    assert strict.transform_documents(docs) == []
    with pytest.raises(ContentError):
        strict.transform_documents(docs, guard_agent="default")
    lenient = GuardDocumentFilter(policies_guard, agent="strict", allow_agent_override=True)
    assert lenient.transform_documents(docs, guard_agent="open") == docs  # open: input only
