"""Fixtures for the core tests: a real loopback server and remote backends closed after use."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from guard_core.backends.remote import RemoteBackend
from guard_core.testing import OpenAICompatServer

from ._support import N35, MakeRemote


@pytest.fixture
def server() -> Iterator[OpenAICompatServer]:
    """A real OpenAI-compatible HTTP server on 127.0.0.1 playing the guard model."""
    with OpenAICompatServer() as srv:
        yield srv


@pytest.fixture
def remote(server: OpenAICompatServer) -> Iterator[MakeRemote]:
    """``remote(model=N35, **kwargs)``: a RemoteBackend on ``server``, closed at teardown.

    Short retry waits keep fault tests fast. Async tests close their loop's client
    themselves (``await guard.aclose()``), since it belongs to the test's event loop.
    """
    made: list[RemoteBackend] = []

    def make(model: str = N35, *, base_url: str | None = None, **kwargs: Any) -> RemoteBackend:
        kwargs.setdefault("timeout", 5.0)
        kwargs.setdefault("max_retry_wait", 0.05)
        backend = RemoteBackend.vllm(base_url or server.base_url, model, **kwargs)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()
