"""Guard the OpenAI Python client: ``guard_openai(client, guard)``.

The wrapped client behaves like the original; ``chat.completions.create`` / ``parse`` /
``stream``, ``responses.create`` / ``parse`` / ``stream`` and legacy ``completions.create``
are screened:

- **before sending**, the body the SDK sends (``extra_body`` merged over the arguments, as
  the SDK does), for the whole history: each user message (text and every ``image_url`` /
  ``input_image`` part; ``data:`` URLs are decoded, remote URLs go to the guard as URLs and
  are never fetched here), each tool result (``role="tool"`` / ``function_call_output``)
  and, with ``screen_system=True``, the system / developer prompt and ``instructions``;
  every other string of the body (assistant turns, tool definitions, unknown parts and
  fields) is screened as text, and what cannot be read is refused. Every call screens all
  of it, not only the new turn; the guard's cache answers the repeats. A blocked request
  is never sent. Legacy completions: each prompt string and ``suffix`` as user input (a
  prompt of token ids is refused), the rest as text.
- **after receiving**, before the caller can act on it: the assistant text, refusal and
  audio transcript, each tool call (``function.arguments`` is parsed; arguments that are
  not a JSON object are an error and block, fail closed), every Responses output item, each
  legacy completion choice's text (against its prompt), and every other string of the
  answer or of each stream chunk / event (``logprobs``, ``model_extra`` too).
- **server-side state**: a blocked Responses answer's ids and conversation are remembered;
  chaining from them (``previous_response_id``, ``item_reference``, ``conversation=``,
  ``responses.retrieve``) is refused before anything is sent.

A block raises :class:`~guard_core.GuardViolation` (``on_block="raise"``; not an SDK error,
so the SDK's retries never repeat it) or returns a refusal of the normal type
(``on_block="refuse"``), the shape frameworks treat as a refusal: a ``ChatCompletion`` whose
message carries the text as ``content`` and ``refusal`` with
``finish_reason="content_filter"``, a completed ``Response`` whose message has an
``output_text`` and a ``refusal`` part, a ``Completion`` whose choices carry the text with
``finish_reason="content_filter"`` and no ``logprobs``, or a stream of those (the Agents
SDK raises its ``ModelRefusalError`` for the first two, which ``error_handlers`` answer).

``with_raw_response`` and ``with_streaming_response`` behave like the SDK's (sync and async:
``with_streaming_response.create`` returns a context manager, never a coroutine); their
``parse()`` is screened like the plain call and returns a guarded stream for
``stream=True`` or the refusal. The HTTP body, judged only as parsed, is withheld
(``read()``, ``text``, ``json()``, ``iter_*``, ``http_response`` raise ``Withheld``, a
``ContentError`` and ``AttributeError``); headers, status and request id are there.
A passed non-streamed ``with_raw_response`` answer is the SDK's own object.

Per-agent policy: ``agent=`` here, or per call ``extra_body={"guard_agent": "planner"}``
(removed before the request goes out), which may replace ``agent=`` only with
``allow_agent_override=True``.

Example::

    from openai import OpenAI
    from guard_core.integrations.openai import guard_openai

    client = guard_openai(OpenAI(), guard, agent="support")
    answer = client.chat.completions.create(model="gpt-4o-mini", messages=[...])

Also guarded: ``client.beta.chat``, ``with_raw_response``, ``with_streaming_response`` and
``with_options(...)`` copies. Refused with a clear error rather than passed unscreened:
``stream()`` on ``with_raw_response`` / ``with_streaming_response``, ``client.beta.responses``
model calls, ``responses.stream(response_id=...)``, realtime / websocket sessions
(``client.realtime``) and every other resource that reaches a model. Forwarded unchanged and
**not screened**: the resources of ``client.PASSED_THROUGH`` (``embeddings``, files,
``conversations``, ...), ``retrieve`` of stored answers, and any call made on the unwrapped
client.
"""

from __future__ import annotations

from typing import Any, TypeVar

from guard_core.adapters.boundary import AGENT_KEY
from guard_core.adapters.decisions import Refusal, default_refusal
from guard_core.adapters.options import (
    ON_BLOCK,
    OnBlock,
    Streaming,
    one_of,
    refusal_option,
    renamed,
    require_guard,
    stream_options,
)
from guard_core.errors import ConfigurationError, MissingDependencyError
from guard_core.guard import Guard

try:
    import openai
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise MissingDependencyError("openai", "openai") from exc

from ._screen import GuardSettings, OnVerdict, Options
from .client import AsyncGuardedOpenAI, GuardedOpenAI, wrap
from .streams import AsyncGuardedStream, GuardedStream

__all__ = [
    "AGENT_KEY",
    "AsyncGuardedOpenAI",
    "AsyncGuardedStream",
    "GuardSettings",
    "GuardedOpenAI",
    "GuardedStream",
    "guard_openai",
]

