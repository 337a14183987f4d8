"""guard-core: Nemotron content-safety guards for every step of an LLM agent loop.

>>> from guard_core import Guard, Policy
>>> from guard_core.testing import ScriptedBackend
>>> guard = Guard(ScriptedBackend(), Policy(name="support"))
>>> guard.check("hello").allowed
True
"""

from __future__ import annotations

from guard_core.content import (
    AssistantMessage,
    Image,
    RetrievedChunk,
    ToolCall,
    ToolResult,
    UserMessage,
)
from guard_core.errors import GuardError, GuardViolation
from guard_core.guard import Guard
from guard_core.policy import CustomPolicy, Policy, PolicySet
from guard_core.screening import Windowing
from guard_core.verdict import Verdict

__all__ = [
    "AssistantMessage",
    "CustomPolicy",
    "Guard",
    "GuardError",
    "GuardViolation",
    "Image",
    "Policy",
    "PolicySet",
    "RetrievedChunk",
    "ToolCall",
    "ToolResult",
    "UserMessage",
    "Verdict",
    "Windowing",
]

__version__ = "0.1.0"
