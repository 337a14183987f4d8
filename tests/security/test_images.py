"""Image URLs and image bytes: nothing is fetched, sizes are bounded, bombs are refused.

- ``file://`` and every scheme but ``https://`` / ``http://`` / ``data:`` is refused when
  the ``Image`` is made.
- An ``http://`` URL to this machine (a recording server on 127.0.0.1), given on every
  surface, is never contacted by guard-core or an adapter: the guard endpoint gets the URL
  as text. The local backend refuses URLs unless built with ``fetch_images=True``.
- ``data:`` URLs and image bytes are size-limited before decoding; the local backend's
  decoder refuses decompression bombs from the header, before any pixel is decoded.
"""

from __future__ import annotations

import base64
import struct
import time
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Any

import pytest
from reliability.surfaces import N35, png_data_url, tiny_png

from guard_core import Guard, Image, Policy, UserMessage
from guard_core.audit import MemoryAudit
from guard_core.backends import RemoteBackend
from guard_core.content import MAX_IMAGE_BYTES
from guard_core.errors import ContentError
from guard_core.testing import OpenAICompatServer, chat_completion


class Recorder:
    """A loopback HTTP server that records every hit; ``/redirect`` sends to ``/img.png``."""

    def __init__(self) -> None:
        hits = self.hits = []  # type: list[str]

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                if self.path.startswith("/redirect"):
                    self.send_response(302)
                    self.send_header("Location", "/img.png")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = tiny_png()
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def urls(self) -> list[str]:
        return [
            f"http://127.0.0.1:{self.port}/img.png",
            f"http://localhost:{self.port}/secret.png?x=1",
            f"http://127.0.0.1:{self.port}/redirect",
        ]


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    rec = Recorder()
    rec.thread.start()
    yield rec
    rec.server.shutdown()
    rec.server.server_close()


@pytest.fixture
def guard_server() -> Iterator[OpenAICompatServer]:
    with OpenAICompatServer() as server:
        yield server


def _guard(server: OpenAICompatServer) -> Guard:
    return Guard(
        RemoteBackend.vllm(server.base_url, N35, max_retries=0), Policy(), audit=MemoryAudit()
    )


def _sent_urls(server: OpenAICompatServer) -> str:
    return "\n".join(str(r.body) for r in server.requests)


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "FILE:///etc/passwd",
        "file://localhost/etc/shadow",
        "ftp://127.0.0.1/x.png",
        "gopher://127.0.0.1:70/_x",
        "javascript:alert(1)",
        "/etc/passwd",
        "../secrets.png",
        " https://example.com/x.png",
        "data:text/html;base64,PGgxPmhpPC9oMT4=",
        "data:image/png,notbase64",
    ],
)
def test_only_https_http_and_data_urls_are_accepted(url: str) -> None:
    with pytest.raises(ContentError) as info:
        Image(url=url)
    assert "url" in str(info.value).lower() or "mime" in str(info.value).lower()


# -- never fetched, on every surface ---------------------------------------------------------


def test_core_passes_urls_as_text(recorder: Recorder, guard_server: OpenAICompatServer) -> None:
    guard = _guard(guard_server)
    for url in recorder.urls():
        assert guard.check(Image(url=url, caption="a photo")).allowed
        assert guard.check(UserMessage("look", images=(Image(url=url),))).allowed
    guard.close()
    assert recorder.hits == []
    assert all(url in _sent_urls(guard_server) for url in recorder.urls())


async def test_core_async_passes_urls_as_text(
    recorder: Recorder, guard_server: OpenAICompatServer
) -> None:
    guard = _guard(guard_server)
    verdicts = await guard.acheck_many([Image(url=u) for u in recorder.urls()])
    await guard.aclose()
    assert all(v.allowed for v in verdicts) and recorder.hits == []


