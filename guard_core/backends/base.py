"""The backend contract: turn guard requests into completions; sync and async.

A backend answers a whole batch at once (the remote one with bounded concurrency, the local
one in batched forward passes) and never raises for one bad request: each slot of the
result is a :class:`Completion` or the :class:`GuardError` that request met.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from guard_core.errors import GuardError
from guard_core.models import Completion, GuardRequest, ModelFamily

__all__ = ["Backend", "Outcome"]

Outcome = Completion | GuardError


class Backend(ABC):
    """Talks to one guard model. Subclasses set ``model`` and ``family``."""

    model: str
    family: ModelFamily

    @abstractmethod
    def classify(self, requests: Sequence[GuardRequest]) -> list[Outcome]:
        """Answer every request; one outcome per request, in order."""

    @abstractmethod
    async def aclassify(self, requests: Sequence[GuardRequest]) -> list[Outcome]:
        """Async :meth:`classify`."""

    def describe(self) -> str:
        """One line saying what this backend is (for banners and logs; no secrets)."""
        return f"{type(self).__name__}(model={self.model!r})"

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections or memory."""

    async def aclose(self) -> None:
        self.close()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
