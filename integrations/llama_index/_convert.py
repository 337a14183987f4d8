"""LlamaIndex objects -> guard-core items, and the markers that replace withheld content.

Pure functions, no I/O beyond reading an image file a node points at. Image URLs are handed
to the guard as URLs and never fetched here (``ImageNode.resolve_image`` would fetch them,
so it is never called).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from llama_index.core.base.llms.types import ImageBlock, TextBlock
from llama_index.core.schema import BaseNode, ImageNode, MetadataMode, Node
from llama_index.core.tools import ToolMetadata, ToolOutput

from guard_core.content import Image, Item, RetrievedChunk, ToolCall, ToolResult
from guard_core.errors import ContentError
from guard_core.verdict import Verdict

__all__ = [
    "call_item",
    "node_items",
    "output_items",
    "tool_kwargs",
    "withheld_text",
]


def image_item(*, data_b64: bytes | str | None = None, path: str | Path | None = None,
               url: object = None, mime_type: str | None = None, caption: str | None = None,
               where: str) -> Image | None:
    """One :class:`Image` from whichever of base64 data, file path or URL is set."""
    try:
        if data_b64:
            try:
                data = base64.b64decode(data_b64, validate=True)
            except (binascii.Error, ValueError):
                raise ContentError(f"{where}: image is not valid base64") from None
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


def node_items(node: BaseNode, query: str | None) -> list[Item]:
    """What the LLM would read from ``node``: its text (with LLM-visible metadata) and image.

    An image node gives two items, its text as a chunk and its image (captioned with the
    text), so the text is screened even under a policy that does not screen images.
    """
    text = node.get_content(metadata_mode=MetadataMode.LLM)
    source = node.node_id
    items: list[Item] = []
    if text.strip():
        items.append(RetrievedChunk(text, source=source, metadata=dict(node.metadata),
                                    query=query))
    where = f"{type(node).__name__} {source!r}"
    image: Image | None = None
    if isinstance(node, ImageNode):
        image = image_item(data_b64=node.image, path=node.image_path, url=node.image_url,
                           mime_type=node.image_mimetype, caption=text or None, where=where)
    elif isinstance(node, Node) and node.image_resource is not None:
        res = node.image_resource
        image = image_item(data_b64=res.data, path=res.path, url=res.url,
                           mime_type=res.mimetype, caption=text or None, where=where)
    if image is not None:
        items.append(image)
    return items


def tool_kwargs(metadata: ToolMetadata, args: tuple[Any, ...], kwargs: Mapping[str, Any],
                skip: str | None = None) -> dict[str, Any]:
    """The call's arguments as one dict; a lone positional goes under the schema's one field."""
    out = {k: v for k, v in kwargs.items() if k != skip}
    if args:
        props = list(metadata.get_parameters_dict().get("properties", {}))
        if len(args) == 1 and len(props) == 1 and props[0] not in out:
            out[props[0]] = args[0]
        else:
            out["args"] = list(args)
    return out


def call_item(name: str, arguments: Mapping[str, Any]) -> ToolCall:
    """A :class:`ToolCall`; values that are not JSON are screened as their ``str``."""
    return ToolCall(name, {k: _jsonable(v) for k, v in arguments.items()})


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return str(value)


def output_items(name: str, output: ToolOutput) -> list[Item]:
    """A tool's output as the model will read it: its text, then each image block."""
    text = "\n".join(b.text for b in output.blocks if isinstance(b, TextBlock))
    items: list[Item] = [ToolResult(name, text)] if text.strip() else []
    for i, block in enumerate(output.blocks):
        if isinstance(block, ImageBlock):
            data = block.image if isinstance(block.image, bytes) else None
            image = image_item(data_b64=data, path=block.path, url=block.url,
                               mime_type=block.image_mimetype,
                               where=f"tool {name!r} output image {i}")
            if image is not None:
                items.append(image)
    if not items and output.raw_output not in (None, ""):
        # blocks of a kind we cannot read (audio, documents): judge their text form
        items.append(ToolResult(name, str(output.raw_output)))
    return items


def withheld_text(what: str, verdict: Verdict) -> str:
    """The marker the model reads instead of withheld content."""
    return f"[guard-core: {what} withheld: {verdict.reason}]"