_RENAMED = {
    "stream_mode": "streaming",
    "screen_every": "stream_chars",
    "screen_context": "stream_context",
}
_Client = TypeVar("_Client", bound="openai.OpenAI | openai.AsyncOpenAI")


def guard_openai(
    client: _Client,
    guard: Guard,
    agent: str | None = None,
    on_block: OnBlock = "raise",
    *,
    screen_system: bool = False,
    streaming: Streaming = "buffer",
    stream_chars: int = 400,
    stream_context: int | None = None,
    refusal: Refusal = default_refusal,
    on_verdict: OnVerdict | None = None,
    allow_agent_override: bool = False,
    **deprecated: Any,
) -> _Client:
    """Wrap an ``OpenAI`` / ``AsyncOpenAI`` (or Azure) client so its model calls are screened.

    Args:
        client: the SDK client; it is not modified, and calls made on it directly are not
            screened.
        guard: the :class:`~guard_core.Guard` that judges.
        agent: whose policy applies. A call may name another with
            ``extra_body={"guard_agent": ...}`` only when no ``agent`` is given here or
            ``allow_agent_override=True``; otherwise such a call is refused
            (:class:`~guard_core.errors.ContentError`), naming this agent again is fine.
        on_block: ``"raise"`` :class:`~guard_core.GuardViolation` or ``"refuse"`` with a
            refusal answer of the normal type.
        screen_system: also screen system / developer prompts and ``instructions``.
        streaming: ``"buffer"`` screens a stream's whole answer before releasing any chunk;
            ``"incremental"`` releases text in steps of ``stream_chars`` characters, each
            step once its new text, with ``stream_context`` characters before it, passed;
            the whole answer is still screened at the end. It can only abort: text released
            before a later step is blocked stays released. Tool calls are held for the final
            screening in both modes (see ``streams``).
        stream_chars: how much new text each step of an incremental stream screens.
        stream_context: how many characters before a step's new text that step screens too
            (default: twice ``stream_chars``, at least the guard's
            ``Windowing.overlap_chars``, 1,000 by default): a passage that long is seen whole
            wherever the steps split it, and each step screens a bounded amount, so a stream
            costs guard work linear in its length.
        refusal: the refusal text, or a function of the blocking verdict.
        on_verdict: called with ``(item, verdict)`` for every screening (item is None when
            the content could not be turned into an item; the verdict says why).
        allow_agent_override: let a call's ``guard_agent`` replace ``agent``.
        deprecated: the old names ``stream_mode``, ``screen_every`` and ``screen_context``
            (one release, with a ``DeprecationWarning``): every adapter now says
            ``streaming``, ``stream_chars``, ``stream_context``.

    Policy actions: ``flag`` lets content pass (reported to ``on_verdict`` and the audit
    log); ``redact`` / ``drop`` on a tool result replaces it with a notice and the request
    goes on; any other blocked verdict blocks. The return value is a
    :class:`GuardedOpenAI` / :class:`AsyncGuardedOpenAI` proxy, typed as the client it wraps.

    >>> client = guard_openai(OpenAI(base_url=url, api_key="k"), guard)  # doctest: +SKIP
    """
    if isinstance(client, GuardedOpenAI):
        raise ConfigurationError(
            "this client is already guarded; wrap client.unwrapped to guard it differently"
        )
    guard = require_guard("guard_openai", guard)
    settings = renamed(
        "guard_openai",
        deprecated,
        _RENAMED,
        {"streaming": streaming, "stream_chars": stream_chars, "stream_context": stream_context},
        defaults={"streaming": "buffer", "stream_chars": 400, "stream_context": None},
    )
    stream = stream_options(
        "guard_openai",
        settings["streaming"],
        settings["stream_chars"],
        settings["stream_context"],
        guard.windowing,
    )
    options = Options(
        agent=agent,
        on_block=one_of("guard_openai", "on_block", on_block, ON_BLOCK),
        screen_system=bool(screen_system),
        streaming=stream.streaming,
        stream_chars=stream.stream_chars,
        stream_context=stream.stream_context,
        refusal=refusal_option("guard_openai", refusal),
        on_verdict=on_verdict,
        allow_agent_override=bool(allow_agent_override),
    )
    guard.policy_for(agent)  # an unknown agent fails here, not on the first call
    if isinstance(client, openai.AsyncOpenAI):
        wrapped: Any = wrap(client, guard, options, is_async=True)
    elif isinstance(client, openai.OpenAI):
        wrapped = wrap(client, guard, options, is_async=False)
    else:
        raise ConfigurationError(
            f"guard_openai wraps an openai.OpenAI or AsyncOpenAI client (Azure too), "
            f"got {type(client).__name__}"
        )
    return wrapped  # type: ignore[no-any-return]
