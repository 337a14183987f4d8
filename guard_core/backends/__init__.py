"""Backends: where the guard model runs.

- :class:`RemoteBackend`: any OpenAI-compatible endpoint (NIM, OpenRouter, vLLM); extra ``openai``.
- :class:`LocalBackend`: transformers + torch in this process; extra ``local``.
- :func:`select_backend`: the backend the environment asks for (``autoselect``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from guard_core.backends.base import Backend, Outcome

if TYPE_CHECKING:
    from guard_core.backends.autoselect import describe_setup, select_backend
    from guard_core.backends.local import LocalBackend
    from guard_core.backends.remote import RemoteBackend
    from guard_core.backends.remote.probe import ProbeResult

__all__ = [
    "Backend",
    "LocalBackend",
    "Outcome",
    "ProbeResult",
    "RemoteBackend",
    "describe_setup",
    "select_backend",
]


def __getattr__(name: str) -> Any:
    # Imported on first use so that `import guard_core` needs neither openai nor torch.
    if name == "RemoteBackend":
        from guard_core.backends import remote

        return remote.RemoteBackend
    if name == "ProbeResult":
        from guard_core.backends.remote import probe

        return probe.ProbeResult
    if name == "LocalBackend":
        from guard_core.backends import local

        return local.LocalBackend
    if name in ("select_backend", "describe_setup"):
        from guard_core.backends import autoselect

        return getattr(autoselect, name)
    raise AttributeError(f"module 'guard_core.backends' has no attribute {name!r}")
