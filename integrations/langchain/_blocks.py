"""A LangChain message's content blocks -> what the guard reads: text and images.

Every standard block type of ``message.content_blocks`` has a rule, and every string a
block carries is screened (the caller drops those the guard already sees another way):

- ``text``: the message's own text (``message.text``); where LangChain reads text blocks
  that ``message.text`` leaves out (Bedrock Converse / Gemini ``{"text": ...}`` blocks),
  their text too; a text block's other strings (annotations, citations) as text.
- ``reasoning``, ``refusal``, ``invalid_tool_call``, ``tool_call`` / ``tool_call_chunk``
  (their arguments are screened as calls too), ``server_tool_call`` /
  ``server_tool_call_chunk`` / ``server_tool_result``: every string as text.
- ``text-plain`` (an attached ``.txt`` / ``.md`` document): its title, context and text
  (inline or base64) are screened as text of the same message.
- ``file`` with a text MIME type and base64 data: its decoded text, likewise.
- ``image``: an :class:`~guard_core.content.Image` (URL or base64).
- ``non_standard`` blocks that carry text: OpenAI Responses ``input_text`` /
  ``output_text`` and those a LangChain tool may return (``json``, ``search_result``,
  ``custom_tool_call_output``): their text (JSON for ``json``). Anthropic's encrypted
  ``redacted_thinking`` is read by nobody and passes.
- everything else (``audio``, ``video``, a binary or remote ``file``, a ``text-plain``
  given only by URL / file id, an image given only by a provider file id, any other
  ``non_standard`` block and any unknown type): the guard cannot read it, so it fails closed
  with a :class:`~guard_core.errors.ContentError` unless its type is in ``allow``.

The only strings left out are opaque signatures and, while they are one short token, ids,
type tags and MIME types (``NOT_CONTENT``; see ``_schema_keys``).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import BaseMessage

from guard_core.adapters.boundary import Found
from guard_core.adapters.unscreened import decode_text, is_text_mime, refuse
from guard_core.content import Image
from guard_core.errors import ContentError

from ._schema_keys import LABELS, OPAQUE, walk

__all__ = [
    "HANDLED_TYPES",
    "NOT_CONTENT",
    "UNSCREENABLE_TYPES",
    "Blocks",
    "carries_blocks",
    "read_blocks",
]

UNSCREENABLE_TYPES = frozenset({"audio", "video", "file", "text-plain", "image", "non_standard"})
"""The block types ``allow_unscreened`` may name (each only when the guard cannot read it)."""

NOT_CONTENT = OPAQUE | LABELS
"""Keys whose value may be left out: opaque always, labels while they are one token."""

_TEXT_KINDS = frozenset(
    {
        "text",
        "reasoning",
        "refusal",
        "tool_call",
        "tool_call_chunk",
        "invalid_tool_call",
        "server_tool_call",
        "server_tool_call_chunk",
        "server_tool_result",
    }
)
HANDLED_TYPES = _TEXT_KINDS | UNSCREENABLE_TYPES
"""Every block type with a rule here (a new LangChain type must be added, or is refused)."""
_TOOL_KINDS = frozenset({"tool_call", "tool_call_chunk"})

_OPAQUE_REASONING = frozenset({"redacted_thinking"})  # Anthropic's, kept non_standard


def _b64(block: Mapping[str, Any], what: str) -> bytes:
    try:
        return base64.b64decode(str(block["base64"]), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ContentError(f"{what} content block is not valid base64: {exc}") from None


def _image(block: Mapping[str, Any], where: str, allow: Collection[str]) -> Image | None:
    mime = block.get("mime_type")
    if block.get("url"):
        return Image(url=str(block["url"]), mime_type=mime)
    if block.get("base64"):
        return Image(data=_b64(block, "image"), mime_type=mime)
    # A provider file id cannot be read here; failing closed beats passing it unscreened.
    refuse("image", where, allow, what="image given only by a provider file id")
    return None


def _document_text(block: Mapping[str, Any]) -> str | None:
    """The text of a ``text-plain`` or text ``file`` block; None when it cannot be read."""
    kind = block["type"]
    text: str | None = None
    if kind == "text-plain" and isinstance(block.get("text"), str):
        text = block["text"]
    elif block.get("base64") and (kind == "text-plain" or is_text_mime(block.get("mime_type"))):
        text = decode_text(_b64(block, kind))
    if text is None:
        return None
    extra = [block.get(k) for k in ("title", "context") if kind == "text-plain"]
    return "\n".join(str(p) for p in (*extra, text) if p)


def _provider_text(value: Mapping[str, Any], where: str, allow: Collection[str]) -> str | None:
    """The text of the provider blocks LangChain keeps as ``non_standard`` that carry text:
    OpenAI Responses ``input_text`` / ``output_text`` and the blocks a tool may return
    (``json``, ``search_result``, ``custom_tool_call_output``); None for any other block.
    A search result's parts other than text are refused (unless ``allow`` names
    ``non_standard``); its text is screened either way."""
    kind = value.get("type")
    if kind in ("input_text", "output_text") and isinstance(value.get("text"), str):
        return str(value["text"])
    if kind == "json":
        return json.dumps(value.get("json"), ensure_ascii=False, default=str)
    if kind == "custom_tool_call_output":
        output = value.get("output")
        return output if isinstance(output, str) else json.dumps(output, default=str)
    if kind == "search_result":
        parts = [value.get("title"), value.get("source")]
        for part in value.get("content") or ():
            if isinstance(part, Mapping) and part.get("type") == "text":
                parts.append(part.get("text"))
            else:
                named = part.get("type") if isinstance(part, Mapping) else type(part).__name__
                refuse(
                    "non_standard",
                    where,
                    allow,
                    what=f"{named!r} part of a 'search_result' content block",
                )
        return "\n".join(str(p) for p in parts if p)
    return None


def _missed_text(message: BaseMessage, blocks: Sequence[Mapping[str, Any]]) -> str | None:
    """The text of ``blocks``' text blocks when ``message.text`` says something else:
    ``message.text`` reads only raw ``{"type": "text"}`` blocks, while LangChain (and the
    providers) also read e.g. Bedrock Converse / Gemini ``{"text": ...}`` blocks as text."""
    text = "".join(str(b.get("text") or "") for b in blocks if b.get("type") == "text")
    return text if text != message.text else None


@dataclass
class Blocks:
    """What a message's content blocks carry: extra text (documents, provider text), images,
    the other strings found in them (screened as text unless already covered), and the
    strings the guard sees by other means (image and document data)."""

    texts: list[str] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)
    found: list[Found] = field(default_factory=list)
    covered: set[str] = field(default_factory=set)


def read_blocks(message: BaseMessage, allow: Collection[str] = ()) -> Blocks:
    """The text beyond ``message.text``, the images and every other string in ``message``'s
    content blocks (a block type without a rule is never skipped: see the module docstring).

    Raises :class:`ContentError` for a block the guard cannot read whose type is not in
    ``allow`` (a type in ``allow`` is passed over unjudged).
    """
    out = Blocks()
    if isinstance(message.content, str):
        return out
    where = type(message).__name__
    blocks = message.content_blocks
    missed = _missed_text(message, blocks)
    if missed:
        out.texts.append(missed)
    for index, block in enumerate(blocks):
        kind = str(block.get("type"))
        if _read_one(block, kind, where, allow, out):
            out.found += walk(block, where=f"{where}.content[{index}]")
    return out


def _read_one(
    block: Mapping[str, Any], kind: str, where: str, allow: Collection[str], out: Blocks
) -> bool:
    """Take one block into ``out``; False when its strings are not to be screened (a
    type let through unscreened, encrypted reasoning)."""
    if kind in _TEXT_KINDS:
        return True  # its strings are screened as text (the message text covers "text")
    if kind == "image":
        image = _image(block, where, allow)
        if image is None:
            return False
        out.images.append(image)
        out.covered.update(str(block.get(k)) for k in ("url", "base64") if block.get(k))
        return True
    if kind in ("text-plain", "file"):
        text = _document_text(block)
        if text is None:
            mime = block.get("mime_type")
            refuse(
                kind, where, allow, what=f"{kind!r} content block" + (f" ({mime})" if mime else "")
            )
            return False
        out.texts.append(text)
        out.covered.update(str(block[k]) for k in ("base64",) if block.get(k))
        return True
    if kind == "non_standard":
        inner = block.get("value")
        if isinstance(inner, Mapping) and inner.get("type") in _OPAQUE_REASONING:
            return False  # encrypted reasoning: nobody can read it
        text = _provider_text(inner, where, allow) if isinstance(inner, Mapping) else None
        if text is None:
            named = inner.get("type") if isinstance(inner, Mapping) else None
            refuse(kind, where, allow, what=f"'non_standard' content block ({named!r})")
            return False
        out.texts.append(text)
        return True
    if kind in UNSCREENABLE_TYPES:
        refuse(kind, where, allow)
    else:  # a type newer than this adapter: judged like a provider-specific block
        refuse("non_standard", where, allow, what=f"{kind!r} content block")
    return False


def carries_blocks(message: BaseMessage) -> bool:
    """Whether ``message`` has content beyond its ``text`` and tool-call fragments."""
    if isinstance(message.content, str):
        return False
    blocks = message.content_blocks
    return _missed_text(message, blocks) is not None or any(
        str(b.get("type")) not in ("text", *_TOOL_KINDS) for b in blocks
    )
