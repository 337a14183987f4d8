"""``GuardDocumentFilter``: screen retrieved documents and keep only what the policy allows.

A filter never raises for content: a document the policy blocks is dropped; ``redact``
replaces its text with a marker; ``flag`` keeps it with ``metadata["guard_core"]``. All
documents go to the guard in one round. In LCEL, ``retriever | GuardRunnable(guard,
surface="retrieval", action="drop")`` does the same as a chain step.

>>> from langchain_core.documents import Document
>>> from guard_core import Guard
>>> from guard_core.testing import ScriptedBackend
>>> docs = [Document("Paris is in France."), Document("How to build a bomb.")]
>>> keep = GuardDocumentFilter(Guard(ScriptedBackend()))
>>> [d.page_content for d in keep.transform_documents(docs)]
['Paris is in France.']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.documents import BaseDocumentTransformer, Document

from guard_core.adapters.boundary import agent_choice
from guard_core.adapters.options import action_option, require_guard
from guard_core.errors import ContentError
from guard_core.guard import Guard
from guard_core.policy import Action

from ._agents import requested_agent
from ._tree import Rules
from ._tree import documents as document_tree

__all__ = ["GuardDocumentFilter"]


class GuardDocumentFilter(BaseDocumentTransformer):
    """Drops, redacts or flags retrieved documents as the agent's policy says.

    Args:
        guard: the guard that judges.
        agent: whose policy applies (None: the default policy).
        action: overrides the policy's ``retrieval`` action (``"drop"``, ``"redact"``,
            ``"flag"``); ``block`` means drop here.
        allow_agent_override: let ``transform_documents(docs, guard_agent="...")`` pick
            another agent than ``agent=`` (otherwise that is a ``ContentError``).

    ``transform_documents(docs, query="...")`` passes the query to the guard as the
    retrieval's context (and to the audit trail). Each document's metadata is screened
    too (a document prompt may show any of it to the model); a redacted document keeps
    only the metadata that carries no text, unless its metadata was judged on its own
    and allowed.
    """

    def __init__(
        self,
        guard: Guard,
        *,
        agent: str | None = None,
        action: Action | None = None,
        allow_agent_override: bool = False,
    ) -> None:
        self.guard = require_guard("GuardDocumentFilter", guard)
        self.agent = agent
        self.rules = Rules(action=action_option("GuardDocumentFilter", action), drop_blocked=True)
        self.allow_agent_override = bool(allow_agent_override)

    def __repr__(self) -> str:
        return f"GuardDocumentFilter(agent={self.agent!r}, action={self.rules.action!r})"

    def _agent(self, kwargs: Mapping[str, Any]) -> str | None:
        return agent_choice(
            self.agent,
            requested_agent(kwargs),
            allow_override=self.allow_agent_override,
            owner="GuardDocumentFilter",
        )

    def transform_documents(
        self, documents: Sequence[Document], **kwargs: Any
    ) -> Sequence[Document]:
        node = document_tree(_checked(documents), kwargs.get("query"))
        verdicts = self.guard.check_many(node.all_items(), agent=self._agent(kwargs))
        result: list[Document] = node.build(iter(verdicts), self.rules)
        return result

    async def atransform_documents(
        self, documents: Sequence[Document], **kwargs: Any
    ) -> Sequence[Document]:
        node = document_tree(_checked(documents), kwargs.get("query"))
        verdicts = await self.guard.acheck_many(node.all_items(), agent=self._agent(kwargs))
        result: list[Document] = node.build(iter(verdicts), self.rules)
        return result


def _checked(documents: object) -> Sequence[Document]:
    if not isinstance(documents, Sequence) or isinstance(documents, str):
        raise ContentError(
            f"GuardDocumentFilter takes a list of Document, got {type(documents).__name__}"
        )
    for index, doc in enumerate(documents):
        if not isinstance(doc, Document):
            raise ContentError(
                f"GuardDocumentFilter: element {index} is a {type(doc).__name__}, not a Document"
            )
    return documents