def test_langchain_never_fetches(recorder: Recorder, guard_server: OpenAICompatServer) -> None:
    from langchain_core.messages import HumanMessage, ToolMessage

    from guard_core.integrations.langchain import GuardRunnable

    guard = _guard(guard_server)
    for url in recorder.urls():
        message = HumanMessage(
            content=[
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": url}},
            ]
        )
        assert GuardRunnable(guard).invoke(message) == message
        result = ToolMessage(
            content=[{"type": "image", "url": url}], tool_call_id="c1", name="camera"
        )
        assert GuardRunnable(guard, surface="tool_result").invoke(result) == result
    guard.close()
    assert recorder.hits == []
    assert all(url in _sent_urls(guard_server) for url in recorder.urls())


def test_llama_index_never_fetches(recorder: Recorder, guard_server: OpenAICompatServer) -> None:
    from llama_index.core.base.llms.types import ImageBlock, TextBlock
    from llama_index.core.schema import ImageNode, MediaResource, Node, NodeWithScore
    from llama_index.core.tools import ToolOutput

    from guard_core.integrations.llama_index import GuardNodePostprocessor, guard_tools

    guard = _guard(guard_server)
    nodes = []
    for url in recorder.urls():
        nodes.append(NodeWithScore(node=ImageNode(text="a chart", image_url=url)))
        nodes.append(
            NodeWithScore(
                node=Node(
                    text_resource=MediaResource(text="a chart"),
                    image_resource=MediaResource(url=url),  # type: ignore[arg-type]
                )
            )
        )
    assert len(GuardNodePostprocessor(guard).postprocess_nodes(nodes)) == len(nodes)

    def camera(room: str) -> ToolOutput:
        """Take a photo."""
        return ToolOutput(
            tool_name="camera",
            raw_input={},
            raw_output=None,
            blocks=[TextBlock(text="photo"), *(ImageBlock(url=u) for u in recorder.urls())],
        )

    [tool] = guard_tools([camera], guard)
    assert not tool(room="hall").is_error
    guard.close()
    assert recorder.hits == []
    assert all(url in _sent_urls(guard_server) for url in recorder.urls())


def test_openai_wrapper_never_fetches(recorder: Recorder, guard_server: OpenAICompatServer) -> None:
    import openai

    from guard_core.integrations.openai import guard_openai

    guard = _guard(guard_server)
    with OpenAICompatServer(models={"m": lambda body: chat_completion("a cat")}) as model:
        inner = openai.OpenAI(base_url=model.base_url, api_key="sk-main", max_retries=0)
        client = guard_openai(inner, guard)
        for url in recorder.urls():
            client.chat.completions.create(
                model="m",
                messages=[
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "what is this?"},
                            {"type": "image_url", "image_url": {"url": url}},
                        ],
                    }
                ],
            )
            client.responses.create(
                model="m",
                input=[
                    {
                        "role": "user",
                        "content": [{"type": "input_image", "image_url": url, "detail": "auto"}],
                    }
                ],
            )
        inner.close()
    guard.close()
    assert recorder.hits == []
    assert all(url in _sent_urls(guard_server) for url in recorder.urls())


def test_local_backend_refuses_urls_by_default(recorder: Recorder) -> None:
    import inspect

    from guard_core.backends.local import LocalBackend
    from guard_core.backends.local.images import ImageLoader

    assert inspect.signature(LocalBackend.__init__).parameters["fetch_images"].default is False
    loader = ImageLoader()
    for url in recorder.urls():
        with pytest.raises(ContentError, match="does not download images"):
            loader.from_part({"type": "image_url", "image_url": {"url": url}})
    with pytest.raises(ContentError, match="scheme not allowed"):
        loader.from_part({"type": "image_url", "image_url": {"url": "file:///etc/passwd"}})
    assert recorder.hits == []


def test_local_backend_never_fetches_this_machine_even_when_fetching(recorder: Recorder) -> None:
    from guard_core.backends.local.images import ImageLoader

    loader = ImageLoader(fetch=True, fetch_timeout=2.0)
    for url in recorder.urls():
        with pytest.raises(ContentError):
            loader.from_part({"type": "image_url", "image_url": {"url": url}})
    assert recorder.hits == []


