"""What can be screened: one small frozen value type per surface of an agent loop.

Every adapter turns its framework's objects into these; the core never sees framework types.

>>> ToolCall("delete_file", {"path": "/etc/passwd"}, context=UserMessage("tidy up")).surface
'tool_call'
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeAlias

from guard_core.errors import ContentError

__all__ = [
    "SURFACES",
    "AssistantMessage",
    "Image",
    "Item",
    "RetrievedChunk",
    "Surface",
    "ToolCall",
    "ToolResult",
    "UserMessage",
    "as_item",
]

Surface: TypeAlias = Literal["input", "output", "tool_call", "tool_result", "retrieval", "image"]
SURFACES: tuple[Surface, ...] = (
    "input",
    "output",
    "tool_call",
    "tool_result",
    "retrieval",
    "image",
)

MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_TOOL_ARGUMENT_DEPTH = 32
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def _require_text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise ContentError(f"{what} must be a str, got {type(value).__name__}")
    return value


def _sniff_mime(data: bytes) -> str | None:
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


@dataclass(frozen=True, slots=True)
class Image:
    """An image, as bytes (``data`` + ``mime_type``) or a ``url`` (``https://`` or ``data:``).

    A ``data:`` URL is decoded into bytes. Remote URLs are passed to backends that accept
    URLs and never fetched by guard-core itself; ``file://`` is refused.

    >>> Image(url="data:image/png;base64,iVBORw0KGgo=").mime_type
    'image/png'
    """

    data: bytes | None = None
    url: str | None = None
    mime_type: str | None = None
    caption: str | None = None
    surface: ClassVar[Surface] = "image"

    def __post_init__(self) -> None:
        if (self.data is None) == (self.url is None):
            raise ContentError("Image needs exactly one of data= (bytes) or url=")
        if self.caption is not None:
            _require_text(self.caption, "Image caption")
        if self.mime_type is not None:
            _require_text(self.mime_type, "Image mime_type")
        if self.url is not None:
            url = _require_text(self.url, "Image url")
            if url.startswith("data:"):
                mime, data = _decode_data_url(url)
                object.__setattr__(self, "url", None)
                object.__setattr__(self, "data", data)
                object.__setattr__(self, "mime_type", self.mime_type or mime)
            elif not url.startswith(("https://", "http://")):
                raise ContentError(
                    f"Image url scheme not allowed: {url[:40]!r}; pass https:// or a data: URL, "
                    "or load the file yourself with Image.from_path()"
                )
        if self.data is not None:
            if not isinstance(self.data, bytes | bytearray | memoryview):
                raise ContentError(f"Image data must be bytes, got {type(self.data).__name__}")
            data = bytes(self.data)
            object.__setattr__(self, "data", data)
            if not data:
                raise ContentError("Image data is empty")
            if len(data) > MAX_IMAGE_BYTES:
                raise ContentError(
                    f"Image is {len(data)} bytes; the limit is {MAX_IMAGE_BYTES} bytes. "
                    "Downscale it before screening."
                )
            mime = self.mime_type or _sniff_mime(data)
            if mime is None:
                raise ContentError("Unknown image format; pass mime_type= (e.g. 'image/png')")
            if not mime.startswith("image/"):
                raise ContentError(f"Image mime_type must be image/*, got {mime!r}")
            object.__setattr__(self, "mime_type", mime)

    @classmethod
    def from_path(cls, path: str | Path, *, caption: str | None = None) -> Image:
        """Read an image file from disk."""
        return cls(data=Path(path).read_bytes(), caption=caption)

    def to_url(self) -> str:
        """The image as a URL an OpenAI-compatible endpoint accepts (``data:`` for bytes)."""
        if self.data is None:
            assert self.url is not None
            return self.url
        return f"data:{self.mime_type};base64,{base64.b64encode(self.data).decode('ascii')}"

    def __repr__(self) -> str:
        where = f"url={self.url!r}" if self.url else f"data=<{len(self.data or b'')} bytes>"
        return f"Image({where}, mime_type={self.mime_type!r})"


def _decode_data_url(url: str) -> tuple[str | None, bytes]:
    header, sep, payload = url.partition(",")
    if not sep or ";base64" not in header:
        raise ContentError("Image data: URL must be base64 (data:image/png;base64,...)")
    if len(payload) > MAX_IMAGE_BYTES * 4 // 3 + 4:
        raise ContentError(f"Image data: URL is over the {MAX_IMAGE_BYTES}-byte limit")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ContentError(f"Image data: URL is not valid base64: {exc}") from None
    mime = header[5:].split(";", 1)[0] or None
    return mime, data


@dataclass(frozen=True, slots=True)
class UserMessage:
    """What the user said (the ``input`` surface), with any images attached."""

    text: str
    images: tuple[Image, ...] = ()
    surface: ClassVar[Surface] = "input"

    def __post_init__(self) -> None:
        _require_text(self.text, "UserMessage text")
        images = tuple(self.images)
        for image in images:
            if not isinstance(image, Image):
                raise ContentError(f"UserMessage images must be Image, got {type(image).__name__}")
        object.__setattr__(self, "images", images)


def _context(value: UserMessage | str | None) -> UserMessage | None:
    if value is None or isinstance(value, UserMessage):
        return value
    if isinstance(value, str):
        return UserMessage(value)
    raise ContentError(f"context must be a UserMessage or str, got {type(value).__name__}")


@dataclass(frozen=True, slots=True, init=False)
class AssistantMessage:
    """What the model answered (the ``output`` surface); ``context`` is the user request
    (a ``str`` is taken as a :class:`UserMessage`)."""

    text: str
    context: UserMessage | None
    surface: ClassVar[Surface] = "output"

    def __init__(self, text: str, context: UserMessage | str | None = None) -> None:
        object.__setattr__(self, "text", _require_text(text, "AssistantMessage text"))
        object.__setattr__(self, "context", _context(context))


@dataclass(frozen=True, slots=True, init=False)
class ToolCall:
    """A tool call the model wants to make, screened before it runs (``tool_call``).

    ``arguments`` may be a dict or the JSON string an OpenAI-style API returns.
    """

    name: str
    arguments: Mapping[str, Any]
    id: str | None
    context: UserMessage | None
    surface: ClassVar[Surface] = "tool_call"

    def __init__(
        self,
        name: str,
        arguments: Mapping[str, Any] | str | None = None,
        id: str | None = None,
        context: UserMessage | str | None = None,
    ) -> None:
        object.__setattr__(self, "name", _require_text(name, "ToolCall name"))
        object.__setattr__(self, "id", id)
        if arguments is None:
            arguments = {}
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except json.JSONDecodeError as exc:
                raise ContentError(
                    f"ToolCall {self.name!r} arguments are not valid JSON ({exc}); "
                    "pass a dict or a JSON object string"
                ) from None
            except RecursionError:
                raise ContentError(
                    f"ToolCall {self.name!r} arguments nest deeper than "
                    f"{MAX_TOOL_ARGUMENT_DEPTH} levels"
                ) from None
        if not isinstance(arguments, Mapping):
            raise ContentError(
                f"ToolCall {self.name!r} arguments must be a JSON object, "
                f"got {type(arguments).__name__}"
            )
        _check_depth(arguments, self.name)
        object.__setattr__(self, "arguments", dict(arguments))
        object.__setattr__(self, "context", _context(context))

    @property
    def arguments_json(self) -> str:
        """The arguments as compact JSON, as the guard model sees them."""
        try:
            return json.dumps(self.arguments, ensure_ascii=False, default=str)
        except (TypeError, ValueError) as exc:
            raise ContentError(f"ToolCall {self.name!r} arguments: {exc}") from None


def _check_depth(value: object, name: str) -> None:
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, Mapping):
            children: Iterable[object] = node.values()
        elif isinstance(node, list | tuple):
            children = node
        else:
            continue  # a scalar is not a level of nesting
        if depth > MAX_TOOL_ARGUMENT_DEPTH:
            raise ContentError(
                f"ToolCall {name!r} arguments nest deeper than {MAX_TOOL_ARGUMENT_DEPTH} levels"
            )
        stack.extend((child, depth + 1) for child in children)


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What a tool returned, screened before the model reads it (``tool_result``)."""

    name: str
    content: str
    call_id: str | None = None
    surface: ClassVar[Surface] = "tool_result"

    def __post_init__(self) -> None:
        _require_text(self.name, "ToolResult name")
        _require_text(self.content, "ToolResult content")


@dataclass(frozen=True, slots=True)
class RetrievedChunk:
    """A retrieved document chunk, screened before it enters the prompt (``retrieval``)."""

    text: str
    source: str | None = None
    metadata: Mapping[str, Any] | None = None
    query: str | None = None
    surface: ClassVar[Surface] = "retrieval"

    def __post_init__(self) -> None:
        _require_text(self.text, "RetrievedChunk text")


Item: TypeAlias = UserMessage | AssistantMessage | ToolCall | ToolResult | RetrievedChunk | Image
_ITEM_TYPES = (UserMessage, AssistantMessage, ToolCall, ToolResult, RetrievedChunk, Image)


def as_item(value: Item | str) -> Item:
    """A plain ``str`` is user input; anything else must already be an item."""
    if isinstance(value, str):
        return UserMessage(value)
    if isinstance(value, _ITEM_TYPES):
        return value
    raise ContentError(
        f"cannot screen a {type(value).__name__}; pass a str or one of UserMessage, "
        "AssistantMessage, ToolCall, ToolResult, RetrievedChunk, Image"
    )
