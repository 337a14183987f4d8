"""LlamaIndex integration: guard retrieved nodes, tools and agents.

``pip install 'guard-core-agents[llamaindex]'``. No policy logic lives here: LlamaIndex objects
become guard-core items, the :class:`~guard_core.Guard` judges them, and the verdict becomes
a LlamaIndex action (drop / redact / flag a node, an error ``ToolOutput``, a refusal).

>>> from guard_core.integrations.llama_index import GuardNodePostprocessor, guard_tools

- :class:`GuardNodePostprocessor`: screens retrieved nodes (text and images) at once.
- :func:`guard_tools`: screens each tool call before it runs and its output after.
- :class:`GuardedFunctionAgent`: also screens the agent's input, answers and tool calls
  before dispatch, under its own policy (per-agent policies in ``AgentWorkflow``).
"""

from __future__ import annotations

from guard_core.errors import MissingDependencyError

try:
    import llama_index.core  # noqa: F401
except ImportError:
    raise MissingDependencyError("llama-index-core", "llamaindex") from None

from .agent import GuardedFunctionAgent
from .openai_llm import check_openai_llm, guard_openai_llm
from .postprocessor import GuardNodePostprocessor, NodeAction
from .tools import GuardedFunctionTool, GuardedTool, guard_tool, guard_tools

__all__ = [
    "GuardNodePostprocessor",
    "GuardedFunctionAgent",
    "GuardedFunctionTool",
    "GuardedTool",
    "NodeAction",
    "check_openai_llm",
    "guard_openai_llm",
    "guard_tool",
    "guard_tools",
]