# -- sizes ----------------------------------------------------------------------------------


def test_data_urls_are_size_limited_before_decoding() -> None:
    huge = "data:image/png;base64," + "A" * (MAX_IMAGE_BYTES * 4 // 3 + 8)
    start = time.perf_counter()
    with pytest.raises(ContentError, match="limit"):
        Image(url=huge)
    assert time.perf_counter() - start < 0.5
    just_over = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * MAX_IMAGE_BYTES).decode()
    with pytest.raises(ContentError, match="limit"):
        Image(url="data:image/png;base64," + just_over)
    with pytest.raises(ContentError, match="limit"):
        Image(data=b"\x89PNG\r\n\x1a\n" + b"\0" * MAX_IMAGE_BYTES)
    assert Image(url=png_data_url()).data == tiny_png()


def test_oversized_images_are_refused_on_every_surface() -> None:
    from langchain_core.messages import HumanMessage
    from llama_index.core.schema import ImageNode, NodeWithScore

    from guard_core.integrations.langchain import GuardRunnable
    from guard_core.integrations.llama_index import GuardNodePostprocessor
    from guard_core.testing import ScriptedBackend

    backend = ScriptedBackend()
    guard = Guard(backend, Policy())
    b64 = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * (MAX_IMAGE_BYTES + 1)).decode()
    with pytest.raises(ContentError, match="limit"):
        GuardRunnable(guard).invoke(
            HumanMessage(content=[{"type": "image", "base64": b64, "mime_type": "image/png"}])
        )
    with pytest.raises(ContentError, match="limit"):
        GuardNodePostprocessor(guard).postprocess_nodes(
            [NodeWithScore(node=ImageNode(text="x", image=b64))]
        )
    assert not backend.requests  # refused before anything was sent


# -- decompression bombs (the local backend's decoder) ---------------------------------------


def _png(width: int, height: int, bit_depth: int, color: int, idat: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, bit_depth, color, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def _real_bomb(side: int = 10_000) -> bytes:
    """A valid 1-bit PNG of side x side pixels: ~12 MB of pixels in ~12 KB."""
    packer = zlib.compressobj(9)
    row = b"\0" * (1 + side // 8)
    idat = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    return _png(side, side, 1, 0, idat)


def _gif(width: int, height: int) -> bytes:
    return (
        b"GIF89a"
        + struct.pack("<HH", width, height)
        + b"\x80\x00\x00"
        + b"\0\0\0\xff\xff\xff"
        + b",\0\0\0\0"
        + struct.pack("<HH", width, height)
        + b"\x00\x02\x02\x44\x01\x00;"
    )


@pytest.mark.parametrize(
    "data",
    [
        _real_bomb(),
        _png(100_000, 100_000, 8, 2, zlib.compress(b"\0" * 1000)),
        _gif(65_535, 65_535),
    ],
    ids=["png-10k-x-10k", "png-header-100k", "gif-header-64k"],
)
def test_decompression_bombs_are_refused_from_the_header(data: bytes) -> None:
    pytest.importorskip("PIL")
    from guard_core.backends.local.images import ImageLoader

    assert len(data) < 64 * 1024  # small on the wire
    start = time.perf_counter()
    with pytest.raises(ContentError, match=r"megapixel|decompression bomb|too large"):
        ImageLoader().decode(data)
    assert time.perf_counter() - start < 1.0  # refused before decoding pixels


def test_corrupt_and_truncated_images_are_clear_errors() -> None:
    pytest.importorskip("PIL")
    from guard_core.backends.local.images import ImageLoader

    for data in (tiny_png()[:30], b"\x89PNG\r\n\x1a\n" + b"garbage" * 10, b"GIF89a\0\0"):
        with pytest.raises(ContentError, match=r"decode|format|read"):
            ImageLoader().decode(data)
    assert ImageLoader().decode(tiny_png()).size == (1, 1)
