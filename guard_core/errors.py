"""Every error guard-core raises, in one tree.

::

    GuardError                      base of everything below
    ├── ConfigurationError          a setting that cannot work (unknown model family, a mode
    │   │                           the model does not support, an unknown agent name)
    │   ├── PolicyError             a bad policy object or policy file (names file, key, value)
    │   ├── MissingDependencyError  an optional extra is not installed (names the pip command)
    │   └── DistributionConflictError
    │                               another installed distribution owns ``guard_core`` too
    │                               (raised by ``import guard_core``; names both and the fix)
    ├── ContentError                an item that cannot be screened (wrong type, bad image,
    │                               nesting too deep, too large); also a ``ValueError``
    ├── BackendError                the guard model could not be asked
    │   ├── BackendUnavailable      connection refused, DNS, timeout, cancelled mid-request
    │   └── BackendHTTPError        an HTTP status (401, 402, 404, 429, 5xx) after retries
    ├── ModelOutputError            the model answered, but not in its format (fail closed)
    └── GuardViolation              content was blocked; carries the :class:`Verdict`.
                                    Raised only by helpers asked to raise
                                    (``Verdict.raise_for_block()``, adapters with
                                    ``on_block="raise"``), never by ``Guard.check``.

``Guard.check`` never raises for backend or model-output failures either: they become a
verdict with ``error`` set, ``allowed=False`` (or ``True`` only under ``on_error="allow"``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from guard_core._distribution import pip_install

if TYPE_CHECKING:
    from guard_core.verdict import Verdict

__all__ = [
    "BackendError",
    "BackendHTTPError",
    "BackendUnavailable",
    "ConfigurationError",
    "ContentError",
    "DistributionConflictError",
    "GuardError",
    "GuardViolation",
    "MissingDependencyError",
    "ModelOutputError",
    "PolicyError",
]


class GuardError(Exception):
    """Base class of every guard-core error."""


class ConfigurationError(GuardError):
    """A setting that cannot work; the message says which and what to do."""


class PolicyError(ConfigurationError):
    """A policy object or policy file is invalid."""


class MissingDependencyError(ConfigurationError, ImportError):
    """An optional extra is missing: ``pip install 'guard-core-agents[EXTRA]'``."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(f"{package} is not installed; install it with: {pip_install(extra)}")
        self.package = package
        self.extra = extra


class DistributionConflictError(ConfigurationError, ImportError):
    """Another installed distribution (the index's ``guard-core``) also owns ``guard_core``."""


class ContentError(GuardError, ValueError):
    """An item cannot be screened as given."""


class BackendError(GuardError):
    """The guard model could not be asked."""


class BackendUnavailable(BackendError):
    """The endpoint could not be reached in time (refused, DNS, timeout, cancelled).

    ``retryable`` is True where trying again may help (a refused or reset connection).
    """

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class BackendHTTPError(BackendError):
    """The endpoint answered with an error status."""

    def __init__(self, message: str, *, status: int, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class ModelOutputError(GuardError):
    """The guard model's answer is not in its format: never read as a verdict."""


class GuardViolation(GuardError):
    """Content was blocked. ``violation.verdict`` says why.

    Example::

        try:
            guard.check("...").raise_for_block()
        except GuardViolation as exc:
            print(exc.verdict.categories)
    """

    def __init__(self, verdict: Verdict) -> None:
        self.verdict = verdict
        super().__init__(verdict.reason)

    def __reduce__(self) -> tuple[type[GuardViolation], tuple[Verdict]]:
        return (type(self), (self.verdict,))
