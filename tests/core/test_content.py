"""Content items: what can be screened, and a clear error for everything that cannot."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

import guard_core.content as content
from guard_core.content import (
    AssistantMessage,
    Image,
    RetrievedChunk,
    ToolCall,
    ToolResult,
    UserMessage,
    as_item,
)
from guard_core.errors import ContentError

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 8
GIF = b"GIF89a" + b"\x00" * 8
WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 "


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: UserMessage(None), "UserMessage text must be a str, got NoneType"),  # type: ignore[arg-type]
        (lambda: UserMessage(b"bytes"), "UserMessage text must be a str, got bytes"),  # type: ignore[arg-type]
        (lambda: UserMessage("hi", images=("not an image",)), "images must be Image"),  # type: ignore[arg-type]
        (lambda: AssistantMessage(None), "AssistantMessage text must be a str"),  # type: ignore[arg-type]
        (lambda: AssistantMessage("x", context=42), "context must be a UserMessage or str"),  # type: ignore[arg-type]
        (lambda: ToolCall(None), "ToolCall name must be a str"),  # type: ignore[arg-type]
        (lambda: ToolCall("t", context=3.5), "context must be a UserMessage or str"),  # type: ignore[arg-type]
        (lambda: ToolResult("t", None), "ToolResult content must be a str"),  # type: ignore[arg-type]
        (lambda: ToolResult(None, "x"), "ToolResult name must be a str"),  # type: ignore[arg-type]
        (lambda: RetrievedChunk(None), "RetrievedChunk text must be a str"),  # type: ignore[arg-type]
    ],
)
def test_text_validation(make: Any, match: str) -> None:
    with pytest.raises(ContentError, match=match):
        make()


def test_content_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        UserMessage(None)  # type: ignore[arg-type]


def test_context_from_str_and_surfaces() -> None:
    message = AssistantMessage("answer", context="question")
    assert message.context == UserMessage("question")
    call = ToolCall("t", {"a": 1}, context=UserMessage("q"))
    assert call.context == UserMessage("q")
    assert [
        i.surface
        for i in (
            UserMessage("x"),
            message,
            call,
            ToolResult("t", "r"),
            RetrievedChunk("c"),
            Image(data=PNG),
        )
    ] == ["input", "output", "tool_call", "tool_result", "retrieval", "image"]


def test_as_item() -> None:
    assert as_item("hello") == UserMessage("hello")
    chunk = RetrievedChunk("c")
    assert as_item(chunk) is chunk
    with pytest.raises(ContentError, match="cannot screen a bytes"):
        as_item(b"hello")  # type: ignore[arg-type]
    with pytest.raises(ContentError, match="cannot screen a dict"):
        as_item({"role": "user"})  # type: ignore[arg-type]


# -- tool calls -----------------------------------------------------------------------------


def test_tool_arguments_from_dict_and_json_string() -> None:
    from_dict = ToolCall("search", {"q": "日本", "n": 3})
    from_json = ToolCall("search", '{"q": "日本", "n": 3}')
    assert from_dict.arguments == from_json.arguments == {"q": "日本", "n": 3}
    assert from_json.arguments_json == '{"q": "日本", "n": 3}'
    assert ToolCall("noop", "").arguments == {}
    assert ToolCall("noop", "  ").arguments == {}


@pytest.mark.parametrize(
    ("arguments", "match"),
    [
        ("{not json", "arguments are not valid JSON"),
        ("{'single': 'quotes'}", "arguments are not valid JSON"),
        ("[1, 2]", "must be a JSON object, got list"),
        ('"a string"', "must be a JSON object, got str"),
        (42, "must be a JSON object, got int"),
        (["a"], "must be a JSON object, got list"),
    ],
)
def test_tool_arguments_must_be_a_json_object(arguments: Any, match: str) -> None:
    with pytest.raises(ContentError, match=match):
        ToolCall("t", arguments)


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def test_tool_arguments_depth_limit() -> None:
    limit = content.MAX_TOOL_ARGUMENT_DEPTH
    ToolCall("t", _nested(limit))
    with pytest.raises(ContentError, match=f"nest deeper than {limit} levels"):
        ToolCall("t", _nested(limit + 1))
    with pytest.raises(ContentError, match="nest deeper"):
        ToolCall("t", json.dumps(_nested(limit + 1)))
    with pytest.raises(ContentError, match="nest deeper"):
        ToolCall("t", {"list": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]})


def test_pathologically_deep_json_is_a_content_error_not_a_crash() -> None:
    deep = '{"a": ' + "[" * 200_000 + "]" * 200_000 + "}"
    with pytest.raises(ContentError, match="nest deeper"):
        ToolCall("t", deep)


def test_cyclic_arguments_are_refused() -> None:
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    with pytest.raises(ContentError, match="nest deeper"):
        ToolCall("t", cyclic)


def test_non_json_values_are_rendered_as_text() -> None:
    call = ToolCall("t", {"path": Path("/tmp/x")})
    assert call.arguments_json == '{"path": "/tmp/x"}'


# -- images -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "mime"),
    [(PNG, "image/png"), (JPEG, "image/jpeg"), (GIF, "image/gif"), (WEBP, "image/webp")],
)
def test_image_format_is_sniffed(data: bytes, mime: str) -> None:
    assert Image(data=data).mime_type == mime
    assert Image(data=bytearray(data)).data == data  # type: ignore[arg-type]


def test_data_url_is_decoded() -> None:
    image = Image(url=data_url(PNG), caption="a chart")
    assert (image.url, image.data, image.mime_type) == (None, PNG, "image/png")
    assert image.to_url() == data_url(PNG)
    assert "bytes" in repr(image) and "iVBOR" not in repr(image)
    sniffed = Image(url="data:;base64," + base64.b64encode(GIF).decode())
    assert sniffed.mime_type == "image/gif"


def test_https_url_is_kept_and_never_fetched() -> None:
    image = Image(url="https://example.com/a.png")
    assert image.data is None and image.to_url() == "https://example.com/a.png"


def test_from_path(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(PNG)
    image = Image.from_path(path, caption="c")
    assert (image.data, image.mime_type, image.caption) == (PNG, "image/png", "c")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "exactly one of data= .* or url="),
        ({"data": PNG, "url": "https://x/a.png"}, "exactly one of"),
        ({"url": "file:///etc/passwd"}, "url scheme not allowed: 'file:///etc/passwd'"),
        ({"url": "ftp://example.com/a.png"}, "url scheme not allowed"),
        ({"url": "/etc/passwd"}, "Image.from_path"),
        ({"url": "data:image/png,rawbytes"}, "must be base64"),
        ({"url": "data:image/png;base64"}, "must be base64"),
        ({"url": "data:image/png;base64,@@@not-base64@@@"}, "not valid base64"),
        ({"url": "data:image/png;base64,iVBORw0KGgo"}, "not valid base64"),
        ({"url": data_url(b"hello", "text/plain")}, "must be image/\\*, got 'text/plain'"),
        ({"data": b"just some text"}, "Unknown image format; pass mime_type="),
        ({"data": b""}, "Image data is empty"),
        ({"data": "iVBORw0KGgo="}, "Image data must be bytes, got str"),
        ({"url": 42}, "Image url must be a str"),
        ({"data": PNG, "caption": 7}, "Image caption must be a str"),
        ({"data": PNG, "mime_type": 7}, "Image mime_type must be a str"),
    ],
)
def test_image_validation(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ContentError, match=match):
        Image(**kwargs)


def test_unknown_format_is_fine_with_an_explicit_mime_type() -> None:
    assert Image(data=b"raw", mime_type="image/bmp").mime_type == "image/bmp"


def test_too_large_image_and_data_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(content, "MAX_IMAGE_BYTES", 1024)
    big = PNG + b"\x00" * 2048
    with pytest.raises(ContentError, match="Image is 2064 bytes; the limit is 1024 bytes"):
        Image(data=big)
    with pytest.raises(ContentError, match="data: URL is over the 1024-byte limit"):
        Image(url=data_url(big))
    Image(data=PNG + b"\x00" * 1000)


def test_default_size_limit_refuses_a_real_oversized_data_url() -> None:
    payload = "A" * (content.MAX_IMAGE_BYTES * 4 // 3 + 8)
    with pytest.raises(ContentError, match=r"over the \d+-byte limit"):
        Image(url="data:image/png;base64," + payload)


def test_items_are_frozen() -> None:
    message = UserMessage("x")
    with pytest.raises(AttributeError):
        message.text = "y"  # type: ignore[misc]
