"""LlamaIndex content blocks -> what the guard reads: text, images and tool calls.

Every member of LlamaIndex's ``ContentBlock`` union has a rule in :data:`BLOCK_FIELDS`
(the fields the rule reads itself); every *other* field of a block, declared or extra, is
walked with :func:`guard_core.adapters.boundary.strings_in` and its strings are screened as text,
so a field a LlamaIndex release adds is judged, not passed. A block type with no rule is
refused with a :class:`~guard_core.errors.ContentError` naming it (default deny).

- ``TextBlock``: its text. ``ThinkingBlock``: its content (it reaches memory, the event
  stream and, for some providers, the next request).
- ``ImageBlock``: an :class:`~guard_core.content.Image` (base64, bytes stream, file path or
  URL; URLs are never fetched here).
- ``DocumentBlock`` holding text (a ``text/*`` or JSON / XML MIME type, or no MIME type
  and valid UTF-8; inline data or a local file): its title and text, screened as text.
- ``CitableBlock`` / ``CitationBlock``: their title and source, and their content blocks
  by these same rules.
- ``ToolCallBlock``: a tool call (its name and arguments), judged as a ``tool_call``.
- ``CachePoint``: a cache marker, no content.
- ``AudioBlock``, ``VideoBlock``, a ``DocumentBlock`` that is not text (a PDF, a remote
  URL): the guard cannot read it, so it fails closed with a ``ContentError`` unless its
  type is in ``allow``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llama_index.core.base.llms.types import (
    AudioBlock,
    CachePoint,
    CitableBlock,
    CitationBlock,
    DocumentBlock,
    ImageBlock,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
    VideoBlock,
)

from guard_core.adapters.boundary import strings_in
from guard_core.adapters.unscreened import decode_text, is_text_mime, raw_bytes, refuse, sniff_mime
from guard_core.content import Image
from guard_core.errors import ContentError

__all__ = ["BLOCK_FIELDS", "UNSCREENABLE_TYPES", "Parts", "image_item", "read_blocks"]

UNSCREENABLE_TYPES = frozenset({"audio", "video", "document"})
"""The block types ``allow_unscreened`` may name (``document``: only one that is not text)."""

BLOCK_FIELDS: dict[type, frozenset[str]] = {
    TextBlock: frozenset({"text"}),
    ThinkingBlock: frozenset({"content", "num_tokens"}),
    ImageBlock: frozenset({"image", "path", "url", "image_mimetype", "detail"}),
    AudioBlock: frozenset({"audio", "path", "url", "format"}),
    VideoBlock: frozenset({"video", "path", "url", "video_mimetype", "detail", "fps"}),
    DocumentBlock: frozenset({"data", "path", "url", "title", "document_mimetype"}),
    CitableBlock: frozenset({"title", "source", "content"}),
    CitationBlock: frozenset({"title", "source", "cited_content"}),
    ToolCallBlock: frozenset({"tool_call_id", "tool_name", "tool_kwargs"}),
    CachePoint: frozenset({"cache_control"}),
}
"""Per block type, the fields its rule reads; all others are walked and screened as text."""

_DEFAULT_TITLE = "input_document"  # what DocumentBlock sets when no title is given


@dataclass
class Parts:
    """What a list of blocks holds for the guard, in order."""

    texts: list[str] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)
    calls: list[tuple[int, ToolCallBlock]] = field(default_factory=list)  # (block index, call)

    @property
    def text(self) -> str:
        return "\n".join(self.texts)


def image_item(
    *,
    data_b64: bytes | str | None = None,
    data: bytes | None = None,
    path: str | Path | None = None,
    url: object = None,
    mime_type: str | None = None,
    caption: str | None = None,
    where: str,
) -> Image | None:
    """One :class:`Image` from whichever of base64 data, bytes, file path or URL is set."""
    try:
        if data_b64:
            try:
                data = base64.b64decode(data_b64, validate=True)
            except (binascii.Error, ValueError):
                raise ContentError(f"{where}: image is not valid base64") from None
        if data:
            return Image(data=data, mime_type=mime_type, caption=caption)
        if path:
            try:
                raw = Path(path).read_bytes()
            except OSError as exc:
                raise ContentError(
                    f"{where}: cannot read image file {str(path)!r}: {exc.strerror or exc}"
                ) from None
            return Image(data=raw, mime_type=mime_type, caption=caption)
        if url:
            return Image(url=str(url), caption=caption)
    except ContentError as exc:
        if str(exc).startswith(where):
            raise
        raise ContentError(f"{where}: {exc}") from None
    return None


def _document_text(block: DocumentBlock, where: str) -> str | None:
    """A document's text, or None when it is not text the guard can read."""
    if block.data is not None:
        data = raw_bytes(block.data)
    elif block.path:
        try:
            data = Path(block.path).read_bytes()
        except OSError as exc:
            raise ContentError(
                f"{where}: cannot read document file {str(block.path)!r}: {exc.strerror or exc}"
            ) from None
    else:
        return None  # a URL: never fetched here, so never read
    mime = block.document_mimetype or sniff_mime(str(block.path or block.title or ""))
    if data is None or (mime is not None and not is_text_mime(mime)):
        return None
    text = decode_text(data)
    if text is None:
        return None
    title = block.title if block.title and block.title != _DEFAULT_TITLE else None
    return f"{title}\n{text}" if title else text


