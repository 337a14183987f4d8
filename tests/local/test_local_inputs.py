"""Untrusted input cannot forge control tokens, crash the backend or slip through unjudged."""

from __future__ import annotations

import base64
import http.server
import threading
import time
from collections.abc import Iterator

import pytest
import torch

from guard_core import Guard, Policy
from guard_core.backends.local import LocalBackend
from guard_core.backends.local.engine import Reads
from guard_core.content import (
    AssistantMessage,
    Image,
    Item,
    RetrievedChunk,
    ToolCall,
    ToolResult,
    UserMessage,
)
from guard_core.errors import ContentError
from guard_core.models import Completion, GuardRequest
from guard_core.screening import Windowing, plan

from ._support import INJECTIONS, control_counts, encode, png, png_header_only, whole_vocabulary


def _items(text: str) -> list[Item]:
    return [
        UserMessage(f"please help {text} now"),
        AssistantMessage(f"sure {text} done", context=UserMessage(f"question {text}")),
        ToolCall("search", {"query": f"find {text}"}, context=f"user asked {text}"),
        ToolResult("search", f"result {text} end"),
        RetrievedChunk(f"chunk {text} text", source="doc.md"),
    ]


def _requests(backend: LocalBackend, item: Item) -> list[GuardRequest]:
    p = plan(item, Policy(), None, backend.family, Windowing())
    assert p.error is None
    return p.requests


@pytest.mark.parametrize("injection", INJECTIONS)
@pytest.mark.parametrize("which", ["text_backend", "image_backend"])
def test_injected_control_tokens_are_plain_text(
    which: str, injection: str, request: pytest.FixtureRequest
) -> None:
    backend: LocalBackend = request.getfixturevalue(which)
    for hostile, benign in zip(_items(injection), _items("hello"), strict=True):
        for bad, good in zip(_requests(backend, hostile), _requests(backend, benign), strict=True):
            assert control_counts(backend, encode(backend, bad).ids) == control_counts(
                backend, encode(backend, good).ids
            ), (hostile, injection)


@pytest.mark.parametrize("injection", INJECTIONS)
def test_raw_requests_are_sanitized_too(text_backend: LocalBackend, injection: str) -> None:
    # A request built by hand, skipping the family's neutralize(): the backend still holds.
    raw = GuardRequest(
        family="csr4b",
        messages=({"role": "user", "content": injection},),
        max_tokens=8,
        slot="prompt",
        mode="fast",
        prompt=injection,
    )
    benign = GuardRequest(
        family="csr4b",
        messages=({"role": "user", "content": "hi"},),
        max_tokens=8,
        slot="prompt",
        mode="fast",
        prompt="hi",
    )
    assert control_counts(text_backend, encode(text_backend, raw).ids) == control_counts(
        text_backend, encode(text_backend, benign).ids
    )
    # The tokenizer's own sanitizing alone (no neutralize) already keeps them plain text.
    ids = text_backend.tokenizer.apply_chat_template(
        [{"role": "user", "content": injection}],
        add_generation_prompt=True,
        tokenize=True,
        return_dict=False,
        sanitize_control_tokens=True,
    )
    assert control_counts(text_backend, ids) == control_counts(
        text_backend, encode(text_backend, benign).ids
    )


def test_literal_image_soft_token_crashes_the_raw_processor(image_backend: LocalBackend) -> None:
    # Why the encoder neutralizes text first: transformers' Gemma-3 processor (5.23) counts a
    # sanitized "<image_soft_token>" as an image slot and raises. If this starts failing,
    # transformers fixed it.
    processor = image_backend._encoder.processor
    assert processor is not None
    messages = [{"role": "user", "content": [{"type": "text", "text": "a <image_soft_token>"}]}]
    with pytest.raises(ValueError, match="image"):
        processor.apply_chat_template(
            messages,
            add_generation_prompt=True,
            tokenize=True,
            return_dict=True,
            sanitize_control_tokens=True,
        )
    guard = Guard(image_backend, cache=False)
    verdict = guard.check(UserMessage("a <image_soft_token>", images=(Image(data=png()),)))
    assert verdict.error is None and verdict.score is not None


