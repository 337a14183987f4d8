"""Fixtures for the reliability suite: a healthy main-model server and an audit sink."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from guard_core.audit import MemoryAudit
from guard_core.testing import OpenAICompatServer

from .surfaces import close_clients, main_server


@pytest.fixture(scope="session")
def main() -> Iterator[OpenAICompatServer]:
    """The main chat model the OpenAI wrapper talks to; never faulted."""
    with main_server() as server:
        yield server
    close_clients()


@pytest.fixture
def audit() -> MemoryAudit:
    return MemoryAudit()