def _read(block: Any, index: int, where: str, allow: Collection[str], out: Parts) -> None:
    rule = BLOCK_FIELDS.get(type(block))
    if rule is None:
        kind = getattr(block, "block_type", type(block).__name__)
        refuse(str(kind), where, allow, what=f"{kind!r} block", allowable=False)
        return
    if isinstance(block, TextBlock):
        out.texts.append(block.text)
    elif isinstance(block, ThinkingBlock):
        out.texts.append(block.content or "")
    elif isinstance(block, ImageBlock):
        image = block.image
        data = raw_bytes(image) if image is not None else None
        if image is not None and data is None:
            raise ContentError(
                f"{where}: the image stream cannot be read without consuming "
                "it; pass bytes, a path or a URL"
            )
        item = image_item(
            data=data, path=block.path, url=block.url, mime_type=block.image_mimetype, where=where
        )
        if item is not None:
            out.images.append(item)
    elif isinstance(block, DocumentBlock):
        text = _document_text(block, where)
        if text is None:
            mime = block.document_mimetype
            refuse(
                "document",
                where,
                allow,
                what="document" + (f" ({mime})" if mime else "") + " that is not text",
            )
        else:
            out.texts.append(text)
    elif isinstance(block, CitableBlock | CitationBlock):
        out.texts.append("\n".join(p for p in (block.title, block.source) if p))
        inner = block.content if isinstance(block, CitableBlock) else [block.cited_content]
        for part in inner:
            _read(part, index, where, allow, out)
    elif isinstance(block, ToolCallBlock):
        out.calls.append((index, block))
    elif isinstance(block, AudioBlock | VideoBlock):
        refuse(block.block_type, where, allow, what=f"{block.block_type} block")
    _rest(block, rule, where, out)


def _rest(block: Any, rule: frozenset[str], where: str, out: Parts) -> None:
    """The fields no rule reads (new ones included), screened as text."""
    names = [n for n in type(block).model_fields if n != "block_type" and n not in rule]
    names += [str(n) for n in (block.model_extra or {})]
    for name in names:
        found = strings_in(getattr(block, name, None), where=f"{where}.{name}")
        out.texts.extend(f.text for f in found)


def read_blocks(blocks: Sequence[Any], where: str, allow: Collection[str] = ()) -> Parts:
    """The texts, images and tool calls of ``blocks``, in order.

    Raises :class:`ContentError` for a block the guard cannot read whose type is not in
    ``allow`` (a type in ``allow`` is passed over unjudged), and for a block type with no
    rule.
    """
    out = Parts()
    for i, block in enumerate(blocks):
        _read(block, i, f"{where} block {i}", allow, out)
    return out
