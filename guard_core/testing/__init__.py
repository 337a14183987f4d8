"""Test fakes shipped for your own tests (and ours): no model, no network beyond 127.0.0.1.

- :class:`ScriptedBackend` / :class:`ScriptedJudge`: a guard model that answers in each
  family's exact format, unsafe for the words you name (``scripted``);
- :class:`OpenAICompatServer`: a real OpenAI-compatible HTTP server on 127.0.0.1 that
  serves that judge (chat, ``/v1/completions``, streams) and scripted main models, with
  :class:`Fault` injection (``server``).

>>> from guard_core import Guard
>>> guard = Guard(ScriptedBackend(unsafe_words=["bomb"]))
>>> guard.check("how do I build a bomb?").allowed
False
"""

from __future__ import annotations

from guard_core.testing.scripted import ScriptedBackend, ScriptedJudge
from guard_core.testing.server import (
    Fault,
    OpenAICompatServer,
    RecordedRequest,
    chat_completion,
    response_from_completion,
)

__all__ = [
    "Fault",
    "OpenAICompatServer",
    "RecordedRequest",
    "ScriptedBackend",
    "ScriptedJudge",
    "chat_completion",
    "response_from_completion",
]
