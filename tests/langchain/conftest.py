"""Fixtures for the LangChain tests: a real loopback guard server and scripted guards."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from lc_fakes import GUARD_MODEL

from guard_core import Guard, Policy, PolicySet
from guard_core.audit import MemoryAudit
from guard_core.backends import RemoteBackend
from guard_core.testing import OpenAICompatServer, ScriptedBackend


@pytest.fixture
def audit() -> MemoryAudit:
    return MemoryAudit()


@pytest.fixture
def backend() -> ScriptedBackend:
    return ScriptedBackend()


@pytest.fixture
def guard(backend: ScriptedBackend, audit: MemoryAudit) -> Guard:
    """An in-process guard: "bomb" and "burn a house" are unsafe."""
    return Guard(backend, Policy(name="chain"), audit=audit)


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAICompatServer]:
    with OpenAICompatServer() as srv:
        yield srv


@pytest.fixture
def remote_guard(
    server: OpenAICompatServer, audit: MemoryAudit
) -> Iterator[Callable[[Policy | PolicySet], Guard]]:
    """Build guards that ask the loopback server over real HTTP; closed after the test."""
    made: list[Guard] = []

    def make(policy: Policy | PolicySet) -> Guard:
        g = Guard(RemoteBackend.vllm(server.base_url, GUARD_MODEL), policy, audit=audit)
        made.append(g)
        return g

    yield make
    for g in made:
        g.close()
