"""Fixtures for the security suite: a healthy main-model server for the OpenAI wrapper."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from reliability.surfaces import close_clients, main_server

from guard_core.testing import OpenAICompatServer


@pytest.fixture(scope="session")
def main() -> Iterator[OpenAICompatServer]:
    with main_server() as server:
        yield server
    close_clients()
