"""Fixtures for the CLI tests: a clean environment and the loopback guard server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cli_helpers import GUARD_VARS, NEMOTRON35

from guard_core.testing import OpenAICompatServer


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No guard variable set, whatever the machine running the tests has."""
    for var in GUARD_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return monkeypatch


@pytest.fixture
def server() -> Iterator[OpenAICompatServer]:
    with OpenAICompatServer() as srv:
        yield srv


@pytest.fixture
def guard_env(clean_env: pytest.MonkeyPatch, server: OpenAICompatServer) -> OpenAICompatServer:
    """The environment points at the loopback server, serving Nemotron 3.5 (with categories)."""
    clean_env.setenv("GUARD_BASE_URL", server.base_url)
    clean_env.setenv("GUARD_MODEL", NEMOTRON35)
    return server
