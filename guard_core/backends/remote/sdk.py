"""Which ``openai`` SDK is installed, asked through its public names only.

openai 3.x is built on ``httpx2``, 2.x on ``httpx``; both are supported (LlamaIndex's OpenAI
LLM still caps openai below 3). The HTTP package is found by identity, not by version
number: the one whose ``Timeout`` is the SDK's own ``openai.Timeout``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from guard_core.errors import ConfigurationError, MissingDependencyError

__all__ = ["HTTP_PACKAGES", "http_library"]

HTTP_PACKAGES = ("httpx2", "httpx")  # newest first
_FOUND: list[ModuleType] = []


def http_library() -> ModuleType:
    """The HTTP package (``httpx2`` or ``httpx``) the installed ``openai`` SDK uses."""
    if _FOUND:
        return _FOUND[0]
    try:
        import openai
    except ImportError:
        raise MissingDependencyError("openai", "openai") from None
    for name in HTTP_PACKAGES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if getattr(module, "Timeout", None) is openai.Timeout:
            _FOUND.append(module)
            return module
    raise ConfigurationError(
        f"openai {openai.__version__} is built on neither httpx2 nor httpx; guard-core "
        "supports openai>=1.108,<4: pip install 'guard-core-agents[openai]'"
    )
