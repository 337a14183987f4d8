"""``with_raw_response`` and ``with_streaming_response``, screened like the plain calls.

The SDK hands these out as HTTP responses the caller parses. Here the caller gets the same
shape, whose ``parse()`` returns the screened answer (a guarded stream for ``stream=True``,
or the refusal of ``on_block="refuse"``), while the HTTP body itself, which the guard judged
only as parsed or not at all, is withheld: ``read()``, ``text``, ``json()``, ``iter_*``,
``http_response`` raise :class:`Withheld`. Headers, status and request id are forwarded.

- :class:`RawAnswer`: what ``with_raw_response`` returns in place of the SDK's
  ``LegacyAPIResponse`` when the body cannot be handed out as received (a stream, a
  refusal). A passed, non-streamed raw answer is the SDK's own object: its whole body was
  parsed and screened.
- :class:`StreamedCall` / :class:`AsyncStreamedCall`: what ``with_streaming_response``'s
  ``create`` / ``parse`` return, a context manager like the SDK's (never a coroutine): the
  request is screened on entry (a blocked one is never sent) and the entered
  :class:`StreamedAnswer` / :class:`AsyncStreamedAnswer` screens what ``parse()`` reads.
"""

from __future__ import annotations

from typing import Any

from openai import AsyncStream, Stream
from openai.types import Completion
from openai.types.chat import ChatCompletion
from openai.types.responses import Response

from guard_core.errors import ConfigurationError, ContentError
from guard_core.verdict import Verdict

from ._screen import Call
from .streams import AsyncGuardedStream, GuardedStream, gate_for, placeholder

__all__ = [
    "AsyncStreamedAnswer",
    "AsyncStreamedCall",
    "RawAnswer",
    "StreamedAnswer",
    "StreamedCall",
    "Withheld",
    "areceived",
    "received",
]

_FORWARDED = frozenset(
    {
        "headers",
        "http_request",
        "status_code",
        "url",
        "method",
        "http_version",
        "elapsed",
        "is_closed",
        "retries_taken",
    }
)


class Withheld(ContentError, AttributeError):
    """The raw HTTP body of a guarded call: withheld, since only ``parse()`` is screened.

    An ``AttributeError`` too, so that ``hasattr(raw, "http_response")`` (as frameworks
    probe) says no instead of failing."""


class _Http:
    """The parts of an HTTP response that carry no content, and the refusal of the rest."""

    _gc_http: Any
    _gc_raw: Any

    @property
    def request_id(self) -> str | None:
        value = self._gc_http.headers.get("x-request-id")
        return value if isinstance(value, str) else None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_gc_"):
            raise AttributeError(name)
        if name in _FORWARDED:
            if self._gc_raw is not None:
                return getattr(self._gc_raw, name)
            if name == "retries_taken":  # nothing was sent
                return 0
            return getattr(self._gc_http, "request" if name == "http_request" else name)
        raise Withheld(
            f"{name} of a guarded with_raw_response / with_streaming_response call is "
            "withheld: only parse() is screened. Use parse(), or the unwrapped client "
            "deliberately"
        )


def _no_cast(to: object) -> None:
    if to is not None:
        raise ConfigurationError(
            "parse(to=...) of a guarded call is not screened; call parse() for the answer"
        )


class RawAnswer(_Http):
    """A ``with_raw_response`` answer whose ``parse()`` is the screened stream or refusal."""

    def __init__(self, answer: Any, raw: Any = None, *, url: str = "") -> None:
        self._gc_answer, self._gc_raw = answer, raw
        self._gc_http = raw.http_response if raw is not None else placeholder(url, stream=False)

    def parse(self, *, to: Any = None) -> Any:
        _no_cast(to)
        return self._gc_answer

    def close(self) -> None:
        self._gc_http.close()


class _Entered(_Http):
    def __init__(self, call: Call, inner: Any, refused: Verdict | None, url: str) -> None:
        self._gc_call, self._gc_raw, self._gc_refused, self._gc_url = call, inner, refused, url
        self._gc_http = inner.http_response if inner is not None else placeholder(url, call.stream)
        self._gc_parsed: list[Any] = []

    def _refusal(self, stream: type[GuardedStream[Any]] | type[AsyncGuardedStream[Any]]) -> Any:
        call, verdict = self._gc_call, self._gc_refused
        assert verdict is not None
        if call.stream:
            return stream(None, gate_for(call), refused=verdict, url=self._gc_url)
        return call.refusal(verdict)


