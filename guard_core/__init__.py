"""guard-core: Nemotron content-safety guards for every step of an LLM agent loop.

Every name a user touches is here: the guard, policies, items, verdicts, every error, the
backends and their selection, the audit sinks and the verdict cache. Backends and audit are
imported on first use (``import guard_core`` needs neither openai nor torch). Test fakes
live in :mod:`guard_core.testing`, the adapters in ``guard_core.integrations.<framework>``,
the kit for writing an adapter in :mod:`guard_core.adapters`.

>>> from guard_core import Guard, Policy
>>> from guard_core.testing import ScriptedBackend
>>> guard = Guard(ScriptedBackend(), Policy(name="support"))
>>> guard.check("hello").allowed
True
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from guard_core._distribution import check_distribution

# First: if another distribution owns guard_core, the modules below may be its files.
check_distribution()

from guard_core.content import (
    AssistantMessage,
    Image,
    Item,
    RetrievedChunk,
    Surface,
    ToolCall,
    ToolResult,
    UserMessage,
)
from guard_core.errors import (
    BackendError,
    BackendHTTPError,
    BackendUnavailable,
    ConfigurationError,
    ContentError,
    DistributionConflictError,
    GuardError,
    GuardViolation,
    MissingDependencyError,
    ModelOutputError,
    PolicyError,
)
from guard_core.guard import Guard
from guard_core.policy import Action, CustomPolicy, Mode, OnError, Policy, PolicySet
from guard_core.screening import Windowing
from guard_core.verdict import Decision, PolicyRef, Verdict

if TYPE_CHECKING:
    from guard_core.audit import AuditLog, AuditSink, MemoryAudit
    from guard_core.backends import (
        Backend,
        LocalBackend,
        ProbeResult,
        RemoteBackend,
        describe_setup,
        select_backend,
    )
    from guard_core.cache import VerdictCache

__all__ = [
    "Action",
    "AssistantMessage",
    "AuditLog",
    "AuditSink",
    "Backend",
    "BackendError",
    "BackendHTTPError",
    "BackendUnavailable",
    "ConfigurationError",
    "ContentError",
    "CustomPolicy",
    "Decision",
    "DistributionConflictError",
    "Guard",
    "GuardError",
    "GuardViolation",
    "Image",
    "Item",
    "LocalBackend",
    "MemoryAudit",
    "MissingDependencyError",
    "Mode",
    "ModelOutputError",
    "OnError",
    "Policy",
    "PolicyError",
    "PolicyRef",
    "PolicySet",
    "ProbeResult",
    "RemoteBackend",
    "RetrievedChunk",
    "Surface",
    "ToolCall",
    "ToolResult",
    "UserMessage",
    "Verdict",
    "VerdictCache",
    "Windowing",
    "describe_setup",
    "select_backend",
]

__version__ = "0.1.0"

_LAZY = {
    "AuditLog": "guard_core.audit",
    "AuditSink": "guard_core.audit",
    "MemoryAudit": "guard_core.audit",
    "Backend": "guard_core.backends",
    "LocalBackend": "guard_core.backends",
    "ProbeResult": "guard_core.backends",
    "RemoteBackend": "guard_core.backends",
    "describe_setup": "guard_core.backends",
    "select_backend": "guard_core.backends",
    "VerdictCache": "guard_core.cache",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'guard_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
