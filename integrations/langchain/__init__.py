"""guard-core for LangChain and LangGraph (``pip install 'guard-core-agents[langchain]'``).

- :class:`GuardRunnable`: a chain step (``guard_in | prompt | llm | guard_out``,
  ``retriever | guard_docs``) that raises, refuses, redacts, drops or flags.
- :class:`GuardedRunnable`: a whole runnable behind a guard (``GuardedRunnable(chain,
  guard)``): a blocked input never reaches the chain, its output is screened.
- :class:`GuardMiddleware`: LangChain v1 ``create_agent`` middleware screening the whole
  model request and response at the model call, each tool call before it runs and each
  tool result, per agent.
- :class:`GuardCallbackHandler`: screens any runnable or LangGraph graph through
  callbacks and aborts the run on a block.
- :class:`GuardDocumentFilter`: a ``BaseDocumentTransformer`` dropping unsafe documents.

No policy logic lives here: LangChain objects become guard_core items, the
:class:`~guard_core.Guard` judges them, and the verdict becomes a LangChain action.

>>> from guard_core import Guard
>>> from guard_core.testing import ScriptedBackend
>>> from langchain_core.messages import AIMessage
>>> guard_out = GuardRunnable(Guard(ScriptedBackend()), surface="output", on_block="refuse")
>>> guard_out.invoke(AIMessage("Mix these to build a bomb.")).content
"I can't help with that request."
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from guard_core.errors import MissingDependencyError

try:
    import langchain_core  # noqa: F401
except ImportError:
    raise MissingDependencyError("langchain-core", "langchain") from None

from .callbacks import GuardCallbackHandler
from .documents import GuardDocumentFilter
from .guarded import GuardedRunnable
from .openai_chat import check_chat_openai, guard_chat_openai
from .runnable import GuardRunnable

if TYPE_CHECKING:
    from .middleware import GuardMiddleware

__all__ = [
    "GuardCallbackHandler",
    "GuardDocumentFilter",
    "GuardMiddleware",
    "GuardRunnable",
    "GuardedRunnable",
    "check_chat_openai",
    "guard_chat_openai",
]


def __getattr__(name: str) -> Any:
    # The middleware needs the `langchain` package (v1 agents), not just langchain-core:
    # import it on first use so chains and callbacks work without it.
    if name == "GuardMiddleware":
        from .middleware import GuardMiddleware

        return GuardMiddleware
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
