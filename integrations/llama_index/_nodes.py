"""Retrieved nodes -> guard-core items, and the redacted copy that keeps no unsafe text.

What a later step can put in a prompt or hand the caller from a node: its LLM rendering
(``get_content(MetadataMode.LLM)``: text plus the metadata not excluded), its image, and
every string it carries elsewhere: metadata values under *any* key (an excluded key is
still one ``MetadataReplacementPostProcessor`` or a custom template may read), the
metadata its relationships copy from the source document, and any field this module does
not know (:data:`NODE_FIELDS` lists the ones it does). Image URLs are handed to the guard
as URLs and never fetched (``ImageNode.resolve_image`` would fetch them: never called).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from llama_index.core.schema import (
    BaseNode,
    ImageNode,
    MediaResource,
    MetadataMode,
    Node,
    RelatedNodeInfo,
)
from pydantic import BaseModel

from guard_core.adapters.boundary import Found, joined, strings_in
from guard_core.adapters.unscreened import refuse
from guard_core.content import Image, Item, RetrievedChunk
from guard_core.errors import ContentError
from guard_core.verdict import Verdict

from ._blocks import image_item
from ._convert import withheld_text

__all__ = ["NODE_FIELDS", "node_items", "redacted"]

NODE_FIELDS: dict[str, str] = {
    # in the LLM rendering
    "text": "rendered",
    "text_resource": "rendered",
    "text_template": "rendered",
    "metadata_template": "rendered",
    "metadata_separator": "rendered",
    # every string value walked
    "metadata": "walked",
    "relationships": "walked",
    # media: judged as an image, or refused
    "image": "media",
    "image_path": "media",
    "image_url": "media",
    "image_mimetype": "media",
    "image_resource": "media",
    "audio_resource": "media",
    "video_resource": "media",
    # ids, vectors, offsets, settings: not content
    "id_": "none",
    "embedding": "none",
    "text_embedding": "none",
    "mimetype": "none",
    "excluded_embed_metadata_keys": "none",
    "excluded_llm_metadata_keys": "none",
    "start_char_idx": "none",
    "end_char_idx": "none",
    "index_id": "none",
    "obj": "object",
}
"""How each node field this module knows is judged; any other field is walked as text."""


def _elsewhere(node: BaseNode) -> list[Found]:
    """The strings of ``node`` outside its rendering and media."""
    found = strings_in(node.metadata, where=f"{_where(node)} metadata")
    for rel, info in node.relationships.items():
        infos = info if isinstance(info, list) else [info]
        for j, one in enumerate(infos):
            found += strings_in(
                one.metadata, where=f"{_where(node)} relationships {rel.name}[{j}] metadata"
            )
    unknown = [n for n in type(node).model_fields if n not in NODE_FIELDS]
    unknown += [str(n) for n in (node.model_extra or {})]
    for name in unknown:
        found += strings_in(getattr(node, name, None), where=f"{_where(node)}.{name}")
    return found + _object_strings(node)


def _object_strings(node: BaseNode) -> list[Found]:
    """An ``IndexNode``'s ``obj``: a node or data it carries is content (the caller gets it
    back); a retriever or query engine is code, not text (the nodes *it* retrieves pass
    through that engine's own postprocessors)."""
    obj = getattr(node, "obj", None)
    where = f"{_where(node)}.obj"
    if obj is None:
        return []
    if isinstance(obj, BaseNode):
        inner = obj.get_content(metadata_mode=MetadataMode.ALL)
        return [*([Found(where, inner)] if inner.strip() else []), *_elsewhere(obj)]
    if isinstance(obj, str | Mapping | list | tuple | BaseModel):
        return strings_in(obj, where=where)
    return []


def _where(node: BaseNode) -> str:
    return f"{type(node).__name__} {node.node_id!r}"


def node_items(node: BaseNode, query: str | None, allow: Collection[str] = ()) -> list[Item]:
    """What a later step can read from ``node``: its LLM rendering, the strings it carries
    elsewhere that the rendering does not hold, and its image.

    An image node gives its text as a chunk and its image (captioned with the text) as
    two items, so the text is screened even under a policy that does not screen images.
    A ``Node``'s audio or video resource cannot be judged: :class:`ContentError` unless
    ``audio`` / ``video`` is in ``allow``; so is a value the walk cannot read (bytes, an
    object that is not JSON-like)."""
    text = node.get_content(metadata_mode=MetadataMode.LLM)
    source = node.node_id
    items: list[Item] = []
    if text.strip():
        items.append(RetrievedChunk(text, source=source, query=query))
    rest = [f for f in _elsewhere(node) if f.text not in text]
    if rest:
        items.append(RetrievedChunk(joined(rest), source=source, query=query))
    where = _where(node)
    image: Image | None = None
    if isinstance(node, ImageNode):
        image = image_item(
            data_b64=node.image,
            path=node.image_path,
            url=node.image_url,
            mime_type=node.image_mimetype,
            caption=text or None,
            where=where,
        )
    elif isinstance(node, Node):
        for kind, resource in (("audio", node.audio_resource), ("video", node.video_resource)):
            if resource is not None:
                refuse(kind, where, allow, what=f"{kind} resource")
        res = node.image_resource
        if res is not None:
            image = image_item(
                data_b64=res.data,
                path=res.path,
                url=res.url,
                mime_type=res.mimetype,
                caption=text or None,
                where=where,
            )
    if image is not None:
        items.append(image)
    return items


def redacted(node: BaseNode, verdict: Verdict, key: str, record: dict[str, Any]) -> BaseNode | None:
    """A copy of ``node`` holding the withheld marker and ``record`` under ``key``, and no
    other copy of its content: metadata, relationship metadata, image, media resources and
    embeddings go. None (drop it) when it has a field this module cannot clear."""
    unknown = [n for n in type(node).model_fields if n not in NODE_FIELDS]
    try:
        if any(strings_in(getattr(node, n, None)) for n in unknown) or node.model_extra:
            return None
    except ContentError:
        return None
    marker = withheld_text("retrieved content", verdict)
    copy = node.model_copy(
        update={
            "metadata": {key: record},
            "excluded_llm_metadata_keys": [key],
            "excluded_embed_metadata_keys": [key],
            "embedding": None,
            "relationships": {rel: _bare(info) for rel, info in node.relationships.items()},
        }
    )
    if isinstance(copy, ImageNode):
        copy.image = copy.image_path = copy.image_url = None
        copy.text_embedding = None
    if isinstance(copy, Node):
        copy.image_resource = copy.audio_resource = copy.video_resource = None
        copy.text_resource = MediaResource(text=marker)
    else:
        copy.set_content(marker)
    if getattr(copy, "obj", None) is not None:
        copy.obj = None  # type: ignore[attr-defined]  # IndexNode's payload: a copy too
    return copy


def _bare(info: RelatedNodeInfo | list[RelatedNodeInfo]) -> RelatedNodeInfo | list[RelatedNodeInfo]:
    """A relationship with its ids kept and its copied metadata gone."""
    if isinstance(info, list):
        return [one.model_copy(update={"metadata": {}}) for one in info]
    return info.model_copy(update={"metadata": {}})
