"""LlamaIndex objects -> guard-core items, and the markers that replace withheld content.

Pure functions, no I/O beyond reading an image or document file a node or block points at.
Image URLs are handed to the guard as URLs and never fetched here
(``ImageNode.resolve_image`` would fetch them, so it is never called); a document given
only by URL cannot be read, so it is not screenable (see ``_blocks``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.schema import BaseNode, ImageNode, MetadataMode, Node
from llama_index.core.tools import ToolMetadata, ToolOutput

from guard_core._unscreened import refuse
from guard_core.content import Image, Item, RetrievedChunk, ToolCall, ToolResult
from guard_core.errors import ContentError
from guard_core.verdict import Verdict

from ._blocks import image_item, read_blocks

__all__ = [
    "call_item",
    "image_item",
    "message_parts",
    "node_items",
    "output_items",
    "tool_kwargs",
    "withheld_text",
]


def node_items(node: BaseNode, query: str | None, allow: Collection[str] = ()) -> list[Item]:
    """What the LLM would read from ``node``: its text (with LLM-visible metadata) and image.

    An image node gives two items, its text as a chunk and its image (captioned with the
    text), so the text is screened even under a policy that does not screen images. A
    ``Node``'s audio or video resource cannot be judged: :class:`ContentError` unless
    ``audio`` / ``video`` is in ``allow``.
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
    elif isinstance(node, Node):
        for kind, resource in (("audio", node.audio_resource), ("video", node.video_resource)):
            if resource is not None:
                refuse(kind, where, allow, what=f"{kind} resource")
        res = node.image_resource
        if res is not None:
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


def output_items(name: str, output: ToolOutput, allow: Collection[str] = ()) -> list[Item]:
    """A tool's output as the model will read it: its text (text blocks, text documents,
    citations), then each image. A block the guard cannot read raises
    :class:`ContentError` unless its type is in ``allow``."""
    texts, images = read_blocks(output.blocks, f"tool {name!r} output", allow)
    text = "\n".join(texts)
    items: list[Item] = [ToolResult(name, text)] if text.strip() else []
    items += images
    if not output.blocks and output.raw_output not in (None, ""):
        items.append(ToolResult(name, str(output.raw_output)))  # no blocks: judge its str
    return items


def message_parts(message: ChatMessage, where: str, allow: Collection[str] = ()
                  ) -> tuple[str, list[Image]]:
    """A chat message's text (text blocks, text documents, citations) and its images."""
    texts, images = read_blocks(message.blocks, where, allow)
    return "\n".join(texts), images


def withheld_text(what: str, verdict: Verdict | ContentError) -> str:
    """The marker the model reads instead of withheld content (judged unsafe, or
    holding a block the guard cannot read)."""
    reason = verdict.reason if isinstance(verdict, Verdict) else str(verdict)
    return f"[guard-core: {what} withheld: {reason}]"
