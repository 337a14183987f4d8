"""LlamaIndex content blocks -> what the guard reads: text and images.

Every block type of a ``ChatMessage`` / ``ToolOutput`` has a rule; none is dropped:

- ``TextBlock``: its text.
- ``ImageBlock``: an :class:`~guard_core.content.Image` (base64, bytes stream, file path or
  URL; URLs are never fetched here).
- ``DocumentBlock`` holding text (a ``text/*`` or JSON / XML MIME type, or no MIME type
  and valid UTF-8; inline data or a local file): its title and text, screened as text.
- ``CitableBlock`` / ``CitationBlock``: their title and source, and their content blocks
  by these same rules.
- ``ThinkingBlock``, ``ToolCallBlock``, ``CachePoint``: not content of the turn (tool calls
  are screened one by one where they are dispatched).
- ``AudioBlock``, ``VideoBlock``, a ``DocumentBlock`` that is not text (a PDF, a remote
  URL) and any unknown block: the guard cannot read it, so it fails closed with a
  :class:`~guard_core.errors.ContentError` unless its type is in ``allow``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Collection, Sequence
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

from guard_core._unscreened import decode_text, is_text_mime, raw_bytes, refuse, sniff_mime
from guard_core.content import Image
from guard_core.errors import ContentError

__all__ = ["UNSCREENABLE_TYPES", "image_item", "read_blocks"]

UNSCREENABLE_TYPES = frozenset({"audio", "video", "document"})
"""The block types ``allow_unscreened`` may name (``document``: only one that is not text)."""

_DEFAULT_TITLE = "input_document"  # what DocumentBlock sets when no title is given


def image_item(*, data_b64: bytes | str | None = None, data: bytes | None = None,
               path: str | Path | None = None, url: object = None, mime_type: str | None = None,
               caption: str | None = None, where: str) -> Image | None:
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
                raise ContentError(f"{where}: cannot read image file {str(path)!r}: "
                                   f"{exc.strerror or exc}") from None
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
            raise ContentError(f"{where}: cannot read document file {str(block.path)!r}: "
                               f"{exc.strerror or exc}") from None
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


def _read(block: Any, where: str, allow: Collection[str], texts: list[str],
          images: list[Image]) -> None:
    if isinstance(block, TextBlock):
        texts.append(block.text)
    elif isinstance(block, ImageBlock):
        image = block.image
        data = raw_bytes(image) if image is not None else None
        if image is not None and data is None:
            raise ContentError(f"{where}: the image stream cannot be read without consuming "
                               "it; pass bytes, a path or a URL")
        item = image_item(data=data, path=block.path, url=block.url,
                          mime_type=block.image_mimetype, where=where)
        if item is not None:
            images.append(item)
    elif isinstance(block, DocumentBlock):
        text = _document_text(block, where)
        if text is not None:
            texts.append(text)
        else:
            mime = block.document_mimetype
            refuse("document", where, allow,
                   what="document" + (f" ({mime})" if mime else "") + " that is not text")
    elif isinstance(block, CitableBlock | CitationBlock):
        texts.append("\n".join(p for p in (block.title, block.source) if p))
        inner = block.content if isinstance(block, CitableBlock) else [block.cited_content]
        for part in inner:
            _read(part, where, allow, texts, images)
    elif isinstance(block, AudioBlock):
        refuse("audio", where, allow, what="audio block")
    elif isinstance(block, VideoBlock):
        refuse("video", where, allow, what="video block")
    elif not isinstance(block, ThinkingBlock | ToolCallBlock | CachePoint):
        kind = getattr(block, "block_type", type(block).__name__)
        refuse(str(kind), where, allow, what=f"{kind!r} block", allowable=False)


def read_blocks(blocks: Sequence[Any], where: str, allow: Collection[str] = ()
                ) -> tuple[list[str], list[Image]]:
    """The texts and images of ``blocks``, in order.

    Raises :class:`ContentError` for a block the guard cannot read whose type is not in
    ``allow`` (a type in ``allow`` is passed over unjudged).
    """
    texts: list[str] = []
    images: list[Image] = []
    for i, block in enumerate(blocks):
        _read(block, f"{where} block {i}", allow, texts, images)
    return texts, images
