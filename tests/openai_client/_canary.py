"""The canary harness: a real loopback server whose main model answers whatever JSON a
canary puts in it (chat chunks too), a guard on the same server, and the one question every
canary asks: did the marker reach the caller (or the main model) without the guard seeing it?
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import openai
from hypothesis import strategies as st

from guard_core import Guard, GuardViolation
from guard_core.backends import RemoteBackend
from guard_core.errors import ContentError
from guard_core.integrations.openai import guard_openai
from guard_core.testing import OpenAICompatServer, ScriptedJudge, chat_completion

from ._schema import MARKER
from .conftest import GUARD_MODEL, MAIN, POLICIES, UNSAFE


class CanaryServer(OpenAICompatServer):
    """The project's test server; a chat stream handler may also return
    ``{"object": "chunks", "chunks": [...]}``, sent as they are (the Responses API already
    has ``{"object": "events"}``)."""

    def _answer(self, path: str, body: dict[str, Any], fault: Any) -> tuple[int, Any, bool]:
        handler = self.models.get(body.get("model", ""))
        if handler is not None and body.get("stream") and path.endswith("/chat/completions"):
            answer = handler(body)
            if answer.get("object") == "chunks":
                return 200, answer["chunks"], True
        return super()._answer(path, body, fault)


@dataclass
class Harness:
    server: CanaryServer
    guard: Guard
    inner: openai.OpenAI
    answer: dict[str, Any] | None = None
    stats: dict[str, int] = field(default_factory=dict)

    def main_model(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.answer if self.answer is not None else chat_completion("Fine.", model=MAIN)

    def client(self, agent: str | None = None, **options: Any) -> Any:
        return guard_openai(self.inner, self.guard, agent=agent, **options)

    @contextmanager
    def watch(self) -> Iterator[Watch]:
        """What reached the main model and the guard during the block."""
        start = len(self.server.requests)
        watch = Watch()
        try:
            yield watch
        finally:
            self._seen(watch, start)

    def _seen(self, watch: Watch, start: int) -> None:
        for request in self.server.requests[start:]:
            text = json.dumps(request.body)
            is_guard = request.body is not None and request.body.get("model") == GUARD_MODEL
            if MARKER in text:
                watch.guard_saw |= is_guard
                watch.main_saw |= not is_guard


@dataclass
class Watch:
    guard_saw: bool = False
    main_saw: bool = False
    received: str = ""
    refused: str | None = None


def receive(watch: Watch, run: Any) -> None:
    """Run one call; ``watch.received`` is everything the caller got, as JSON text."""
    got: list[str] = []
    try:
        result = run()
        items = result if isinstance(result, openai.Stream) else [result]
        for item in items:
            got.append(item.model_dump_json(warnings=False))
    except (GuardViolation, ContentError, openai.APIStatusError) as exc:
        watch.refused = type(exc).__name__
    watch.received = "\n".join(got)


def kwargs_for(method: Any, body: dict[str, Any]) -> dict[str, Any]:
    """A request body as SDK arguments: keys ``create`` does not name go in ``extra_body``."""
    names = set(inspect.signature(method).parameters)
    kwargs = {k: v for k, v in body.items() if k in names}
    extra = {k: v for k, v in body.items() if k not in names}
    return {**kwargs, "extra_body": extra} if extra else kwargs


def plant(value: Any, draw: Any) -> Any:
    """``value`` with :data:`MARKER` put in one place (a value, a new key, a list item)."""
    if isinstance(value, dict) and value and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(value)))
        return {**value, key: plant(value[key], draw)}
    if isinstance(value, dict):
        return {**value, draw(st.sampled_from(["note", MARKER])): MARKER}
    if isinstance(value, list) and value:
        index = draw(st.integers(0, len(value) - 1))
        return [*value[:index], plant(value[index], draw), *value[index + 1 :]]
    return MARKER


def merged(values: Iterable[Any]) -> Any:
    """Canary values laid over one another: every marker of each kept."""
    out: Any = None
    for value in values:
        out = _merge(out, value)
    return out


def _merge(a: Any, b: Any) -> Any:
    if isinstance(a, dict) and isinstance(b, dict):
        return {k: _merge(a.get(k), b[k]) if k in b else a[k] for k in {**a, **b}}
    if isinstance(a, list) and isinstance(b, list):
        return [_merge(x, y) for x, y in zip(a, b, strict=False)] + a[len(b) :] + b[len(a) :]
    return a if b is None or (MARKER in json.dumps(a) and MARKER not in json.dumps(b)) else b


@contextmanager
def harness() -> Iterator[Harness]:
    box: list[Harness] = []
    server = CanaryServer(
        judge=ScriptedJudge(UNSAFE), models={MAIN: lambda body: box[0].main_model(body)}
    )
    with server:
        guard = Guard(
            RemoteBackend.vllm(server.base_url, GUARD_MODEL, max_retries=0), POLICIES, cache=False
        )
        inner = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
        box.append(Harness(server, guard, inner))
        yield box[0]
        inner.close()
        guard.close()
