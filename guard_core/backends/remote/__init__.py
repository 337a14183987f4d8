"""The remote backend: any OpenAI-compatible endpoint (NIM, OpenRouter, vLLM, self-hosted).

:class:`RemoteBackend` is the public name; the modules beside it are its parts: ``sdk``
(which openai SDK and HTTP package are installed), ``wire`` (request bodies and answers,
chat and batched ``/v1/completions``), ``batched`` (that route, asking for ``logprobs``),
``logprobs`` (``Verdict.score`` from the label's log-probabilities), ``transport`` (retries,
rate limit, error hints, secret redaction) and ``probe`` (does an endpoint speak the model's
format). Importing this package does not import openai; building a backend does.
"""

from __future__ import annotations

from guard_core.backends.remote.backend import RemoteBackend
from guard_core.backends.remote.probe import ProbeResult

__all__ = ["ProbeResult", "RemoteBackend"]
