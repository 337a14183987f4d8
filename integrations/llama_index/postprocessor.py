"""``GuardNodePostprocessor``: screen retrieved nodes before they reach the prompt.

>>> from guard_core import Guard
>>> from guard_core.testing import ScriptedBackend
>>> from llama_index.core.schema import NodeWithScore, TextNode
>>> pp = GuardNodePostprocessor(Guard(ScriptedBackend()), action="drop")
>>> nodes = [NodeWithScore(node=TextNode(text=t)) for t in ("tea recipes", "bomb recipes")]
>>> [n.node.get_content() for n in pp.postprocess_nodes(nodes, query_str="recipes")]
['tea recipes']
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any, Literal, get_args

from llama_index.core.bridge.pydantic import Field
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import BaseNode, NodeWithScore, QueryBundle

from guard_core.adapters.decisions import decision, stronger
from guard_core.adapters.options import one_of, require_guard
from guard_core.adapters.unscreened import allowed_types
from guard_core.content import Item
from guard_core.errors import ContentError
from guard_core.guard import Guard
from guard_core.policy import Policy
from guard_core.verdict import Verdict

from ._nodes import node_items, redacted

__all__ = ["GuardNodePostprocessor", "NodeAction"]

NodeAction = Literal["drop", "redact", "flag"]
_ACTIONS: tuple[NodeAction, ...] = get_args(NodeAction)
_MEDIA = frozenset({"audio", "video"})  # what a node holds that the guard cannot judge


class GuardNodePostprocessor(BaseNodePostprocessor):
    """Screens every retrieved node at once and drops, redacts or flags the unsafe ones.

    All nodes go to the guard in one ``check_many`` / ``acheck_many`` call (one batch on a
    local backend, concurrent requests on a remote one), with the query as context. A node
    is judged on everything a later step can read from it: its LLM rendering (text with the
    metadata not in ``excluded_llm_metadata_keys``), every other string it carries (metadata
    values under excluded keys too, since ``MetadataReplacementPostProcessor`` or a custom
    template may put them in the prompt; the metadata its relationships copy; a field this
    adapter does not know), and for an ``ImageNode`` (or a ``Node`` with an image) the
    image itself (base64, file path or URL). URLs are never fetched here: a remote guard
    model gets the URL, a ``LocalBackend`` refuses it unless built with
    ``fetch_images=True`` (the node then fails closed). With a text-only guard model, take
    ``image`` out of the policy's surfaces to judge image nodes on their text alone. A
    metadata value the guard cannot read (bytes, an object that is not JSON-like) raises
    :class:`~guard_core.errors.ContentError` naming it.

    What happens to an unsafe node: the policy's explicit action for the surface
    (``actions: {retrieval: ..., image: ...}``; ``block`` means ``drop``) wins; otherwise
    ``action`` decides:

    - ``drop``: the node is removed.
    - ``redact``: a copy holding only a marker saying why takes its place (same id and
      score): its text, metadata, relationship metadata, image, media and embeddings are
      gone; ``metadata[metadata_key]`` holds the verdict. A node with a field this adapter
      cannot clear is dropped instead.
    - ``flag``: it is kept as it is, with the verdict (``Verdict.to_dict()``, ``decision``
      set to what was done to the node) under ``metadata[metadata_key]``, excluded from the
      LLM and embedding text. A node the guard could not judge (backend error) is dropped
      even here: fail closed.

    A ``Node`` with an audio or video resource cannot be judged by the guard models: it
    raises :class:`~guard_core.errors.ContentError` (as an unreadable image does) unless
    ``allow_unscreened`` names that kind (``{"audio"}``, ``{"video"}``); the node's text
    and image are screened either way.

    Where it sits: last in ``node_postprocessors``. It judges the nodes it is given;
    a postprocessor after it that adds nodes or text from elsewhere
    (``PrevNextNodePostprocessor``, ``AutoPrevNextNodePostprocessor``, a custom one)
    brings in content it never judged. Postprocessors that only move a node's own strings
    (``MetadataReplacementPostProcessor``) may sit after it.

    Redacted and flagged nodes are copies; the index's own nodes are never modified.

    Example::

        engine = index.as_query_engine(node_postprocessors=[GuardNodePostprocessor(guard)])
    """

    guard: Any = Field(exclude=True, description="The guard_core.Guard that judges nodes.")
    action: NodeAction = Field(default="drop", description="drop, redact or flag")
    agent: str | None = Field(default=None, description="Agent whose policy judges nodes.")
    metadata_key: str = Field(default="guard_verdict")
    allow_unscreened: tuple[str, ...] = Field(
        default=(),
        description="Node media the guard cannot judge that may pass unjudged: audio, video.",
    )
    on_verdict: Callable[[NodeWithScore, Verdict], None] | None = Field(
        default=None,
        exclude=True,
        description="Called with each node and verdict (an image node: text, then image).",
    )

    def __init__(
        self,
        guard: Guard,
        action: NodeAction = "drop",
        agent: str | None = None,
        *,
        allow_unscreened: Collection[str] = (),
        **kwargs: Any,
    ) -> None:
        guard = require_guard("GuardNodePostprocessor", guard)
        action = one_of("GuardNodePostprocessor", "action", action, _ACTIONS)
        allow = tuple(sorted(allowed_types(allow_unscreened, _MEDIA, "GuardNodePostprocessor")))
        fields: dict[str, Any] = {
            "guard": guard,
            "action": action,
            "agent": agent,
            "allow_unscreened": allow,
            **kwargs,
        }
        super().__init__(**fields)

    @classmethod
    def class_name(cls) -> str:
        return "GuardNodePostprocessor"

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        items, owners = self._items(nodes, query_bundle)
        verdicts = self.guard.check_many(items, agent=self.agent) if items else []
        return self._apply(nodes, owners, verdicts)

    async def _apostprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        items, owners = self._items(nodes, query_bundle)
        verdicts = await self.guard.acheck_many(items, agent=self.agent) if items else []
        return self._apply(nodes, owners, verdicts)

    # -- pure steps shared by both paths ------------------------------------------------------

    def _items(
        self, nodes: Sequence[NodeWithScore], query_bundle: QueryBundle | None
    ) -> tuple[list[Item], list[int]]:
        query = query_bundle.query_str if query_bundle is not None else None
        if not isinstance(nodes, Sequence) or isinstance(nodes, str):
            raise ContentError(
                f"GuardNodePostprocessor takes a list of NodeWithScore, got {type(nodes).__name__}"
            )
        for index, scored in enumerate(nodes):
            if not isinstance(scored, NodeWithScore):
                raise ContentError(
                    f"GuardNodePostprocessor: element {index} is a "
                    f"{type(scored).__name__}, not a NodeWithScore"
                )
        items: list[Item] = []
        owners: list[int] = []
        for index, scored in enumerate(nodes):
            for item in node_items(scored.node, query, self.allow_unscreened):
                items.append(item)
                owners.append(index)
        return items, owners

    def _apply(
        self, nodes: Sequence[NodeWithScore], owners: Sequence[int], verdicts: Sequence[Verdict]
    ) -> list[NodeWithScore]:
        policy = self.guard.policy_for(self.agent)
        # per node, the strongest action over all its parts (text, image): a flagged text
        # must never let a dropped image through
        per_node: dict[int, tuple[Verdict, NodeAction]] = {}
        for owner, verdict in zip(owners, verdicts, strict=True):
            if verdict.allowed:
                continue
            action = self._action_for(policy, verdict)
            held = per_node.get(owner)
            if held is None or stronger(action, held[1]):
                per_node[owner] = (verdict, action)
        if self.on_verdict is not None:
            for owner, verdict in zip(owners, verdicts, strict=True):
                self.on_verdict(nodes[owner], verdict)
        out: list[NodeWithScore] = []
        for index, scored in enumerate(nodes):
            if index not in per_node:
                out.append(scored)  # judged safe, or nothing to judge (empty node)
                continue
            verdict, action = per_node[index]
            if action == "redact":
                copy = redacted(
                    scored.node, verdict, self.metadata_key, self._record(verdict, "redact")
                )
                if copy is not None:  # None: a field it cannot clear, so dropped
                    out.append(NodeWithScore(node=copy, score=scored.score))
            elif action == "flag":
                out.append(
                    NodeWithScore(
                        node=self._flagged(scored.node, verdict, action), score=scored.score
                    )
                )
        return out

    def _action_for(self, policy: Policy, verdict: Verdict) -> NodeAction:
        # the policy's own action for this surface wins over the postprocessor's default;
        # a node is never "blocked" (there is nothing to raise to), it is dropped, and so is
        # one whose flag came from an error: unjudged content never reaches the LLM
        explicit = policy.actions.get(verdict.surface) is not None
        decided = decision(verdict, None if explicit else self.action)
        return decided if decided in ("redact", "flag") else "drop"

    def _flagged(self, node: BaseNode, verdict: Verdict, action: NodeAction) -> BaseNode:
        copy = node.model_copy()
        copy.metadata = {**node.metadata, self.metadata_key: self._record(verdict, action)}
        copy.excluded_llm_metadata_keys = _plus(node.excluded_llm_metadata_keys, self.metadata_key)
        copy.excluded_embed_metadata_keys = _plus(
            node.excluded_embed_metadata_keys, self.metadata_key
        )
        return copy

    def _record(self, verdict: Verdict, action: NodeAction) -> dict[str, Any]:
        return {**verdict.to_dict(), "decision": action}  # what was done to this node


def _plus(keys: Sequence[str], key: str) -> list[str]:
    return [*keys, key] if key not in keys else list(keys)