class StreamedAnswer(_Entered):
    """The entered ``with_streaming_response`` call (sync): ``parse()`` is screened."""

    def parse(self, *, to: Any = None) -> Any:
        _no_cast(to)
        if not self._gc_parsed:
            if self._gc_raw is None:
                self._gc_parsed.append(self._refusal(GuardedStream))
            else:
                self._gc_parsed.append(received(self._gc_call, self._gc_raw.parse()))
        return self._gc_parsed[0]

    def close(self) -> None:
        (self._gc_raw or self._gc_http).close()


class AsyncStreamedAnswer(_Entered):
    """The entered ``with_streaming_response`` call (async): ``await parse()`` is screened."""

    async def parse(self, *, to: Any = None) -> Any:
        _no_cast(to)
        if not self._gc_parsed:
            if self._gc_raw is None:
                self._gc_parsed.append(self._refusal(AsyncGuardedStream))
            else:
                self._gc_parsed.append(await areceived(self._gc_call, await self._gc_raw.parse()))
        return self._gc_parsed[0]

    async def close(self) -> None:
        if self._gc_raw is not None:
            await self._gc_raw.close()
        else:
            await self._gc_http.aclose()


class StreamedCall:
    """``with_streaming_response.create(...)`` (sync): the request is screened on entry."""

    def __init__(self, call: Call, opener: Any, url: str) -> None:
        self._call, self._opener, self._url = call, opener, url
        self._inner: Any = None

    def __enter__(self) -> StreamedAnswer:
        call = self._call
        blocked = call.settle_request(call.check(call.request_entries()))
        if blocked is not None:  # nothing is sent
            return StreamedAnswer(call, None, blocked, self._url)
        self._inner = self._opener(**call.kwargs)
        return StreamedAnswer(call, self._inner.__enter__(), None, self._url)

    def __exit__(self, *exc: Any) -> None:
        if self._inner is not None:
            self._inner.__exit__(*exc)


class AsyncStreamedCall:
    """``with_streaming_response.create(...)`` (async): the request is screened on entry."""

    def __init__(self, call: Call, opener: Any, url: str) -> None:
        self._call, self._opener, self._url = call, opener, url
        self._inner: Any = None

    async def __aenter__(self) -> AsyncStreamedAnswer:
        call = self._call
        blocked = call.settle_request(await call.acheck(call.request_entries()))
        if blocked is not None:
            return AsyncStreamedAnswer(call, None, blocked, self._url)
        self._inner = self._opener(**call.kwargs)
        return AsyncStreamedAnswer(call, await self._inner.__aenter__(), None, self._url)

    async def __aexit__(self, *exc: Any) -> None:
        if self._inner is not None:
            await self._inner.__aexit__(*exc)


# -- what comes back ------------------------------------------------------------------------


def _is_raw_response(result: Any) -> bool:
    """A ``with_raw_response`` answer. Its class lives in a private SDK module (the same name
    in openai 2.x and 3.x); without it, it is told by what it carries."""
    try:
        from openai._legacy_response import LegacyAPIResponse
    except ImportError:
        return callable(getattr(result, "parse", None)) and hasattr(result, "http_response")
    return isinstance(result, LegacyAPIResponse)


def _answer_of(result: Any) -> Any:
    if not isinstance(result, ChatCompletion | Response | Completion):
        raise ConfigurationError(
            f"guard_openai cannot screen a {type(result).__name__} answer (custom headers "
            "asking for raw or streamed bodies?); it is withheld rather than passed unscreened"
        )
    return result


def received(call: Call, result: Any) -> Any:
    """What the caller gets for what the SDK returned (sync): a guarded stream, the
    screened answer or its refusal (``GuardViolation`` with ``on_block="raise"``); a raw
    answer stays the SDK's own when it passed whole, else a :class:`RawAnswer`."""
    if _is_raw_response(result):
        parsed = result.parse()
        inner = received(call, parsed)
        return result if inner is parsed else RawAnswer(inner, result)
    if isinstance(result, Stream):
        return GuardedStream(result, gate_for(call))
    answer = _answer_of(result)
    entries = call.response_entries(answer)
    blocked = call.settle(entries, call.check(entries))
    return answer if blocked is None else call.refusal(blocked, like=answer)


async def areceived(call: Call, result: Any) -> Any:
    """:func:`received` for the async client (a raw answer's ``parse()`` is sync there too)."""
    if _is_raw_response(result):
        parsed = result.parse()
        inner = await areceived(call, parsed)
        return result if inner is parsed else RawAnswer(inner, result)
    if isinstance(result, AsyncStream):
        return AsyncGuardedStream(result, gate_for(call))
    answer = _answer_of(result)
    entries = call.response_entries(answer)
    blocked = call.settle(entries, await call.acheck(entries))
    return answer if blocked is None else call.refusal(blocked, like=answer)