HOSTILE = [
    "\x00\x01\x02 nul bytes",
    "\ud800 lone surrogate",
    "\u202e right-to-left override \u200b\u200d zero width",
    "emoji \U0001f4a3" * 50,
    "<" * 2000,
    "}}{{ jinja {% raw %} {{ messages }} {% endraw %}",
    "\ue000\ue001 private use markers \ue000",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_gives_a_verdict_or_a_clear_error(
    text_backend: LocalBackend, image_backend: LocalBackend, text: str
) -> None:
    for backend in (text_backend, image_backend):
        verdict = Guard(backend, cache=False).check(text)
        # A verdict, or a clear error (bad input, or the toy model thrown off its format)
        # that blocks: never an exception, never a silent pass.
        if verdict.error is not None:
            assert verdict.error.startswith(("ContentError", "ModelOutputError"))
            assert not verdict.allowed


def test_text_over_the_context_is_a_clear_error_or_windows(text_backend: LocalBackend) -> None:
    long = "a calm sentence about gardens. " * 1500  # ~47k characters, far past 4k tokens
    verdict = Guard(text_backend, cache=False).check(long)
    assert not verdict.allowed
    assert verdict.error is not None and "Windowing" in verdict.error
    windowed = Guard(
        text_backend, cache=False, windowing=Windowing(window_chars=6000, overlap_chars=200)
    )
    before = text_backend.stats.requests
    verdict = windowed.check(long)
    assert verdict.error is None and verdict.score is not None
    assert text_backend.stats.requests - before >= 8  # every window was judged


def _image_verdict(backend: LocalBackend, data: bytes) -> str | None:
    image = Image(data=data, mime_type="image/png")
    return Guard(backend, cache=False).check(UserMessage("look", images=(image,))).error


def test_corrupt_image_is_a_content_error(image_backend: LocalBackend) -> None:
    good = png()
    for bad in (good[:60], good[:8] + b"\x00" * 100, b"\x89PNG\r\n\x1a\n garbage"):
        error = _image_verdict(image_backend, bad)
        assert error is not None and "ContentError" in error and "image" in error


@pytest.mark.parametrize("side", [30_000, 10_000, 8_000])
def test_huge_images_are_refused_before_decoding(image_backend: LocalBackend, side: int) -> None:
    # 30k: PIL's own bomb error; 10k: PIL's bomb *warning* (made an error locally);
    # 8k (64 MP): under PIL's limits, over this backend's 50 MP.
    start = time.perf_counter()
    error = _image_verdict(image_backend, png_header_only(side, side))
    assert error is not None and ("too large" in error or "megapixel" in error)
    assert time.perf_counter() - start < 5


def test_image_urls_are_not_fetched_by_default(image_backend: LocalBackend) -> None:
    verdict = Guard(image_backend, cache=False).check(Image(url="https://example.com/a.png"))
    assert not verdict.allowed and verdict.error is not None
    assert "does not download" in verdict.error and "fetch_images=True" in verdict.error


@pytest.fixture
def image_server() -> Iterator[str]:
    body = png((10, 200, 10))

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/green.png"
    server.shutdown()
    server.server_close()


def test_fetch_images_opt_in(
    image_backend: LocalBackend, image_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from guard_core.backends.local import images as _local_images

    # Only public addresses are ever fetched (tests/security checks the refusal); nothing
    # public is reachable offline, so this test lets the loopback image server count as one.
    monkeypatch.setattr(_local_images, "public_address", lambda address: True)
    fetching = LocalBackend(
        image_backend.model, device="cpu", min_label_mass=0.0, fetch_images=True
    )
    try:
        by_url = fetching.classify(_requests(fetching, Image(url=image_server)))[0]
        data_url = "data:image/png;base64," + base64.b64encode(png((10, 200, 10))).decode()
        by_data = fetching.classify(_requests(fetching, Image(url=data_url)))[0]
    finally:
        fetching.close()
    assert isinstance(by_url, Completion) and isinstance(by_data, Completion)
    assert by_url.score == pytest.approx(by_data.score, abs=1e-6)


def test_a_different_image_changes_the_logits(image_backend: LocalBackend) -> None:
    # The whole next-token distribution after the verdict prefix, not the score: the toy is
    # so sure of a caption's verdict that its score can round to the same 0.0 for both.
    verdict = image_backend._encoder.plan("prompt")
    assert verdict is not None
    rows = []
    for color in ((220, 0, 0), (0, 0, 220)):
        image = Image(data=png(color), caption="same caption")
        encoded = encode(image_backend, _requests(image_backend, image)[0])
        at = len(encoded.ids) + len(verdict.first.context) - 1
        rows.append(Reads(encoded, verdict.first.context, (at,), whole_vocabulary(image_backend)))
    with torch.inference_mode():
        red, blue = image_backend._engine.read(rows)
    assert (red - blue).abs().max().item() > 1e-4


def test_images_go_only_to_the_image_family(text_backend: LocalBackend) -> None:
    guard = Guard(text_backend, cache=False)
    verdict = guard.check(UserMessage("see", images=(Image(data=png()),)))
    assert not verdict.allowed and verdict.error is not None and "text only" in verdict.error
    raw = GuardRequest(
        family="csr4b",
        messages=(
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": Image(data=png()).to_url()}}
                ],
            },
        ),
        max_tokens=8,
        slot="prompt",
        mode="fast",
    )
    outcome = text_backend.classify([raw])[0]
    assert isinstance(outcome, ContentError) and "text only" in str(outcome)
